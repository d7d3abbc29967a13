import {strict as assert} from 'node:assert'
import type {ChildProcess} from 'node:child_process'
import {agentFiles} from '../../../src/agent/data-dir.js'
import {activeGrant} from '../../../src/agent/grants.js'
import {adminApi} from '../../agent/helpers/admin-api.js'
import {enrollAgent, type AgentUnderTest} from '../../agent/helpers/agent-process.js'
import {eventually, exitOf, expectExit, json, stopChild, SupportCenter} from '../../agent/helpers/support-center.js'
import {runTether, startTether, type RunResult} from '../../helpers/cli.js'

interface Req {
  id: string
  state: string
  user?: string
  requestedBy?: string
  reason: string
  ports: number[]
  until: string | null
  decidedBy: string | null
  deliveredAt?: string | null
}

/** A background `tether` command, its output collected. */
function background(args: string[], env: Record<string, string | undefined>): {child: ChildProcess; result: () => Promise<RunResult>} {
  const started = Date.now()
  const child = startTether(args, {env})
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d) => (stdout += d))
  child.stderr?.on('data', (d) => (stderr += d))
  return {child, result: async () => ({code: await exitOf(child), stdout, stderr, ms: Date.now() - started})}
}

/**
 * Just-in-time access end to end: a real server, a real agent in approval-required mode, the
 * engineer's and the device's commands as real processes on loopback.
 */
