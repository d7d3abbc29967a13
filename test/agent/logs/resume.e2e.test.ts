import {strict as assert} from 'node:assert'
import {createHash, randomBytes} from 'node:crypto'
import {mkdir, readdir, readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {execFile} from 'node:child_process'
import {promisify} from 'node:util'
import {Agent, request} from 'undici'
import {startTether} from '../../helpers/cli.js'
import {adminApi} from '../helpers/admin-api.js'
import {type AgentUnderTest, enrollAgent} from '../helpers/agent-process.js'
import {eventually, exitOf, json, stopChild, SupportCenter} from '../helpers/support-center.js'
import {DB_KINDS} from '../../server/helpers/database.js'
import {ThrottleProxy} from './throttle-proxy.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read loosely-typed API answers
type Loose = any

const MiB = 1024 * 1024

/**
 * Interrupted uploads, real processes: the upload runs through a CONNECT proxy that slows it to
 * a few MB/s (the agent's own proxy support), and the server or the agent is killed -9 in the
 * middle. The bundle still arrives intact, and the upload continued from the committed offset.
 */
for (const kind of DB_KINDS) describe(`log upload resume after kill -9 (${kind}, e2e)`, function () {
  this.timeout(240_000)
  let sc: SupportCenter
  let agent: AgentUnderTest
  let proxy: ThrottleProxy
  let logDir: string
  const SERIAL = `SN-RESUME-${kind}`

  before(async () => {
    sc = await SupportCenter.create({database: kind})
    await sc.start()
    await sc.loginAdmin()
    proxy = await ThrottleProxy.start(3 * MiB)
    agent = await enrollAgent(sc, SERIAL)
    logDir = join(sc.dir, 'device-logs')
    await mkdir(logDir, {recursive: true})
    // Base64 of random bytes: log-like text that gzip cannot shrink much, so the bundle stays large.
    for (const name of ['a.log', 'b.log']) {
      const lines: string[] = []
      for (let i = 0; i < 60_000; i++) lines.push(`2026-11-22T10:00:00Z seq=${i} ${randomBytes(96).toString('base64')}`)
      await writeFile(join(logDir, name), `${lines.join('\n')}\n`)
    }
    await agent.tune({logSources: [`${logDir}/*.log`], logs: {chunkBytes: MiB}})
  })

  after(async () => {
    await agent?.stop()
    await proxy?.stop()
    await sc?.dispose()
  })

  /** The committed offset of the upload in the agent's spool, once one is under way. */
  async function spoolOffset(): Promise<number | undefined> {
    const spool = join(agent.dataDir, 'spool')
    const names = await readdir(spool).catch(() => [] as string[])
    for (const name of names.filter((n) => n.startsWith('upload-') && n.endsWith('.json'))) {
      const state = JSON.parse(await readFile(join(spool, name), 'utf8').catch(() => '{}')) as {offset?: number}
      if (state.offset !== undefined) return state.offset
    }
    return undefined
  }

  async function content(bundleId: string): Promise<Buffer> {
    const creds = JSON.parse(await readFile(join(sc.dir, 'cfg-admin', 'credentials.json'), 'utf8')) as {sessions: Record<string, {accessToken: string}>}
    const dispatcher = new Agent({connect: {ca: await readFile(sc.caFile, 'utf8')}})
    try {
      const res = await request(`${sc.url}/api/v1/logs/${bundleId}/content`, {dispatcher, headers: {authorization: `Bearer ${Object.values(creds.sessions)[0].accessToken}`}})
      const body = Buffer.from(await res.body.arrayBuffer())
      assert.equal(res.statusCode, 200, body.toString().slice(0, 300))
      return body
    } finally {
      await dispatcher.close()
    }
  }

  async function assertSameLogs(bundle: Buffer, into: string): Promise<void> {
    await mkdir(into)
    // A tar.zst since streaming: the system tar reads it (zstd frames), as an engineer's would.
    await writeFile(join(into, 'b.tar.zst'), bundle)
    await promisify(execFile)('tar', ['--zstd', '-xf', join(into, 'b.tar.zst'), '-C', into])
    const rel = logDir.replace(/^\//, '')
    for (const name of ['a.log', 'b.log']) assert.ok((await readFile(join(into, rel, name))).equals(await readFile(join(logDir, name))), `${name} differs`)
  }

  it('the server is killed -9 mid-upload: `tether agent logs upload` waits, resumes, and the bundle is intact', async () => {
    const child = startTether(['agent', 'logs', 'upload', '--json', '--data-dir', agent.dataDir, '--proxy', proxy.url], {env: {TETHER_CREDENTIAL_STORE: 'file'}})
    let stdout = ''
    let stderr = ''
    child.stdout?.on('data', (d) => (stdout += d))
    child.stderr?.on('data', (d) => (stderr += d))
    try {
      const at = await eventually(async () => {
        const o = await spoolOffset()
        return o !== undefined && o >= 3 * MiB ? o : undefined
      }, 'upload under way', 60_000, 50)
      await sc.kill9()
      await new Promise((r) => setTimeout(r, 1000))
      await sc.start(sc.port)
      const code = await exitOf(child)
      assert.equal(code, 0, `stdout: ${stdout}\nstderr: ${stderr}`)
      const r = JSON.parse(stdout) as {bundleId: string; size: number; sha256: string; bytesSent: number}
      // Starting again from 0 would have sent at least size + the offset reached before the kill.
      assert.ok(r.bytesSent < r.size + at, `sent ${r.bytesSent} of ${r.size} (killed at ${at})`)
      const bundle = await content(r.bundleId)
      assert.equal(createHash('sha256').update(bundle).digest('hex'), r.sha256)
      await assertSameLogs(bundle, join(sc.dir, 'pulled-1'))
    } finally {
      await stopChild(child, 'SIGKILL')
    }
  })

  it('the agent is killed -9 mid-upload of a logs job: the restarted agent resumes and the job succeeds', async () => {
    agent.start(['--proxy', proxy.url])
    await eventually(async () => (await agent.status()).state === 'connected', 'agent connected')
    const created = await adminApi(sc, 'POST', `/devices/${SERIAL}/logs`, {})
    assert.equal(created.status, 202, JSON.stringify(created.json))
    const at = await eventually(async () => {
      const o = await spoolOffset()
      return o !== undefined && o >= 3 * MiB ? o : undefined
    }, 'job upload under way', 60_000, 50)
    await stopChild(agent.child, 'SIGKILL')
    agent.start()
    const job: Loose = await eventually(async () => {
      const j = (await adminApi(sc, 'GET', `/jobs/${created.json.id}`)).json
      return ['succeeded', 'failed', 'refused', 'expired', 'cancelled'].includes(j.status) ? j : undefined
    }, 'job final', 90_000)
    assert.equal(job.status, 'succeeded', JSON.stringify(job))
    const local = json<{entries: Array<{action: string; details: {jobId?: string; resumedFrom?: number}}>}>(await agent.run(['agent', 'audit', '--json']))
    const uploaded = local.entries.find((e) => e.action === 'logs.uploaded' && e.details.jobId === job.id)
    assert.ok(uploaded && uploaded.details.resumedFrom! >= at - MiB, `resumed from ${uploaded?.details.resumedFrom}, killed at ${at}`)
    const bundle = await content(job.result.bundleId)
    assert.equal(createHash('sha256').update(bundle).digest('hex'), job.result.sha256)
    await assertSameLogs(bundle, join(sc.dir, 'pulled-2'))
  })
})
