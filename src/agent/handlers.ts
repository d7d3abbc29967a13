import type {RequestMessage} from '../protocol/agent/index.js'
import {ProtocolErrorCodes} from '../protocol/agent/index.js'
import {handleAccessRequest} from './access-requests.js'
import type {AgentConfig, AgentFiles} from './data-dir.js'
import type {EventRecorder} from './events.js'
import {decideSessionOpen, effectiveMode, readPolicy} from './policy.js'
import type {RequestHandler, ResponseBody} from './session.js'

/** What a request handler may use: the data dir, the recorder (both audits), the clock. */
export interface HandlerContext {
  files: AgentFiles
  recorder: EventRecorder
  now: () => number
}

type KindHandler<K extends RequestMessage['kind']> = (request: Extract<RequestMessage, {kind: K}>, ctx: HandlerContext) => Promise<ResponseBody>

/**
 * One handler per request kind (the registry the hub has for message types): a feature adds
 * its entry here, nothing else branches on a kind. A kind added to RequestMessage without an
 * entry does not compile. Tunnels and remote desktop come in a later issue: for now an accepted
 * session.open is answered {accepted: true}.
 */
export const REQUEST_HANDLERS: {[K in RequestMessage['kind']]: KindHandler<K>} = {
  ping: async () => ({ok: true, result: {pong: true}}),
  'session.open': async () => ({ok: true, result: {accepted: true}}),
  'access.request': (request, ctx) => handleAccessRequest(request.params, ctx),
}

/** What the agent does for a request once policy has let it through. */
export class BaseRequestHandler implements RequestHandler {
  constructor(private readonly ctx: HandlerContext) {}

  async handle(request: RequestMessage): Promise<ResponseBody> {
    const handler = REQUEST_HANDLERS[request.kind] as KindHandler<typeof request.kind> | undefined
    if (!handler) return {ok: false, error: {code: ProtocolErrorCodes.unknownKind, message: `unknown request kind "${(request as {kind: string}).kind}"`}}
    return handler(request, this.ctx)
  }
}

/**
 * The customer's policy wrapped around the handler (policy wraps the session's request
 * handling, it does not live inside it). It reads policy.json on every remote-access request,
 * so a change made a moment ago with `tether agent access set` already applies, and records
 * every remote-access request in the local audit; refusals also go to the server.
 */
export class PolicyGuard implements RequestHandler {
  constructor(
    private readonly inner: RequestHandler,
    private readonly deps: {policyPath: string; config: Pick<AgentConfig, 'allowedTunnelPorts'>; recorder: EventRecorder; now: () => number},
  ) {}

  async handle(request: RequestMessage): Promise<ResponseBody> {
    if (request.kind !== 'session.open') return this.inner.handle(request)
    const mode = effectiveMode(await readPolicy(this.deps.policyPath), this.deps.now())
    const decision = decideSessionOpen(request.params, mode, this.deps.config)
    const details = {requestId: request.id, target: request.params.target, ...(request.params.port === undefined ? {} : {port: request.params.port}), mode: mode.mode}
    if (!decision.allowed) {
      await this.deps.recorder.record({action: 'device.session.refused', outcome: 'denied', actor: 'server', details: {...details, code: decision.code, reason: decision.message}}, {forServer: true})
      return {ok: false, error: {code: decision.code, message: decision.message}}
    }
    const answer = await this.inner.handle(request)
    await this.deps.recorder.record({action: 'session.accepted', outcome: answer.ok ? 'success' : 'failure', actor: 'server', details}, {forServer: false})
    return answer
  }
}
