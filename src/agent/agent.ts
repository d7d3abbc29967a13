import type {ProxyConfig} from '../shared/proxy-connect.js'
import {CloseCodes, type AccessMode, type EventAckMessage, type Inventory} from '../protocol/agent/index.js'
import {Backoff} from './backoff.js'
import type {Clock, TimerHandle} from './clock.js'
import {ConnectionStateMachine, type ConnectionState} from './connection-state.js'
import type {AgentConfig, AgentFiles} from './data-dir.js'
import {LogRing} from './diagnostics/log-ring.js'
import {OutboxSender} from './outbox-sender.js'
import {EventRecorder} from './events.js'
import {handleAccessRequest, sweepAccessRequests} from './access-requests.js'
import {activeGrant} from './grants.js'
import {ping, RequestTable} from './handlers.js'
import {collectInventory, inventoryKey} from './inventory.js'
import type {UpdatesHttp} from './updates/http.js'
import {DeviceJobs} from './jobs/device-jobs.js'
import type {UploadApi} from './logs/upload-api.js'
import {effectiveMode, readPolicy} from './policy.js'
import {currentAccessMode} from './policy-expiry.js'
import {ControlSession, type SessionLog} from './session.js'
import {StatusKeeper, type AgentStatus} from './status-file.js'
import {TransportError, type Dialer} from './transport.js'
import {Witness} from './witness.js'
import type {DataLegDialer} from './tunnels/data-leg.js'
import {takeSessionEndRequest} from './tunnels/end-requests.js'
import {TunnelStreams} from './tunnels/streams.js'

export interface AgentLog extends SessionLog {
  error(obj: object, msg: string): void
}

export interface DeviceAgentOptions {
  config: AgentConfig
  files: AgentFiles
  dialer: Dialer
  clock: Clock
  log: AgentLog
  agentVersion: string
  /** Shown in status.json (the proxy URL without password), null when direct. */
  proxyDisplay: string | null
  random?: () => number
  /** Log uploads: a connection by the control channel's route (runtime.ts). Absent: logs jobs fail. */
  uploadApi?: () => UploadApi
  /** Software updates: a connection by the control channel's route (runtime.ts). Absent: update jobs fail. */
  updatesHttp?: () => UpdatesHttp
  /** Tunnel data legs: a connection by the control channel's route (runtime.ts). Absent: tunnels fail. */
  dataLeg?: DataLegDialer
  /** The current approval of an engineer for a port (approval-required mode). */
  grantFor?: (user: string, port: number) => Promise<unknown>
  /** For the server-reachability diagnostic. */
  serverCa?: string
  proxy?: ProxyConfig
  /** True when the identity (device key/certificate) or route (server, proxy) on disk changed: reconnect with it. */
  routeChanged?: () => Promise<boolean>
}

const STATUS_REFRESH_MS = 30_000

/**
 * The daemon: keeps one control channel up, forever. Each round dials, says hello, serves
 * requests until the link ends, then waits (full-jitter backoff; a slow fixed retry when
 * revoked) and dials again. Policy and the outbox are polled from disk so that local commands
 * (`tether agent access set`) reach a running agent without any listening socket.
 */
export class DeviceAgent {
  readonly machine: ConnectionStateMachine
  private readonly backoff: Backoff
  private readonly recorder: EventRecorder
  readonly jobs: DeviceJobs
  /** The latest signed checkpoint of the server's audit chain, kept and shown in every hello. */
  readonly witness: Witness
  /** Live tunnel streams through this device. */
  readonly tunnels: TunnelStreams
  /** The logger, with a copy of recent lines kept for the agent-log-tail diagnostic. */
  private readonly log: AgentLog
  private session?: ControlSession
  private waitTimer?: TimerHandle
  private wake?: () => void
  private pollTimer?: TimerHandle
  private readonly outbox: OutboxSender
  private mode: AccessMode = {mode: 'allow', until: null}
  private lastInventoryKey = ''
  private readonly statusKeeper: StatusKeeper
  private polling = false

