import {strict as assert} from 'node:assert'
import {execFile, spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {readFile, writeFile} from 'node:fs/promises'
import {createServer, connect, type Server, type Socket} from 'node:net'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {BIN} from '../helpers/cli.js'
import {eventually} from '../helpers/eventually.js'
import {TestSshd} from '../helpers/sshd.js'
import {startTinyproxy, tinyproxyAvailable, type Tinyproxy} from '../checks/fixtures/tinyproxy.js'
import {adminApi} from '../agent/helpers/admin-api.js'
import {enrollAgent, type AgentUnderTest} from '../agent/helpers/agent-process.js'
import {expectExit, json, SupportCenter} from '../agent/helpers/support-center.js'
import {testEnv} from '../helpers/cli.js'

const execFileP = promisify(execFile)

/** An echo service on the device's loopback: what a VNC or service port stands in for. */
async function echoServer(): Promise<{server: Server; port: number}> {
  // A stream the device cuts resets its side: that is no failure of this test's process.
  const server = createServer({allowHalfOpen: true}, (s) => s.on('error', () => undefined).pipe(s))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {server, port: (server.address() as {port: number}).port}
}

const sha256File = (path: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const hash = createHash('sha256')
    createReadStream(path).on('data', (d) => hash.update(d)).on('end', () => resolve(hash.digest('hex'))).on('error', reject)
  })

/**
 * Tunnels end to end, every part a real process on loopback: a real OpenSSH client through
 * `tether tunnels connect` as its ProxyCommand, the server, the agent, and a real sshd behind it.
 */
