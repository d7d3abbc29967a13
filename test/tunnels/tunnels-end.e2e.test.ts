import {strict as assert} from 'node:assert'
import {type ChildProcessWithoutNullStreams, spawn} from 'node:child_process'
import {connect, createServer, type Server} from 'node:net'
import {BIN, testEnv} from '../helpers/cli.js'
import {freePort} from '../helpers/cluster.js'
import {eventually} from '../helpers/eventually.js'
import {adminApi} from '../agent/helpers/admin-api.js'
import {enrollAgent, type AgentUnderTest} from '../agent/helpers/agent-process.js'
import {expectExit, json, SupportCenter} from '../agent/helpers/support-center.js'

interface LiveStream {
  child: ChildProcessWithoutNullStreams
  exited: Promise<{code: number | null; stderr: string; at: number}>
}

/**
 * Live streams end at once when permission ends, whoever ends it: the admin (tunnels close), the
 * device (no-access, sessions end, a revoked grant), a revoked token, a revoked device; and the
 * audit on both sides says why. Each stream is a real `tunnels connect` with its stdin held open.
 */
function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(port, '127.0.0.1', () => {
      probe.destroy()
      resolve(true)
    })
    probe.once('error', () => resolve(false))
  })
}

describe('live tunnel streams end when permission ends (e2e)', function () {
  this.timeout(240_000)
  let sc: SupportCenter
  let agent: AgentUnderTest
  let echo: Server
  let port = 0
  const SERIAL = 'SN-TUN-END'
  const cut: Record<string, number> = {}

  /** Opens a stream and proves it live (an echo came back). */
  async function liveStream(env: Record<string, string | undefined> = sc.adminEnv(), reason = 'INC-END'): Promise<LiveStream> {
    const child = spawn(process.execPath, [BIN, 'tunnels', 'connect', SERIAL, '--port', String(port), '--reason', reason], {env: testEnv(env)})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const exited = new Promise<{code: number | null; stderr: string; at: number}>((resolve) => child.on('close', (code) => resolve({code, stderr, at: Date.now()})))
    child.stdin.write('hello\n')
    await eventually(async () => stdout.includes('hello') || child.exitCode !== null, 'echo through the stream')
    assert.ok(stdout.includes('hello'), `stream not live: ${stderr}`)
    return {child, exited}
  }

  /** The stream ends within 5 s of `trigger`, and its CLI says why: `exit` and a line matching `says` (the END frame's reason). */
  async function endsWithin(name: string, stream: LiveStream, trigger: () => Promise<unknown>, exit: number | number[], says: RegExp): Promise<void> {
    const started = Date.now()
    await trigger()
    const end = await Promise.race([stream.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 5000))])
    assert.ok(end, `${name}: the stream was still live 5 s later`)
    cut[name] = end.at - started
    assert.ok([exit].flat().includes(end.code ?? -1), `${name}: exit ${end.code}: ${end.stderr}`)
    if (end.code !== 0) assert.match(end.stderr, says)
  }
  // The agent tells the server why on the control channel before it cuts its data leg, so the
  // engineer reads the device's reason (END reason device-ended, exit 4), not a plain end.
  const deviceCut = (says: string): RegExp => new RegExp(`the tunnel ended: ${says} \\(device-ended\\)`)
  const DEVICE_CUT_EXIT = 4

  const serverEvents = async () => (await adminApi(sc, 'GET', `/audit/events?device=${SERIAL}&limit=1000`)).json.events as Array<{action: string; details: Record<string, unknown>}>
  const closes = async () => (await serverEvents()).filter((e) => e.action === 'tunnel.close').map((e) => e.details)

  before(async () => {
    sc = await SupportCenter.create()
    await sc.start()
    await sc.loginAdmin()
    echo = createServer({allowHalfOpen: true}, (s) => s.pipe(s))
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve))
    port = (echo.address() as {port: number}).port
    agent = await enrollAgent(sc, SERIAL, {enrollArgs: ['--allow-port', String(port)]})
    await agent.tune()
    agent.start()
    await eventually(async () => (await agent.status()).state === 'connected', 'agent connected')
  })

  after(async () => {
    // The measured times go to the log for the note; the assertion above is the 5 s bound.
    process.stderr.write(`      stream cut after (ms): ${JSON.stringify(cut)}\n`)
    await agent?.stop()
    echo?.close()
    await sc?.dispose()
  })

  it('an admin closes it (tunnels close): audited closed-by-user with who closed it', async () => {
    const stream = await liveStream()
    const id = await eventually(async () => json<{tunnels: Array<{id: string}>}>(await sc.admin(['tunnels', 'list', '--json'])).tunnels[0]?.id, 'listed')
    await endsWithin('tunnels close', stream, async () => expectExit(await sc.admin(['tunnels', 'close', id]), 0), 1, /the tunnel ended: the tunnel was closed by admin on the server \(closed-by-user\)/)
    await eventually(async () => (await closes()).some((d) => d.tunnelId === id && d.why === 'closed-by-user' && d.closedBy === 'admin'), 'close audited')
    const missing = expectExit(await sc.admin(['tunnels', 'close', id]), 5)
    assert.match(missing.stderr, /no live tunnel/)
  })

  it('`tunnels open`: a stream closed by an admin resets its local connection and counts as failed with the reason; a finished one does not', async () => {
    // --json prints nothing until it ends, so the local port is chosen here.
    const local = await freePort()
    const open = spawn(process.execPath, [BIN, 'tunnels', 'open', SERIAL, '--port', String(port), '--listen', `127.0.0.1:${local}`, '--reason', 'INC-OPEN', '--json'], {env: testEnv(sc.adminEnv()), stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    open.stdout.on('data', (d) => (stdout += d))
    open.stderr.on('data', (d) => (stderr += d))
    const exited = new Promise((resolve) => open.once('close', resolve))
    try {
      await eventually(async () => open.exitCode !== null || (await canConnect(local)), `listening on ${local}`)
      assert.equal(open.exitCode, null, stderr)
      // One stream that ends normally: the local client half-closes, the echo ends too.
      const finished = connect(local, '127.0.0.1')
      let echoed = ''
      finished.on('data', (d) => (echoed += d))
      finished.end('bye\n')
      await new Promise((resolve) => finished.once('close', resolve))
      assert.equal(echoed, 'bye\n')
      // One the admin closes: its local connection is reset, not ended.
      const cut = connect(local, '127.0.0.1')
      let got = ''
      cut.on('data', (d) => (got += d))
      const closed = new Promise<string>((resolve) => {
        cut.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
        cut.once('close', () => resolve('close'))
      })
      cut.write('hello\n')
      await eventually(async () => got.includes('hello'), 'echo through the listener')
      const id = await eventually(async () => json<{tunnels: Array<{id: string; reason: string}>}>(await sc.admin(['tunnels', 'list', '--json'])).tunnels.find((t) => t.reason === 'INC-OPEN')?.id, 'listed')
      expectExit(await sc.admin(['tunnels', 'close', id]), 0)
      assert.equal(await closed, 'ECONNRESET')
    } finally {
      open.kill('SIGINT')
      await exited
    }
    const {stats} = JSON.parse(stdout) as {stats: {total: number; failed: number; lastError: string | null}}
    // The listening probe above is a stream too (it ends at once, normally).
    assert.ok(stats.total >= 2, stdout)
    assert.equal(stats.failed, 1, stdout)
    assert.match(stats.lastError ?? '', /closed by admin on the server \(closed-by-user\)/)
  })

  it('the device goes to no-access: the agent cuts it and reports why', async () => {
    const stream = await liveStream()
    await endsWithin('no-access', stream, async () => expectExit(await agent.run(['agent', 'access', 'set', 'no-access']), 0), DEVICE_CUT_EXIT, deviceCut('the device ended the stream: its access mode is now no-access \\(set by the customer at the device\\)'))
    await eventually(async () => (await serverEvents()).some((e) => e.action === 'device.session.ended' && e.details.why === 'no-access'), 'device says why')
    expectExit(await agent.run(['agent', 'access', 'set', 'allow']), 0)
  })

  it('someone at the device ends it (agent sessions end --all); agent status lists it while it lives', async () => {
    const stream = await liveStream()
    const status = await eventually(async () => {
      const s = (await agent.status()) as {sessions: Array<{user: string; reason: string}>}
      return s.sessions.length === 1 ? s : undefined
    }, 'session in status')
    assert.deepEqual([status.sessions[0].user, status.sessions[0].reason], ['admin', 'INC-END'])
    await endsWithin('sessions end', stream, async () => expectExit(await agent.run(['agent', 'sessions', 'end', '--all']), 0), DEVICE_CUT_EXIT, deviceCut('someone at the device ended the stream \\(tether agent sessions end\\)'))
    await eventually(async () => (await serverEvents()).some((e) => e.action === 'device.session.ended' && e.details.why === 'ended-on-device'), 'device says why')
    expectExit(await agent.run(['agent', 'sessions', 'end']), 2)
  })

  it('approval-required: no approval is refused; an approved engineer gets through; revoking the grant cuts the stream', async () => {
    expectExit(await agent.run(['agent', 'access', 'set', 'approval-required']), 0)
    const refused = spawn(process.execPath, [BIN, 'tunnels', 'connect', SERIAL, '--port', String(port)], {env: testEnv(sc.adminEnv())})
    let refusedErr = ''
    refused.stderr.on('data', (d) => (refusedErr += d))
    const code = await new Promise((resolve) => refused.on('close', resolve))
    assert.equal(code, 4)
    assert.match(refusedErr, /admin has none for port \d+ now .*\[device\]/)
    assert.match(refusedErr, /tether access request SN-TUN-END/)

    const asked = await sc.admin(['access', 'request', SERIAL, '--reason', 'INC-JIT', '--for', '1h', '--port', String(port), '--json'])
    const requestId = json<{id: string}>(asked).id
    await eventually(async () => json<{requests: Array<{id: string}>}>(await agent.run(['agent', 'access', 'requests', '--json'])).requests.some((r) => r.id === requestId), 'request on the device')
    expectExit(await agent.run(['agent', 'access', 'approve', requestId]), 0)
    const stream = await liveStream(sc.adminEnv(), 'INC-JIT')
    await endsWithin('grant revoked', stream, async () => expectExit(await agent.run(['agent', 'access', 'revoke', requestId]), 0), DEVICE_CUT_EXIT, deviceCut('the device ended the stream: the approval it was opened under ended'))
    await eventually(async () => (await serverEvents()).some((e) => e.action === 'device.session.ended' && e.details.why === 'approval-ended'), 'device says why')
    expectExit(await agent.run(['agent', 'access', 'set', 'allow']), 0)
  })

  it('the API token it was opened with is revoked: the server cuts it', async () => {
    const created = json<{info: {id: string}; token: string}>(expectExit(await sc.admin(['tokens', 'create', '--name', 'tunnel-script', '--permission', 'tunnels:open', '--json']), 0))
    const stream = await liveStream({...sc.adminEnv(), TETHER_TOKEN: created.token, TETHER_SERVER: sc.url, TETHER_CA: sc.caFile})
    await endsWithin('token revoked', stream, async () => expectExit(await sc.admin(['tokens', 'revoke', created.info.id]), 0), 3, /the tunnel ended: the credentials .* were revoked or expired .*\(credentials-revoked\)/)
    await eventually(async () => (await closes()).some((d) => d.why === 'credentials-revoked'), 'close audited as credentials-revoked')
  })

  it('the device is revoked: the server cuts it, and the audit says so', async () => {
    const stream = await liveStream()
    await endsWithin('device revoked', stream, async () => expectExit(await sc.admin(['devices', 'revoke', SERIAL, '--json']), 0), [6, 7], /the tunnel ended: .*\((device-revoked|device-gone)\)/)
    await eventually(async () => (await closes()).some((d) => d.why === 'device-revoked' || d.why === 'device-gone'), 'close audited')
  })
})