  constructor(private readonly o: DeviceAgentOptions) {
    this.machine = new ConnectionStateMachine(o.clock)
    this.backoff = new Backoff({baseMs: o.config.backoff.baseMs, capMs: o.config.backoff.capMs, random: o.random})
    this.recorder = new EventRecorder(o.files, o.config.outboxMax)
    const ring = new LogRing()
    this.log = ring.wrap(o.log)
    this.outbox = new OutboxSender(this.recorder, this.log, (count) => (this.status.outboxPending = count))
    this.witness = new Witness(o.files, this.log, () => o.clock.now())
    this.jobs = new DeviceJobs({config: o.config, files: o.files, recorder: this.recorder, log: this.log, agentVersion: o.agentVersion, ring, uploadApi: o.uploadApi, updatesHttp: o.updatesHttp, clock: o.clock, serverCa: o.serverCa, proxy: o.proxy})
    this.tunnels = new TunnelStreams({
      config: this.liveConfig(), recorder: this.recorder, log: this.log, now: () => o.clock.now(),
      dialData: o.dataLeg ?? (() => Promise.reject(new Error('this agent has no data-leg dialer'))),
      mode: async () => effectiveMode(await readPolicy(o.files.policy), o.clock.now()),
      grantFor: o.grantFor ?? ((user, port) => activeGrant(o.files, user, port, o.clock.now())),
      takeEndRequest: () => takeSessionEndRequest(o.files),
      tellServer: (streamId, why) => {
        if (this.machine.state !== 'connected' || !this.session) return false
        this.session.sendStreamEnding(streamId, why)
        return true
      },
      onChange: () => {
        this.status.sessions = this.tunnels.list()
        void this.saveStatus()
      },
    })
    this.statusKeeper = new StatusKeeper(o.files.status, () => o.clock.now(), (error) => this.log.error({err: error.message}, 'could not write status.json'), {
      server: o.config.server, serial: o.config.serial, proxy: o.proxyDisplay,
    })
    this.machine.onChange((change) => {
      this.log.info({from: change.from, to: change.to, reason: change.reason}, `connection ${change.to}`)
      this.status.state = change.to
      this.status.stateSince = new Date(change.at).toISOString()
      void this.saveStatus()
    })
  }

  private get status(): AgentStatus {
    return this.statusKeeper.current
  }

  get state(): ConnectionState {
    return this.machine.state
  }

  /** Runs until stop(). Never throws for connection problems: they become status and a retry. */
  async run(): Promise<void> {
    await this.poll()
    this.schedulePoll()
    while (!this.closed()) {
      this.machine.transition('connecting')
      this.status.attempts++
      const revoked = await this.round()
      if (this.closed()) break
      const delay = revoked ? this.o.config.backoff.revokedRetryMs : this.backoff.next()
      this.machine.transition(revoked ? 'revoked' : 'waiting', revoked ? 'device certificate revoked' : `retry in ${delay}ms`)
      this.status.nextRetryAt = new Date(this.o.clock.now() + delay).toISOString()
      await this.saveStatus()
      await this.sleep(delay)
      this.status.nextRetryAt = null
    }
    if (this.pollTimer) this.o.clock.clearTimeout(this.pollTimer)
    await this.saveStatus(true)
  }

  private closed(): boolean {
    return this.machine.state === 'closed'
  }

  /** Ends the loop: closes the channel cleanly (SIGTERM). */
  async stop(): Promise<void> {
    if (this.closed()) return
    this.machine.transition('closed', 'stopping')
    this.jobs.stop()
    this.tunnels.end('all', 'agent-stopping')
    this.session?.close(CloseCodes.normal, 'agent stopping')
    if (this.waitTimer) this.o.clock.clearTimeout(this.waitTimer)
    this.wake?.()
    if (this.session) await this.session.ended
  }

  /** One connection attempt and, when it succeeds, its whole life. Returns true when revoked. */
  private async round(): Promise<boolean> {
    let ws
    try {
      ws = await this.o.dialer.dial()
    } catch (error) {
      const e = error instanceof TransportError ? error : new TransportError('network', (error as Error).message)
      this.fail(e.message)
      return e.kind === 'revoked'
    }
    if (this.closed()) {
      ws.terminate()
      return false
    }
    const session = new ControlSession(ws, {
      clock: this.o.clock,
      log: this.log,
      onJob: (job) => this.jobs.runner.submit(job),
      handler: new RequestTable({
        ping,
        'tunnel.open': (request) => this.tunnels.open(request),
        'access.request': (request) => handleAccessRequest(request.params, {files: this.o.files, recorder: this.recorder, now: () => this.o.clock.now()}),
      }),
      onEventAck: (ack) => void this.eventAcked(ack),
      // Witness calls never reject (they log); their order is kept by the witness's own queue.
      onWelcome: (welcome) => void this.witness.offerKey(welcome.checkpointKey),
      onCheckpoint: (checkpoint) => void this.witness.receive(checkpoint),
      heartbeatTimeoutMs: this.o.config.heartbeatTimeoutMs,
      welcomeTimeoutMs: this.o.config.connectTimeoutMs,
    })
    this.session = session
    try {
      const inventory = this.inventory()
      const welcome = await session.handshake(inventory, await this.witness.forHello())
      this.lastInventoryKey = inventoryKey(inventory)
      const now = this.o.clock.now()
      this.status.protocolVersion = welcome.protocolVersion
      this.status.connectedSince = new Date(now).toISOString()
      this.status.lastConnectedAt = this.status.connectedSince
      this.status.lastError = null
      this.status.lastErrorAt = null
      this.outbox.reset()
      if (this.closed()) return false
      this.machine.transition('connected', `protocol v${welcome.protocolVersion}`)
      this.jobs.attach(session)
      await this.outbox.flush(this.session)
    } catch (error) {
      const end = await session.ended
      this.fail(end.revoked ? (end.error ?? 'device certificate revoked') : (error as Error).message)
      this.jobs.detach()
      this.session = undefined
      return end.revoked
    }
    const connectedAt = this.o.clock.now()
    const end = await session.ended
    this.jobs.detach()
    this.session = undefined
    this.status.connectedSince = null
    this.status.protocolVersion = null
    if (this.o.clock.now() - connectedAt >= this.o.config.backoff.stableAfterMs) this.backoff.reset()
    if (this.closed()) return false
    if (end.error) this.fail(end.error)
    else this.log.info({code: end.code, reason: end.reason}, 'control channel closed')
    return end.revoked
  }