describe('tunnels through a real agent (e2e)', function () {
  this.timeout(240_000)
  let sc: SupportCenter
  let agent: AgentUnderTest
  let sshd: TestSshd
  let echo: {server: Server; port: number}
  const SERIAL = 'SN-TUN-1'
  const proxyCommand = (extra = ''): string => `${process.execPath} ${BIN} tunnels connect ${SERIAL} --port ${sshd.port} --reason INC-4711${extra}`

  const ssh = (command: string, options: {input?: string | Buffer; file?: string; proxy?: string} = {}) =>
    new Promise<{code: number | null; stdout: Buffer; stderr: string}>((resolve, reject) => {
      const child = spawn('ssh', [...sshd.sshArgs(options.proxy ?? proxyCommand()), command], {env: testEnv(sc.adminEnv()), stdio: ['pipe', 'pipe', 'pipe']})
      const out: Buffer[] = []
      let stderr = ''
      child.stdout.on('data', (d: Buffer) => out.push(d))
      child.stderr.on('data', (d) => (stderr += d))
      child.on('error', reject)
      child.on('close', (code) => resolve({code, stdout: Buffer.concat(out), stderr}))
      if (options.file) createReadStream(options.file).pipe(child.stdin)
      else child.stdin.end(options.input ?? '')
    })

  before(async () => {
    sc = await SupportCenter.create()
    await sc.start()
    await sc.loginAdmin()
    sshd = await TestSshd.start(join(sc.dir, 'sshd'))
    echo = await echoServer()
    agent = await enrollAgent(sc, SERIAL, {enrollArgs: ['--allow-port', String(sshd.port), '--allow-port', String(echo.port), '--session-hook', `${process.execPath} -e require('fs').appendFileSync(process.argv[1],require('fs').readFileSync(0)) ${join(sc.dir, 'hook.jsonl')}`]})
    await agent.tune()
    agent.start()
    await eventually(async () => (await agent.status()).state === 'connected', 'agent connected')
  })

  after(async () => {
    await agent?.stop()
    await sshd?.stop()
    echo?.server.close()
    await sc?.dispose()
  })

  it('ssh runs a command through `tunnels connect` as ProxyCommand, and both audits record the stream', async () => {
    const r = await ssh('echo hello-from-the-device')
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout.toString(), 'hello-from-the-device\n')
    const events = await eventually(async () => {
      const all = (await adminApi(sc, 'GET', `/audit/events?device=${SERIAL}&limit=1000`)).json.events as Array<{action: string; actor: string; details: Record<string, unknown>}>
      return all.some((e) => e.action === 'tunnel.close') ? all : undefined
    }, 'close audited')
    const open = events.find((e) => e.action === 'tunnel.open')!
    const close = events.find((e) => e.action === 'tunnel.close')!
    assert.equal(open.actor, 'admin')
    assert.deepEqual([open.details.target, open.details.reason], [`127.0.0.1:${sshd.port}`, 'INC-4711'])
    assert.equal(close.details.why, 'finished')
    assert.ok((close.details.bytesToDevice as number) > 0 && (close.details.bytesFromDevice as number) > 0)
    const local = json<{entries: Array<{action: string; actor: string}>}>(await agent.run(['agent', 'audit', '--json']))
    assert.ok(local.entries.some((e) => e.action === 'tunnel.opened' && e.actor === 'admin'))
    assert.ok(local.entries.some((e) => e.action === 'tunnel.closed'))
    const hook = (await readFile(join(sc.dir, 'hook.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as {event: string; user: string})
    assert.deepEqual(hook.slice(0, 2).map((e) => [e.event, e.user]), [['session.start', 'admin'], ['session.end', 'admin']])
  })

  it('a 50 MB file crosses both ways with the same SHA-256; EOF on stdin is passed through (cat > f)', async () => {
    const file = join(sc.dir, 'big.bin')
    await writeFile(file, randomBytes(50 * 1024 * 1024))
    const want = await sha256File(file)
    const remote = join(sc.dir, 'received.bin')
    const up = await ssh(`cat > ${remote}`, {file})
    assert.equal(up.code, 0, up.stderr)
    assert.equal(await sha256File(remote), want)
    const down = await ssh(`cat ${remote}`)
    assert.equal(down.code, 0, down.stderr)
    assert.equal(createHash('sha256').update(down.stdout).digest('hex'), want)
  })

  it('the same through a real tinyproxy on the agent leg', async function () {
    if (!tinyproxyAvailable()) this.skip()
    let proxy: Tinyproxy | undefined
    try {
      proxy = await startTinyproxy({connectPorts: [sc.port]})
      await agent.stop()
      agent.start(['--proxy', proxy.url])
      await eventually(async () => (await agent.status()).state === 'connected', 'agent connected via proxy')
      const r = await ssh('echo via-proxy')
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.stdout.toString(), 'via-proxy\n')
    } finally {
      await agent.stop()
      await proxy?.stop()
      agent.start()
      await eventually(async () => (await agent.status()).state === 'connected', 'agent connected directly again')
    }
  })

  it('`tunnels connect` with stdin that ends: everything the device sends back after the EOF still arrives', async () => {
    // An echo answers only after it has read each byte, so most of the 8 MB comes back after
    // the engineer's EOF: the half-close must pass through without cutting the return direction.
    const input = randomBytes(8 * 1024 * 1024)
    const child = spawn(process.execPath, [BIN, 'tunnels', 'connect', SERIAL, '--port', String(echo.port)], {env: testEnv(sc.adminEnv()), stdio: ['pipe', 'pipe', 'pipe']})
    const out: Buffer[] = []
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => out.push(d))
    child.stderr.on('data', (d) => (stderr += d))
    const code = await new Promise<number | null>((resolve) => {
      child.on('close', resolve)
      child.stdin.end(input)
    })
    assert.equal(code, 0, stderr)
    const echoed = Buffer.concat(out)
    assert.equal(echoed.length, input.length, `echoed ${echoed.length} of ${input.length} bytes`)
    assert.ok(echoed.equals(input), 'the echo is the input, byte for byte')
  })

  it('`tunnels open` carries 50 parallel streams, each its own echo; `tunnels list` shows them live', async () => {
    const open = spawn(process.execPath, [BIN, 'tunnels', 'open', SERIAL, '--port', String(echo.port), '--listen', '127.0.0.1:0', '--reason', 'bulk'], {env: testEnv(sc.adminEnv()), stdio: ['ignore', 'pipe', 'pipe']})
    let stderr = ''
    open.stderr.on('data', (d) => (stderr += d))
    try {
      const port = Number((await eventually(async () => /Forwarding 127\.0\.0\.1:(\d+)/.exec(stderr)?.[1], 'listening line')) ?? 0)
      const payloads = Array.from({length: 50}, (_, i) => randomBytes(64 * 1024 + i))
      const sockets: Socket[] = []
      const echoed = payloads.map(
        (payload) =>
          new Promise<Buffer>((resolve, reject) => {
            const s = connect(port, '127.0.0.1', () => s.write(payload))
            sockets.push(s)
            const got: Buffer[] = []
            let n = 0
            s.on('data', (d: Buffer) => {
              got.push(d)
              n += d.length
              if (n >= payload.length) resolve(Buffer.concat(got))
            })
            // The CLI's stderr says why a stream was cut (it resets the local connection).
            s.on('error', (error) => reject(new Error(`${error.message} after ${n} bytes: ${stderr}`)))
            s.on('close', () => reject(new Error(`stream closed after ${n} bytes: ${stderr}`)))
          }),
      )
      const results = await Promise.all(echoed)
      results.forEach((r, i) => assert.ok(r.equals(payloads[i]), `stream ${i} echoed`))
      const list = json<{tunnels: Array<{user: string; reason: string; bytesToDevice: number}>}>(expectExit(await sc.admin(['tunnels', 'list', '--device', SERIAL, '--json']), 0))
      assert.equal(list.tunnels.filter((t) => t.reason === 'bulk').length, 50)
      assert.ok(list.tunnels.every((t) => t.user === 'admin' && t.bytesToDevice > 0))
      for (const s of sockets) s.destroy()
      await eventually(async () => json<{tunnels: unknown[]}>(await sc.admin(['tunnels', 'list', '--json'])).tunnels.length === 0, 'all streams closed')
    } finally {
      open.kill('SIGINT')
      await new Promise((resolve) => open.once('close', resolve))
    }
  })

  it('refusals say which layer refused, with their exit codes: permission, scope, port, target', async () => {
    // A port the device allows but where nothing listens: the target refused (exit 1).
    const closed = echo.port + 1 === sshd.port ? echo.port + 2 : echo.port + 1
    await agent.stop()
    await agent.tune({allowedTunnelPorts: [sshd.port, echo.port, closed]})
    agent.start()
    await eventually(async () => (await agent.status()).state === 'connected', 'agent connected')
    const target = expectExit(await sc.admin(['tunnels', 'connect', SERIAL, '--port', String(closed)]), 1)
    assert.match(target.stderr, new RegExp(`nothing accepts connections on 127\\.0\\.0\\.1:${closed} on the device \\(ECONNREFUSED\\) \\[target\\]`))
    const port = expectExit(await sc.admin(['tunnels', 'connect', SERIAL, '--port', '3306']), 4)
    assert.match(port.stderr, /refused by the device: port 3306 is not in this device's allowed tunnel ports .* \[device\]/)
    const host = expectExit(await sc.admin(['tunnels', 'connect', SERIAL, '--host', '10.9.9.9', '--port', '443']), 4)
    assert.match(host.stderr, /10\.9\.9\.9:443 is not in this device's allowed tunnel targets \[device\]/)
    const unknown = expectExit(await sc.admin(['tunnels', 'connect', 'SN-NOPE', '--port', '22']), 5)
    assert.match(unknown.stderr, /no device "SN-NOPE" \[server\]/)
    // An API token without tunnels:open: refused by the server (exit 4), never asked of the device.
    const token = json<{token: string}>(expectExit(await sc.admin(['tokens', 'create', '--name', 'reader', '--permission', 'devices:read', '--json']), 0)).token
    const env = {...sc.adminEnv(), TETHER_TOKEN: token, TETHER_SERVER: sc.url, TETHER_CA: sc.caFile}
    const reader = await execFileP(process.execPath, [BIN, 'tunnels', 'connect', SERIAL, '--port', String(echo.port)], {env: testEnv(env)}).catch((e: {code: number; stderr: string}) => e)
    assert.equal((reader as {code: number}).code, 4)
    assert.match((reader as {stderr: string}).stderr, /permission "tunnels:open" required \(not granted to this API token\) \[server\]/)
    const bad = expectExit(await sc.admin(['tunnels', 'connect', SERIAL, '--port', '70000']), 2)
    assert.match(bad.stderr, /port/i)
  })

  it('bytes a client sends right behind its upgrade request (before the 101) reach the device', async () => {
    const {token} = json<{token: string}>(expectExit(await sc.admin(['tokens', 'create', '--name', 'early-bytes', '--permission', 'tunnels:open', '--json']), 0))
    const {default: tls} = await import('node:tls')
    const url = new URL(sc.url)
    const socket = tls.connect({host: url.hostname, port: Number(url.port), ca: await readFile(sc.caFile, 'utf8'), servername: 'localhost'})
    await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject))
    let received = ''
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')))
    socket.write(`GET /api/v1/devices/${SERIAL}/tunnel?port=${echo.port} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: Upgrade\r\nUpgrade: tether-tunnel\r\nAuthorization: Bearer ${token}\r\n\r\nearly-bytes`)
    await eventually(async () => received.includes('early-bytes'), 'early bytes echoed')
    assert.match(received, /^HTTP\/1\.1 101 /)
    socket.destroy()
  })

  it('bad local input: a --listen address in use or malformed is exit 2 naming --listen', async () => {
    const busy = createServer()
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
    try {
      const inUse = expectExit(await sc.admin(['tunnels', 'open', SERIAL, '--port', String(echo.port), '--listen', `127.0.0.1:${(busy.address() as {port: number}).port}`]), 2)
      assert.match(inUse.stderr, /--listen: 127\.0\.0\.1:\d+ is already in use/)
      const malformed = expectExit(await sc.admin(['tunnels', 'open', SERIAL, '--port', String(echo.port), '--listen', 'here:there']), 2)
      assert.match(malformed.stderr, /--listen: expected HOST:PORT/)
    } finally {
      busy.close()
    }
  })

  it('the server dies mid-stream: the stream ends, the command does not hang, and the restarted server audits its close', async () => {
    const child = spawn(process.execPath, [BIN, 'tunnels', 'connect', SERIAL, '--port', String(echo.port), '--reason', 'INC-crash'], {env: testEnv(sc.adminEnv())})
    let stdout = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stdin.write('alive\n')
    await eventually(async () => stdout.includes('alive'), 'stream live')
    const opened = await eventually(async () => {
      const events = (await adminApi(sc, 'GET', `/audit/events?device=${SERIAL}&action=tunnel.open&limit=1000`)).json.events as Array<{details: {tunnelId: string; reason?: string}}>
      return events.find((e) => e.details.reason === 'INC-crash')
    }, 'tunnel.open audited')
    const tunnelId = opened.details.tunnelId
    // Past one lease tick (5 s with the default heartbeat timeout), so the bytes so far are on record.
    await new Promise((resolve) => setTimeout(resolve, 5500))
    const exited = new Promise((resolve) => child.on('close', resolve))
    await sc.kill9()
    const done = await Promise.race([exited.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 10_000))])
    assert.equal(done, true, 'tunnels connect still running 10 s after the server died')
    // SQLite, one node: nobody survived to write the close; the next process does, at start.
    await sc.start(sc.port)
    const closes = (await adminApi(sc, 'GET', `/audit/events?device=${SERIAL}&action=tunnel.close&limit=1000`)).json.events as Array<{details: Record<string, unknown>}>
    const closed = closes.filter((e) => e.details.tunnelId === tunnelId)
    assert.equal(closed.length, 1, `tunnel.close events for ${tunnelId}: ${JSON.stringify(closes.map((e) => e.details))}`)
    assert.equal(closed[0].details.why, 'node-lost')
    assert.equal(closed[0].details.reason, 'INC-crash')
    assert.ok((closed[0].details.bytesToDevice as number) >= 'alive\n'.length, `bytes on record: ${JSON.stringify(closed[0].details)}`)
    assert.equal((await adminApi(sc, 'POST', '/audit/verify', {})).json.ok, true)
  })
})
