import {strict as assert} from 'node:assert'
import {createHash} from 'node:crypto'
import {mkdir, readFile, writeFile} from 'node:fs/promises'
import {hostname} from 'node:os'
import {join} from 'node:path'
import {execFile} from 'node:child_process'
import {promisify} from 'node:util'
import {Agent, request} from 'undici'
import {adminApi} from '../helpers/admin-api.js'
import {type AgentUnderTest, enrollAgent} from '../helpers/agent-process.js'
import {eventually, expectExit, json, SupportCenter} from '../helpers/support-center.js'
import {DB_KINDS} from '../../server/helpers/database.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read loosely-typed API answers
type Loose = any

/**
 * The agent's side of diagnostics and logs against a real support center, both real processes
 * on loopback: a diagnostic returns data from this machine, a refused kind is refused and in
 * both audits, and a device-initiated upload arrives byte for byte.
 */
for (const kind of DB_KINDS) describe(`agent jobs and log uploads against a real server (${kind}, e2e)`, function () {
  this.timeout(180_000)
  let sc: SupportCenter
  let agent: AgentUnderTest
  let logDir: string
  const SERIAL = `SN-JOBS-${kind}`

  before(async () => {
    sc = await SupportCenter.create({database: kind})
    await sc.start()
    await sc.loginAdmin()
    agent = await enrollAgent(sc, SERIAL)
    logDir = join(sc.dir, 'device-logs')
    await mkdir(join(logDir, 'sub'), {recursive: true})
    await writeFile(join(logDir, 'app.log'), Array.from({length: 20_000}, (_, i) => `2026-11-22T10:00:00Z line ${i} value=${i * 7}\n`).join(''))
    await writeFile(join(logDir, 'sub', 'pump.log'), 'pump ok\n'.repeat(1000))
    await agent.tune({logSources: [`${logDir}/**/*.log`], diagnostics: {'say-hello': {command: ['/bin/echo', 'hello from the device'], timeoutSeconds: 5}}})
    agent.start()
    await eventually(async () => (await agent.status()).state === 'connected', 'agent connected')
  })

  after(async () => {
    await agent?.stop()
    await sc?.dispose()
  })

  async function waitJob(id: string): Promise<Loose> {
    return eventually(async () => {
      const job = (await adminApi(sc, 'GET', `/jobs/${id}`)).json
      return ['succeeded', 'failed', 'refused', 'expired', 'cancelled'].includes(job.status) ? job : undefined
    }, `job ${id} final`, 30_000)
  }

  it('the server knows the catalogue from the inventory', async () => {
    const cat = await eventually(async () => {
      const r = (await adminApi(sc, 'GET', `/devices/${SERIAL}/diagnostics`)).json
      return r.diagnostics?.includes('say-hello') ? r : undefined
    }, 'catalogue reported')
    assert.ok(cat.diagnostics.includes('system-info'))
    assert.deepEqual(cat.jobKinds, ['diagnostic', 'logs'])
  })

  it('system-info returns data from the agent machine', async () => {
    const created = await adminApi(sc, 'POST', `/devices/${SERIAL}/diagnostics`, {name: 'system-info'})
    assert.equal(created.status, 202, JSON.stringify(created.json))
    const job = await waitJob(created.json.id)
    assert.equal(job.status, 'succeeded', JSON.stringify(job))
    assert.equal(job.result.data.hostname, hostname())
    assert.equal(job.result.data.agent.serial, SERIAL)
    const script = await waitJob((await adminApi(sc, 'POST', `/devices/${SERIAL}/diagnostics`, {name: 'say-hello'})).json.id)
    assert.equal(script.result.data.stdout, 'hello from the device\n')
  })

  it('server-reachability probes the agent server by the agent route, trusting the enrolled CA', async () => {
    const job = await waitJob((await adminApi(sc, 'POST', `/devices/${SERIAL}/diagnostics`, {name: 'server-reachability'})).json.id)
    assert.equal(job.status, 'succeeded', JSON.stringify(job))
    const probe = job.result.data.probes[0]
    assert.equal(probe.port, sc.port)
    assert.equal(probe.tcp.status, 'open')
    assert.equal(job.result.data.ok, true, JSON.stringify(probe))
  })

  it('`tether diag run SERIAL system-info --wait --json` returns data from the agent machine', async () => {
    const r = await sc.admin(['diag', 'run', SERIAL, 'system-info', '--wait', '--timeout', '30s', '--json'])
    const job = json<Loose>(expectExit(r, 0))
    assert.equal(job.status, 'succeeded')
    assert.equal(job.result.data.hostname, hostname())
    assert.equal(job.result.data.agent.serial, SERIAL)
    const unknown = await sc.admin(['diag', 'run', SERIAL, 'no-such-check', '--wait', '--json'])
    // The server already knows the catalogue from the inventory and refuses the name (usage, exit 2);
    // the agent would refuse it too (UNKNOWN_DIAGNOSTIC, test/agent/jobs/device-jobs.test.ts).
    expectExit(unknown, 2)
    assert.match(unknown.stdout + unknown.stderr, /not in the diagnostics catalogue/)
  })

  it('a kind the device does not accept is refused, and audited on both sides', async () => {
    const config = JSON.parse(await readFile(join(agent.dataDir, 'agent.json'), 'utf8'))
    await agent.tune({acceptedJobKinds: ['diagnostics'], logSources: config.logSources, diagnostics: config.diagnostics})
    try {
      const created = await adminApi(sc, 'POST', `/devices/${SERIAL}/logs`, {})
      assert.equal(created.status, 202, JSON.stringify(created.json))
      const job = await waitJob(created.json.id)
      assert.equal(job.status, 'refused')
      assert.equal(job.error.code, 'KIND_NOT_ALLOWED')
      const local = json<{entries: Array<{action: string; details: {jobId?: string}}>}>(await agent.run(['agent', 'audit', '--json']))
      assert.ok(local.entries.some((e) => e.action === 'device.job.refused' && e.details.jobId === job.id))
      await eventually(async () => {
        const events = (await adminApi(sc, 'GET', `/audit/events?device=${SERIAL}&limit=1000`)).json.events as Array<{action: string; details: {jobId?: string}}>
        // The server's own record of the job's end, and the device's event from its registry.
        return events.some((e) => e.action === 'job.refused') && events.some((e) => e.action === 'device.job.refused' && e.details.jobId === job.id)
      }, 'server audit has the refusal')
    } finally {
      await agent.tune({acceptedJobKinds: ['diagnostics', 'logs'], logSources: config.logSources, diagnostics: config.diagnostics})
    }
  })

  it('`tether agent logs upload` produces a bundle the server returns byte for byte', async () => {
    const r = json<{bundleId: string; size: number; sha256: string; files: number}>(expectExit(await agent.run(['agent', 'logs', 'upload', '--since', '24h', '--json']), 0))
    assert.equal(r.files, 2)
    const ca = await readFile(sc.caFile, 'utf8')
    const creds = JSON.parse(await readFile(join(sc.dir, 'cfg-admin', 'credentials.json'), 'utf8')) as {sessions: Record<string, {accessToken: string}>}
    const dispatcher = new Agent({connect: {ca}})
    let body: Buffer
    try {
      const res = await request(`${sc.url}/api/v1/logs/${r.bundleId}/content`, {dispatcher, headers: {authorization: `Bearer ${Object.values(creds.sessions)[0].accessToken}`}})
      body = Buffer.from(await res.body.arrayBuffer())
      assert.equal(res.statusCode, 200, body.toString().slice(0, 300))
    } finally {
      await dispatcher.close()
    }
    assert.equal(body.length, r.size)
    assert.equal(createHash('sha256').update(body).digest('hex'), r.sha256)
    const out = join(sc.dir, 'pulled')
    await mkdir(out)
    // A tar.zst since streaming: the system tar reads it (zstd frames), as an engineer's would.
    await writeFile(join(out, 'b.tar.zst'), body)
    await promisify(execFile)('tar', ['--zstd', '-xf', join(out, 'b.tar.zst'), '-C', out])
    const rel = logDir.replace(/^\//, '')
    for (const name of ['app.log', 'sub/pump.log']) assert.deepEqual(await readFile(join(out, rel, name)), await readFile(join(logDir, name)), name)
    const bundles = (await adminApi(sc, 'GET', `/logs?device=${SERIAL}`)).json.bundles as Array<{id: string; initiator: string}>
    assert.equal(bundles.find((b) => b.id === r.bundleId)?.initiator, 'device')
  })

  it('a logs job: the agent collects, uploads and reports the bundle', async () => {
    const created = await adminApi(sc, 'POST', `/devices/${SERIAL}/logs`, {since: new Date(Date.now() - 86_400_000).toISOString()})
    const job = await waitJob(created.json.id)
    assert.equal(job.status, 'succeeded', JSON.stringify(job))
    const bundles = (await adminApi(sc, 'GET', `/logs?device=${SERIAL}`)).json.bundles as Array<{id: string; initiator: string; jobId: string | null}>
    const bundle = bundles.find((b) => b.id === job.result.bundleId)
    assert.equal(bundle?.initiator, 'user')
    assert.equal(bundle?.jobId, job.id)
  })
})