  private fail(message: string): void {
    this.log.warn({err: message}, 'connection failed')
    this.status.lastError = message
    this.status.lastErrorAt = new Date(this.o.clock.now()).toISOString()
  }

  private inventory(): Inventory {
    return {
      ...collectInventory({serial: this.jobs.current.serial, model: this.jobs.current.model, agentVersion: this.o.agentVersion, accessMode: {mode: this.mode.mode, until: this.mode.until}, softwareVersion: this.jobs.softwareVersion}),
      diagnostics: this.jobs.catalogue(),
      jobKinds: this.jobs.jobKinds(),
    }
  }

  /**
   * agent.json as it is now, read through on every property access: the policy guard sees an
   * allowlist changed with `tether agent config` at the next request, without a reconnect.
   */
  private liveConfig(): AgentConfig {
    const jobs = this.jobs
    return new Proxy({} as AgentConfig, {get: (_target, key) => jobs.current[key as keyof AgentConfig]})
  }

  /**
   * A new identity or route on disk: end the current link (or the wait for the next attempt,
   * including a revoked device's slow retry) so that the next dial uses it.
   */
  private reconnect(): void {
    if (this.closed() || this.machine.state === 'connecting') return
    this.log.info({state: this.machine.state}, 'device identity or route changed on disk; reconnecting')
    if (this.session) this.session.close(CloseCodes.normal, 'agent reconnecting with a new identity or route')
    if (this.waitTimer) this.o.clock.clearTimeout(this.waitTimer)
    this.wake?.()
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve
      this.waitTimer = this.o.clock.setTimeout(resolve, ms)
    })
  }

  private schedulePoll(): void {
    this.pollTimer = this.o.clock.setTimeout(() => {
      void this.poll().finally(() => {
        if (!this.closed()) this.schedulePoll()
      })
    }, this.o.config.pollMs)
  }

  /** Picks up policy changes and expiry, new outbox events, and keeps status.json fresh. */
  async poll(): Promise<void> {
    if (this.polling) return
    this.polling = true
    try {
      const now = this.o.clock.now()
      const mode = await currentAccessMode(this.o.files, this.recorder, now)
      await sweepAccessRequests(this.o.files, this.recorder, now)
      const changed = mode.mode !== this.mode.mode || mode.until !== this.mode.until
      // Picks up agent.json edits (new scripts, accepted kinds) for the inventory's catalogue.
      await this.jobs.config()
      this.status.sessions = this.tunnels.list()
      // status.json follows a re-enrolment (another serial or server) too.
      this.status.serial = this.jobs.current.serial
      this.status.server = this.jobs.current.server
      if (this.o.routeChanged && (await this.o.routeChanged())) this.reconnect()
      this.mode = mode
      this.status.mode = mode.mode
      this.status.modeUntil = mode.until
      if (this.machine.state === 'connected' && this.session) {
        const inventory = this.inventory()
        const key = inventoryKey(inventory)
        if (key !== this.lastInventoryKey) {
          this.session.sendInventory(inventory)
          this.lastInventoryKey = key
        }
        await this.outbox.flush(this.session)
      } else {
        this.status.outboxPending = (await this.recorder.outbox.pending()).length
      }
      if (changed || now - this.statusKeeper.writtenAt >= STATUS_REFRESH_MS) await this.saveStatus()
    } catch (error) {
      // A bad poll (disk full, a file being replaced) is logged and retried next tick; the loop lives on.
      this.log.error({err: (error as Error).message}, 'poll failed')
    } finally {
      this.polling = false
    }
  }

  private async eventAcked(ack: EventAckMessage): Promise<void> {
    if (await this.outbox.acked(ack)) this.status.outboxPending = Math.max(0, this.status.outboxPending - 1)
  }

  private saveStatus(final = false): Promise<void> {
    return this.statusKeeper.save(final)
  }

}
