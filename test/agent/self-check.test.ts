import {strict as assert} from 'node:assert'
import {cp, readFile, writeFile} from 'node:fs/promises'
import {createServer, type Server} from 'node:net'
import {join} from 'node:path'
import {runSelfCheck, type SelfCheckResult} from '../../src/agent/self-check.js'
import {testCa} from '../checks/fixtures/certs.js'
import {runTether} from '../helpers/cli.js'
import {enrollAgent} from './helpers/agent-process.js'
import {SupportCenter} from './helpers/support-center.js'

const statuses = (r: SelfCheckResult): Record<string, string> => Object.fromEntries(r.checks.map((c) => [c.name, c.status]))
const detail = (r: SelfCheckResult, name: string): string => r.checks.find((c) => c.name === name)?.detail ?? ''

/** `tether agent check` against a real server: a healthy device, and one broken in each way the agent can be. */
describe('agent check (real server on loopback)', function () {
  this.timeout(120_000)
  let sc: SupportCenter
  let dataDir: string
  let refusingProxy: Server
  let n = 0

  /** A copy of the healthy device's data dir, changed by `edit`. */
  async function broken(edit: (dir: string) => Promise<void>): Promise<string> {
    const dir = join(sc.dir, `broken-${++n}`)
    await cp(dataDir, dir, {recursive: true})
    await edit(dir)
    return dir
  }

  before(async () => {
    sc = await SupportCenter.create()
    await sc.start()
    await sc.loginAdmin()
    dataDir = (await enrollAgent(sc, 'SN-CHECK-1')).dataDir
    // A proxy whose policy refuses every CONNECT, as a hospital proxy does for an unlisted host.
    refusingProxy = createServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'))
    })
    await new Promise<void>((resolve) => refusingProxy.listen(0, '127.0.0.1', resolve))
  })
  after(async () => {
    refusingProxy?.close()
    await sc?.dispose()
  })

  it('passes on a healthy device: config, certificate, route, pinned TLS, clock', async () => {
    const r = await runSelfCheck({dataDir})
    assert.equal(r.ok, true, JSON.stringify(r.checks, null, 2))
    assert.deepEqual({...statuses(r), spool: 'any'}, {config: 'pass', certificate: 'pass', route: 'pass', tls: 'pass', clock: 'pass', spool: 'any'})
    assert.ok(['pass', 'warn'].includes(statuses(r).spool))
    assert.match(detail(r, 'certificate'), /CN=SN-CHECK-1, .*valid until .* \(\d+ days\)/)
    assert.match(detail(r, 'route'), /^127\.0\.0\.1:\d+ direct: TCP open in [\d.]+ms/)
    assert.match(detail(r, 'clock'), /in step with the server/)
    assert.equal(r.route, 'direct')
  })

  it('fails the clock check on a device whose clock is an hour ahead (injected clock)', async () => {
    const r = await runSelfCheck({dataDir, now: () => Date.now() + 3_600_000})
    assert.equal(r.ok, false)
    assert.equal(statuses(r).clock, 'fail')
    assert.match(detail(r, 'clock'), /^36\d\d s ahead of the server/)
    assert.match(r.checks.find((c) => c.name === 'clock')?.hint ?? '', /NTP/)
  })

  it('fails TLS when the server certificate is not signed by the pinned CA (wrong CA, or interception)', async () => {
    const other = await testCa('Inspecting Proxy CA')
    const dir = await broken((d) => writeFile(join(d, 'server-ca.crt'), other.cert))
    const r = await runSelfCheck({dataDir: dir})
    assert.deepEqual([statuses(r).route, statuses(r).tls, statuses(r).clock], ['pass', 'fail', 'skip'])
    assert.match(detail(r, 'tls'), /not signed by the pinned CA \(server-ca\.crt\)/)
    assert.equal(r.ok, false)
  })

  it('fails the route when the proxy refuses CONNECT, and skips what needs the route', async () => {
    const proxyUrl = `http://127.0.0.1:${(refusingProxy.address() as {port: number}).port}`
    const dir = await broken(async (d) => {
      const config = JSON.parse(await readFile(join(d, 'agent.json'), 'utf8'))
      await writeFile(join(d, 'agent.json'), JSON.stringify({...config, proxy: proxyUrl}))
    })
    const r = await runSelfCheck({dataDir: dir})
    assert.deepEqual([statuses(r).route, statuses(r).tls, statuses(r).clock], ['fail', 'skip', 'skip'])
    assert.match(detail(r, 'route'), new RegExp(`via proxy ${proxyUrl.replace(/[./]/g, '\\$&')}: .*403`))
    assert.equal(r.route, `via proxy ${proxyUrl}`)
  })

  it('fails the config check on a broken agent.json and skips the rest', async () => {
    const dir = await broken((d) => writeFile(join(d, 'agent.json'), JSON.stringify({version: 1, server: 'not a url', serial: 'SN-CHECK-1'})))
    const r = await runSelfCheck({dataDir: dir})
    assert.deepEqual(statuses(r), {config: 'fail', certificate: 'skip', route: 'skip', tls: 'skip', clock: 'skip', spool: 'skip'})
    assert.match(detail(r, 'config'), /agent\.json: server: /)
  })

  it('the command renders a table, --json, and exits 1 when a check fails', async () => {
    const ok = await runTether(['agent', 'check', '--data-dir', dataDir])
    assert.equal(ok.code, 0, ok.stdout + ok.stderr)
    assert.match(ok.stdout, /Device certificate\s*│\s*PASS/)
    assert.match(ok.stdout, /All checks passed/)
    const other = await testCa('Another CA')
    const dir = await broken((d) => writeFile(join(d, 'server-ca.crt'), other.cert))
    const bad = await runTether(['agent', 'check', '--data-dir', dir, '--json'])
    assert.equal(bad.code, 1, bad.stderr)
    const doc = JSON.parse(bad.stdout) as SelfCheckResult
    assert.equal(doc.ok, false)
    assert.deepEqual(doc.checks.map((c) => c.name), ['config', 'certificate', 'route', 'tls', 'clock', 'spool'])
    assert.equal(doc.checks.find((c) => c.name === 'tls')?.status, 'fail')
  })
})