describe('just-in-time access (e2e)', function () {
  this.timeout(240_000)
  let sc: SupportCenter
  let agent: AgentUnderTest
  const SERIAL = 'SN-JIT-1'

  const engineer = (args: string[], env: Record<string, string | undefined> = {}) => runTether(args, {env: {...sc.adminEnv(), ...env}})
  const ask = async (extra: string[] = []): Promise<Req> => json<Req>(expectExit(await engineer(['access', 'request', SERIAL, '--reason', 'INC-4711', '--for', '2h', '--port', '5900', '--json', ...extra]), 8))
  const serverView = async (id: string): Promise<Req> => json<{requests: Req[]}>(expectExit(await engineer(['access', 'list', id, '--json']), 0)).requests[0]
  const deviceView = async (id: string): Promise<Req | undefined> => json<{requests: Req[]}>(expectExit(await agent.run(['agent', 'access', 'requests', '--json']), 0)).requests.find((r) => r.id === id)
  const delivered = (id: string) => eventually(async () => (await deviceView(id))?.state === 'pending', `request ${id} at the device`)
  const serverAudit = async (): Promise<Array<{action: string; actor: string; details: Record<string, unknown>}>> =>
    (await adminApi(sc, 'GET', `/audit/events?device=${SERIAL}&limit=1000`)).json.events

  before(async () => {
    sc = await SupportCenter.create()
    await sc.start()
    await sc.loginAdmin()
    agent = await enrollAgent(sc, SERIAL, {enrollArgs: ['--allow-port', '22', '--allow-port', '5900']})
    await agent.tune()
    expectExit(await agent.run(['agent', 'access', 'set', 'approval-required']), 0)
    agent.start()
    await eventually(async () => (await agent.status()).state === 'connected', 'agent connected')
  })
  after(async () => {
    await agent?.stop()
    await sc?.dispose()
  })

  it('approval-required is a mode of its own, shown by `agent access show`', async () => {
    const view = json<{mode: string; until: string | null}>(expectExit(await agent.run(['agent', 'access', 'show', '--json']), 0))
    assert.deepEqual([view.mode, view.until], ['approval-required', null])
    const r = await agent.run(['agent', 'access', 'set', 'approval-required', '--until', '1h'])
    expectExit(r, 2)
    assert.match(r.stderr, /--until: only a temporary allow can expire; approval-required stays until it is changed/)
  })

  it('a request shows at the device; approving it there approves it on the server, for that engineer and those ports only; both audits have it', async () => {
    const request = await ask()
    assert.equal(request.state, 'pending')
    await delivered(request.id)
    const atDevice = (await deviceView(request.id))!
    assert.deepEqual([atDevice.user, atDevice.reason, atDevice.ports], ['admin', 'INC-4711', [5900]])

    const waiting = background(['access', 'list', request.id, '--wait', '--timeout', '60s', '--json'], sc.adminEnv())
    try {
      const approved = json<Req>(expectExit(await agent.run(['agent', 'access', 'approve', request.id.slice(0, 8), '--for', '1h', '--json']), 0))
      assert.equal(approved.state, 'approved')
      const untilMs = Date.parse(approved.until!) - Date.now()
      assert.ok(untilMs > 3_500_000 && untilMs <= 3_600_000, `grant for ${untilMs} ms`)
      const waited = await waiting.result()
      assert.equal(waited.code, 0, `${waited.stdout}\n${waited.stderr}`)
      const onServer = json<{requests: Req[]}>(waited).requests[0]
      assert.equal(onServer.state, 'approved')
      assert.equal(onServer.until, approved.until)
      assert.match(onServer.decidedBy ?? '', /^local:/)
    } finally {
      await stopChild(waiting.child, 'SIGKILL')
    }

    const files = agentFiles(agent.dataDir)
    const grant = await activeGrant(files, 'admin', 5900, Date.now())
    assert.deepEqual(grant && {requestId: grant.requestId, user: grant.user, ports: grant.ports, reason: grant.reason}, {requestId: request.id, user: 'admin', ports: [5900], reason: 'INC-4711'})
    assert.equal(await activeGrant(files, 'admin', 22, Date.now()), null, 'another port')
    assert.equal(await activeGrant(files, 'mallory', 5900, Date.now()), null, 'another engineer')
    assert.equal(await activeGrant(files, 'admin', 5900, Date.parse(grant!.until)), null, 'after the end')

    await eventually(async () => (await agent.status()).outboxPending === 0, 'decision delivered')
    const events = await serverAudit()
    const mine = events.filter((e) => e.details.requestId === request.id).map((e) => e.action)
    assert.deepEqual(mine, ['access.requested', 'device.access.decided', 'access.approved'])
    const local = json<{entries: Array<{action: string; details: Record<string, unknown>}>}>(expectExit(await agent.run(['agent', 'audit', '--json']), 0))
    assert.deepEqual(
      local.entries.filter((e) => e.details.requestId === request.id).map((e) => [e.action, e.details.decision ?? null]),
      [['access.requested', null], ['device.access.decided', 'approved']],
    )
  })

  it('deny: the engineer waiting learns it (exit 1); the server audits access.denied', async () => {
    const request = await ask()
    await delivered(request.id)
    expectExit(await agent.run(['agent', 'access', 'deny', request.id]), 0)
    const waited = await engineer(['access', 'list', request.id, '--wait', '--timeout', '60s'])
    expectExit(waited, 1)
    assert.match(waited.stderr, new RegExp(`access request ${request.id} was denied by local:`))
    assert.ok((await serverAudit()).some((e) => e.action === 'access.denied' && e.details.requestId === request.id))
    assert.equal(await activeGrant(agentFiles(agent.dataDir), 'admin', 5900, Date.now()).then((g) => g?.requestId === request.id), false)

    const again = await agent.run(['agent', 'access', 'approve', request.id])
    expectExit(again, 6)
    assert.match(again.stderr, /cannot approve request .*: it is already denied/)
  })

  it('a grant ends when it expires, and early when revoked at the device; the server follows both', async () => {
    const short = await ask()
    const revoked = await ask()
    await delivered(short.id)
    await delivered(revoked.id)
    const tooLong = await agent.run(['agent', 'access', 'approve', short.id, '--for', '3h'])
    expectExit(tooLong, 2)
    assert.match(tooLong.stderr, /--for: admin asked for 2h; a grant can be shorter, not longer/)
    expectExit(await agent.run(['agent', 'access', 'approve', short.id, '--for', '2s']), 0)
    expectExit(await agent.run(['agent', 'access', 'approve', revoked.id]), 0)
    expectExit(await agent.run(['agent', 'access', 'revoke', revoked.id]), 0)
    assert.equal(await activeGrant(agentFiles(agent.dataDir), 'admin', 5900, Date.now()).then((g) => g?.requestId === revoked.id), false)

    await eventually(async () => (await serverView(short.id)).state === 'expired', 'server: grant expired')
    await eventually(async () => (await serverView(revoked.id)).state === 'revoked', 'server: grant revoked')
    assert.equal((await deviceView(short.id))?.state, 'expired')
    const events = await serverAudit()
    assert.ok(events.some((e) => e.action === 'access.expired' && e.details.requestId === short.id))
    assert.ok(events.some((e) => e.action === 'access.revoked' && e.details.requestId === revoked.id))
  })

  it('a request nobody decides expires at its --ttl', async () => {
    const request = await ask(['--ttl', '2s'])
    const waited = await engineer(['access', 'list', request.id, '--wait', '--timeout', '60s', '--json'])
    expectExit(waited, 1)
    assert.equal(json<{requests: Req[]}>(waited).requests[0].state, 'expired')
    await eventually(async () => (await deviceView(request.id))?.state === 'expired', 'device: expired too')
  })

  it('an offline device gets the request when it connects', async () => {
    await agent.stop()
    await eventually(async () => (await sc.device(SERIAL)).online === false, 'device offline')
    const r = await engineer(['access', 'request', SERIAL, '--reason', 'INC-4712', '--for', '30m'])
    expectExit(r, 8)
    assert.match(r.stderr, /still pending: access request .* \(the device is offline; it gets the request when it connects\)/)
    const id = r.stdout.trim()
    assert.equal((await serverView(id)).deliveredAt, null)
    agent.start()
    await eventually(async () => (await serverView(id)).deliveredAt !== null, 'delivered on connect')
    const atDevice = await deviceView(id)
    assert.deepEqual([atDevice?.state, atDevice?.ports, atDevice?.reason], ['pending', [], 'INC-4712'])
    // No ports asked: an approval grants the ports the device allows.
    const approved = json<Req>(expectExit(await agent.run(['agent', 'access', 'approve', id, '--json']), 0))
    assert.deepEqual(approved.ports, [22, 5900])
  })

  it('refuses bad input with one line naming the flag, and unknown serials and ids', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['access', 'request', SERIAL, '--reason', 'x', '--for', '1h', '--port', '70000'], 2, /--port: "70000" is not a TCP port \(1-65535\)/],
      [['access', 'request', SERIAL, '--reason', 'x', '--for', '48h'], 2, /--for: at most 24h \(got 48h\)/],
      [['access', 'request', SERIAL, '--reason', 'x', '--for', 'soon'], 2, /--for: "soon" is not a duration/],
      [['access', 'request', SERIAL, '--reason', '  ', '--for', '1h'], 2, /--reason: say why you need access/],
      [['access', 'request', 'SN-NOPE', '--reason', 'x', '--for', '1h'], 5, /no device "SN-NOPE"/],
      [['access', 'list', '--wait'], 2, /--wait: name the request to wait for/],
      [['access', 'list', '00000000-0000-4000-8000-000000000000'], 5, /no access request "00000000-0000-4000-8000-000000000000"/],
    ]
    for (const [args, code, message] of cases) {
      const r = await engineer(args)
      assert.equal(r.code, code, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`)
      assert.match(r.stderr, message, args.join(' '))
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
    }
    const unknown = await agent.run(['agent', 'access', 'approve', 'ffffffff'])
    expectExit(unknown, 5)
    assert.match(unknown.stderr, /no access request "ffffffff" on this device/)
  })

  it('an API token without tunnels:open is refused (403); one with it may ask', async () => {
    const mint = async (name: string, permissions: string[]) =>
      json<{token: string}>(expectExit(await engineer(['tokens', 'create', '--name', name, ...permissions.flatMap((p) => ['--permission', p]), '--json']), 0)).token
    const readOnly = await engineer(['access', 'request', SERIAL, '--reason', 'x', '--for', '1h'], {TETHER_TOKEN: await mint('jit-read', ['devices:read']), TETHER_SERVER: sc.url})
    expectExit(readOnly, 4)
    assert.match(readOnly.stderr, /tunnels:open/)
    const tunnels = await engineer(['access', 'request', SERIAL, '--reason', 'x', '--for', '1h', '--json'], {TETHER_TOKEN: await mint('jit-tunnels', ['tunnels:open', 'devices:read']), TETHER_SERVER: sc.url})
    assert.equal(json<Req>(expectExit(tunnels, 8)).state, 'pending')
  })
})
