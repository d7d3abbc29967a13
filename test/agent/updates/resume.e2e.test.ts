import {strict as assert} from 'node:assert'
import type {ChildProcess} from 'node:child_process'
import {mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as tick} from 'node:timers/promises'
import {startTether} from '../../helpers/cli.js'
import {FakeControlServer, type FakeConnection} from '../helpers/fake-control-server.js'
import {exitOf, stopChild} from '../helpers/support-center.js'
import {AgentConfig, agentFiles, writeAgentConfig} from '../../../src/agent/data-dir.js'
import {updateFiles} from '../../../src/agent/updates/paths.js'
import {FakeUpdateServer} from './helpers/update-server.js'
import {TestTufRepo, custom} from './helpers/tuf-repo.js'
import {params, writeHooks} from './helpers/device.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read loosely-typed wire messages
type Msg = Record<string, any>

/**
 * A real agent process (`tether agent start`, built dist) takes an update job over its mTLS control
 * channel and fetches metadata and package over the same mTLS route. It is killed -9 with half
 * the package on disk; started again and given the job again (as the server re-pushes it), it asks
 * for the rest with Range from the partial offset, installs, and reports the new version.
 */
describe('update download resumes after the agent is killed -9 (e2e)', function () {
  this.timeout(120_000)
  let dir: string
  let server: FakeControlServer
  let updates: FakeUpdateServer
  let child: ChildProcess | undefined
  const pkg = Buffer.alloc(2 * 1024 * 1024)
  for (let i = 0; i < pkg.length; i++) pkg[i] = (i * 7) % 256

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-update-e2e-'))
    server = await FakeControlServer.start()
    const repo = new TestTufRepo()
    repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    updates = new FakeUpdateServer(repo)
    server.onRequest = (req, res) => updates.handle(req, res)
    const files = agentFiles(dir)
    await mkdir(dir, {recursive: true, mode: 0o700})
    await writeFile(files.key, server.deviceCert.key, {mode: 0o600})
    await writeFile(files.cert, server.deviceCert.cert)
    await writeFile(files.serverCa, server.ca.cert)
    await writeAgentConfig(files, AgentConfig.parse({
      version: 1, server: server.url.origin, serial: 'SN-FAKE', model: 'Analyzer X200', pollMs: 100,
      backoff: {baseMs: 100, capMs: 500, stableAfterMs: 60_000, revokedRetryMs: 600_000},
      acceptedJobKinds: ['diagnostics', 'logs', 'updates'],
      updates: {allowed: true, ...(await writeHooks(dir))},
    }))
    await mkdir(files.updates, {recursive: true})
    await writeFile(updateFiles(files.updates).trustedRoot, repo.rootJson)
  })

  after(async () => {
    await stopChild(child)
    await server.stop()
    await rm(dir, {recursive: true, force: true})
  })

  async function startAgent(): Promise<FakeConnection> {
    const before = server.connections.length
    child = startTether(['agent', 'start', '--data-dir', dir], {env: {TETHER_CREDENTIAL_STORE: 'file'}})
    let output = ''
    child.stdout?.on('data', (d) => (output += d))
    child.stderr?.on('data', (d) => (output += d))
    await server.until(() => server.connections.length > before && server.connections.at(-1)!.received.some((m) => m.type === 'hello'), `agent hello (output: ${output})`, 30_000)
    return server.connections.at(-1)!
  }

  const push = (conn: FakeConnection): void =>
    conn.ws.send(JSON.stringify({type: 'job', jobId: 'upd-1', kind: 'update', params: params('2.0.0'), deadline: new Date(Date.now() + 600_000).toISOString()}))

  async function partialSize(): Promise<number> {
    const downloads = updateFiles(agentFiles(dir).updates).downloads
    for (const sha of await readdir(downloads).catch(() => [] as string[])) {
      const size = await stat(join(downloads, sha, 'analyzer-2.0.0.pkg.part')).then((s) => s.size, () => 0)
      if (size > 0) return size
    }
    return 0
  }

  it('resumes from the partial offset after kill -9, installs, and reports the version', async () => {
    const half = pkg.length / 2
    updates.misbehave.stallAfter = half
    const first = await startAgent()
    assert.ok((first.received[0] as Msg).inventory.jobKinds.includes('update'))
    push(first)
    for (let i = 0; i < 3000 && (await partialSize()) < half; i++) await tick(10)
    assert.equal(await partialSize(), half)
    child!.kill('SIGKILL')
    await exitOf(child!)

    updates.misbehave = {}
    const second = await startAgent()
    push(second)
    const received = (): Msg[] => second.received as Msg[]
    const final = (): Msg | undefined => received().find((m) => m.type === 'job-update' && m.jobId === 'upd-1' && m.status !== 'running')
    await server.until(() => final() !== undefined, 'final job update', 60_000)
    assert.equal(final()!.status, 'succeeded', JSON.stringify(final()))
    assert.deepEqual(final()!.result, {installedVersion: '2.0.0', previousVersion: null})
    assert.deepEqual(updates.ranges, [null, `bytes=${half}-`])
    assert.equal(updates.packageBytesServed, pkg.length, 'no byte was fetched twice')
    const phases = received().filter((m) => m.type === 'job-update' && m.progress?.phase).map((m) => m.progress.phase)
    assert.ok(phases.includes('installing') && phases.includes('health-check'), phases.join())
    // Steps travel through the outbox (delivered on the agent's poll), the inventory follows installed.json.
    const steps = (): string[] => received().filter((m) => m.type === 'event' && m.action === 'device.update.step').map((m) => m.details.step)
    await server.until(() => steps().includes('installed'), `device.update.step installed (got ${steps().join()})`, 30_000)
    await server.until(() => received().some((m) => m.type === 'inventory' && m.inventory.softwareVersion === '2.0.0'), 'inventory with softwareVersion 2.0.0', 30_000)
    const hooks = (await readFile(join(dir, 'hooks.log'), 'utf8')).split('\n').filter(Boolean)
    assert.deepEqual(hooks.map((l) => l.split(' ')[0]), ['install', 'health'])
  })
})
