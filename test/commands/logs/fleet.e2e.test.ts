import {strict as assert} from 'node:assert'
import {execFile} from 'node:child_process'
import {mkdir, readdir, readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {promisify} from 'node:util'
import nock from 'nock'
import type {DeviceAgent} from '../../../src/agent/agent.js'
import {AgentConfig, agentFiles, writeAgentConfig} from '../../../src/agent/data-dir.js'
import {openDatabase, type OpenedDatabase} from '../../../src/server/db/connect.js'
import {issueDeviceDirect} from '../../../src/server/enrollment/direct-issue.js'
import {loadCa, type LoadedCa} from '../../../src/server/pki/ca.js'
import {createAgent} from '../../../src/agent/runtime.js'
import type {FleetResult} from '../../../src/client/logs-fleet.js'
import {adminApi} from '../../agent/helpers/admin-api.js'
import {quietLog} from '../../agent/helpers/scripted-agent.js'
import {eventually, expectExit, json, SupportCenter} from '../../agent/helpers/support-center.js'
import {runTether} from '../../helpers/cli.js'

const run = promisify(execFile)

/**
 * The fleet commands against a real server with 20 enrolled devices of one model at one site:
 * 17 online, 2 offline, 1 whose agent refuses logs jobs. Plus, online and of the same model,
 * a device at another site (outside the engineer's scope) and one of another model. The agents
 * run in this process (real DeviceAgents over mTLS, enrolled with real tokens): 20 agent
 * processes would not fit next to the other suites on a 2-core machine.
 */
describe('logs request / pull over many devices (e2e)', function () {
  this.timeout(240_000)
  let sc: SupportCenter
  const agents: Array<{agent: DeviceAgent; running: Promise<void>}> = []
  const serials = Array.from({length: 20}, (_, i) => `SN-F${String(i + 1).padStart(2, '0')}`)
  const OFFLINE = ['SN-F07', 'SN-F13']
  const REFUSING = 'SN-F05'
  const envOf = () => ({...sc.adminEnv(), TETHER_CONFIG_DIR: join(sc.dir, 'cfg-eng')})
  const eng = (args: string[]) => runTether(args, {env: envOf()})

  let database: OpenedDatabase | undefined
  let deviceCa: LoadedCa

  /**
   * Registers a device (site, model) through the API, then issues its certificate directly with
   * the device CA (the fast path of the fan-in bench: enrollment over HTTP is limited to 10 a
   * minute per address) and writes its data dir as `tether agent enroll` would.
   */
  const enroll = async (serial: string, site: string, model: string, extra: Record<string, unknown> = {}): Promise<string> => {
    const created = await adminApi(sc, 'POST', '/devices/enroll-tokens', {serial, model, customer: 'st-mary', site, ttlSeconds: 3600})
    assert.equal(created.status, 201, JSON.stringify(created.json))
    const issued = await issueDeviceDirect(database!.db, deviceCa, {serial, customer: 'st-mary'})
    const dataDir = join(sc.dir, 'agents', serial)
    const files = agentFiles(dataDir)
    const logDir = join(dataDir, 'logs')
    await mkdir(logDir, {recursive: true})
    await writeFile(files.key, issued.keyPem, {mode: 0o600})
    await writeFile(files.cert, issued.certPem)
    await writeFile(files.serverCa, await readFile(sc.caFile, 'utf8'))
    await writeFile(join(logDir, 'device.log'), `${serial} analyzer started\n`.repeat(2000))
    const backoff = {baseMs: 200, capMs: 1000, stableAfterMs: 1000, revokedRetryMs: 600_000}
    await writeAgentConfig(files, AgentConfig.parse({version: 1, server: sc.url, serial, logSources: [join(logDir, '*.log')], backoff, pollMs: 200, ...extra}))
    return dataDir
  }
  const start = async (dataDir: string) => {
    const {agent} = await createAgent({dataDir, agentVersion: '9.9.9', log: quietLog, env: {}})
    agents.push({agent, running: agent.run()})
  }

  before(async () => {
    // The agents' WebSockets go through https.request with their own CA: nock must not wrap it.
    nock.restore()
    sc = await SupportCenter.create()
    await sc.start()
    await sc.loginAdmin()
    database = await openDatabase(join(sc.dir, 'data', 'tether.db'))
    deviceCa = await loadCa(join(sc.dir, 'data', 'device-ca', 'ca.crt'), join(sc.dir, 'data', 'device-ca', 'ca.key'))
    for (const site of ['icu', 'lab']) assert.equal((await adminApi(sc, 'POST', '/sites', {id: site, customer: 'st-mary', name: site})).status, 201)
    for (const serial of serials) {
      const dir = await enroll(serial, 'icu', 'X200', serial === REFUSING ? {acceptedJobKinds: ['diagnostics']} : {})
      if (!OFFLINE.includes(serial)) await start(dir)
    }
    await start(await enroll('SN-LAB', 'lab', 'X200'))
    await start(await enroll('SN-OTHER', 'icu', 'Y9'))
    // An engineer scoped to the ICU of St. Mary's (TOTP enrolment as at any first login).
    const pw = 'Another-Horse-Battery-7'
    expectExit(await sc.admin(['users', 'add', '--username', 'eng-icu', '--role', 'service-engineer', '--customer', 'st-mary/icu', '--password-stdin', '--json'], pw), 0)
    const base = ['login', '--server', sc.url, '--ca', sc.caFile, '--username', 'eng-icu', '--password-stdin', '--json']
    const first = json<{otpauthUri: string}>(expectExit(await runTether(base, {env: envOf(), input: pw}), 3))
    const {URI} = await import('otpauth')
    const totp = (steps: number) => (URI.parse(first.otpauthUri) as import('otpauth').TOTP).generate({timestamp: Date.now() + steps * 30_000})
    expectExit(await runTether([...base, '--totp', totp(0)], {env: envOf(), input: pw}), 3)
    expectExit(await runTether([...base, '--totp', totp(1)], {env: envOf(), input: pw}), 0)
    await eventually(async () => {
      const {json: list} = await adminApi(sc, 'GET', '/devices?customer=st-mary')
      return (list.devices as Array<{online: boolean}>).filter((d) => d.online).length === 20
    }, '20 devices online (17 + refusing + lab + other model)', 60_000, 500)
  })
  after(async () => {
    for (const a of agents) await a.agent.stop()
    await Promise.all(agents.map((a) => a.running))
    await database?.close()
    await sc?.dispose()
    nock.activate()
  })

  it('request --wait: 17 succeeded, 2 offline listed (not waited for), 1 refused; exit 1; out-of-scope devices never asked', async () => {
    const r = await eng(['logs', 'request', '--customer', 'st-mary', '--model', 'X200', '--since', '1h', '--wait', '--timeout', '90s', '--concurrency', '8', '--json'])
    expectExit(r, 1)
    const result = json<FleetResult>(r)
    assert.deepEqual(result.devices.map((d) => d.serial), serials, 'every X200 at the ICU, and only those')
    const by = (state: string) => result.devices.filter((d) => d.state === state).map((d) => d.serial)
    assert.deepEqual(by('offline'), OFFLINE)
    assert.deepEqual(by('refused'), [REFUSING])
    assert.equal(by('succeeded').length, 17)
    assert.equal(result.succeeded, 17)
    for (const d of result.devices.filter((x) => x.state === 'succeeded')) assert.ok(d.bundleId && d.size && d.size > 0, JSON.stringify(d))
    assert.match(result.devices.find((d) => d.serial === REFUSING)?.error ?? '', /KIND_NOT_ALLOWED|logs/i)
    // Out of scope (another site) and not matching (another model): never asked.
    for (const serial of ['SN-LAB', 'SN-OTHER']) assert.deepEqual((await adminApi(sc, 'GET', `/jobs?device=${serial}`)).json.jobs, [], serial)
  })

  it('pull --since-request: the 17 newest bundles into DIR/, a table, exit 1 for the 3 without one', async () => {
    const dir = join(sc.dir, 'pulled')
    const r = await eng(['logs', 'pull', '--customer', 'st-mary', '--model', 'X200', '--since-request', '1h', '-o', `${dir}/`])
    expectExit(r, 1)
    assert.match(r.stdout, /17 of 20 devices succeeded\./)
    for (const serial of [...OFFLINE, REFUSING]) assert.match(r.stdout, new RegExp(`${serial}\\W+no-bundle\\b`))
    const files = (await readdir(dir)).sort()
    assert.equal(files.length, 17)
    assert.ok(files.every((f) => f.endsWith('.tar.zst')))
    const first = files[0]!
    const {stdout} = await run('tar', ['--zstd', '-xOf', join(dir, first)])
    assert.match(stdout, new RegExp(`^${first.slice(0, 6)} analyzer started$`, 'm'))
    const again = json<FleetResult>(await eng(['logs', 'pull', '--customer', 'st-mary', '--site', 'icu', '--model', 'X200', '--since-request', '1h', '-o', join(sc.dir, 'again'), '--json']))
    assert.equal(again.succeeded, 17)
  })

  it('refuses a serial together with --customer, and --site without --customer (exit 2)', async () => {
    expectExit(await eng(['logs', 'request', 'SN-F01', '--customer', 'st-mary']), 2)
    expectExit(await eng(['logs', 'request', '--site', 'icu']), 2)
    expectExit(await eng(['logs', 'pull', '--customer', 'st-mary']), 2)
  })
})
