/**
 * bench/logs-pull (issue #16): the same generated logs three ways, in one run.
 *   1. Tether end to end: request (admin API) -> the running agent collects (tar + zstd on
 *      every core) and streams the bundle up while collecting -> the server seals it at rest
 *      and verifies it -> `tether logs pull` decrypts, streams, verifies the SHA-256.
 *   2. The hand-made pipeline: `tar -cf - LOGS | zstd -1 -T0 | curl -T -` to a plain node HTTPS
 *      server on this machine, then `curl -o` of the result.
 *   3. The raw logs the same way without zstd (`tar | curl -T -`, then curl): the old baseline.
 * Once on loopback, once with the device's leg through a limited link (100 Mbit/s, 20 ms RTT:
 * tc tbf + a delaying relay in a network namespace the bench creates and deletes; needs root).
 * Prints times, ratios, peak RSS per process and the device's CPU seconds.
 *
 *   npm run build && node --import tsx bench/logs-pull.ts [--mb 1024] [--kind realistic|incompressible] [--link both|loopback|limited]
 */
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {createReadStream, createWriteStream} from 'node:fs'
import {mkdtemp, readdir, readFile, rm, stat} from 'node:fs/promises'
import {createServer} from 'node:https'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pipeline} from 'node:stream/promises'
import {parseArgs} from 'node:util'
import {adminApi} from '../test/agent/helpers/admin-api.js'
import {AgentUnderTest} from '../test/agent/helpers/agent-process.js'
import {eventually, expectExit, stopChild, SupportCenter} from '../test/agent/helpers/support-center.js'
import {BIN, testEnv} from '../test/helpers/cli.js'
import {childrenCpu, cpuSeconds, createLinkNamespace, DelayRelay, deleteLinkNamespace, memoryKb, startRelayIn, watchRss} from './logs-pull-link.js'
import {generateLogs, type LogKind} from './log-generator.js'

const {values} = parseArgs({options: {mb: {type: 'string', default: '1024'}, kind: {type: 'string', default: 'realistic'}, link: {type: 'string', default: 'both'}}})
const KIND = values.kind as LogKind
const TOTAL = Number(values.mb) * 1024 * 1024
if (!['realistic', 'incompressible'].includes(KIND)) throw new Error('--kind must be realistic or incompressible')
if (!(TOTAL > 0 && TOTAL <= 4 * 1024 ** 3)) throw new Error('--mb must be 1..4096')
const RATE_MBIT = 100
const RTT_MS = 20
const NS = 'tether-bench-link'

interface Timed {
  code: number | null
  stdout: string
  stderr: string
  ms: number
  hwmKb: number
}

function timed(file: string, argv: string[], env: Record<string, string | undefined> = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(file, argv, {env: testEnv(env), stdio: ['ignore', 'pipe', 'pipe']})
    const peak = watchRss(child)
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({code, stdout, stderr, ms: performance.now() - started, hwmKb: peak()}))
  })
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`

/** One scenario, in this process's network namespace; `limited`: the device's leg through the shaped relay. */
async function scenario(logDir: string, limited: boolean): Promise<void> {
  const logNames = (await readdir(logDir)).filter((n) => n.endsWith('.log')).sort()
  const logBytes = (await Promise.all(logNames.map((n) => stat(join(logDir, n))))).reduce((n, s) => n + s.size, 0)
  const sc = await SupportCenter.create()
  const relays: DelayRelay[] = []
  const relayChildren: ChildProcess[] = []
  let agentProcess: ChildProcess | undefined
  let plain: ReturnType<typeof createServer> | undefined
  try {
    await sc.start()
    const serverPeak = watchRss(sc.server!)
    await sc.loginAdmin()
    // The plain HTTPS server of the hand-made pipeline: PUT stores the body, GET serves it back.
    const tlsDir = join(sc.dir, 'data', 'tls')
    const [cert, key] = await Promise.all([readFile(join(tlsDir, 'server.crt')), readFile(join(tlsDir, 'server.key'))])
    plain = createServer({cert, key}, (req, res) => {
      const file = join(sc.dir, `plain${req.url!.replace(/\W/g, '-')}`)
      if (req.method === 'PUT') void pipeline(req, createWriteStream(file)).then(() => res.writeHead(200).end(), () => res.writeHead(500).end())
      else void stat(file).then((s) => {
        res.writeHead(200, {'content-length': String(s.size)})
        createReadStream(file, {highWaterMark: 1 << 20}).pipe(res)
      })
    })
    await new Promise<void>((resolve) => plain!.listen(0, '127.0.0.1', resolve))
    const plainPort = (plain.address() as AddressInfo).port
    // The device side: on this loopback, or in the namespace behind the shaped, delaying relay.
    let agentPort = sc.port
    let uploadPort = plainPort
    const onDevice = (argv: string[]): [string, string[]] => (limited ? ['ip', ['netns', 'exec', NS, ...argv]] : [argv[0]!, argv.slice(1)])
    if (limited) {
      const link = async (target: number, name: string): Promise<number> => {
        const path = join(sc.dir, `${name}.sock`)
        const bridge = new DelayRelay({port: target}, 0)
        relays.push(bridge)
        await bridge.start({path})
        const {port, child} = await startRelayIn(NS, path, RTT_MS / 2)
        relayChildren.push(child)
        return port
      }
      agentPort = await link(sc.port, 'server')
      uploadPort = await link(plainPort, 'plain')
    }

    const agent = new AgentUnderTest(join(sc.dir, 'agent'))
    const token = await sc.enrollToken('SN-BENCH-1')
    expectExit(await timed(...onDevice([process.execPath, BIN, 'agent', 'enroll', '--data-dir', agent.dataDir, '--server', `https://127.0.0.1:${agentPort}`, '--token', token, '--model', 'X200', '--fingerprint', sc.caFingerprint, '--json']), {TETHER_CREDENTIAL_STORE: 'file'}), 0)
    await agent.tune({logSources: [join(logDir, '*.log')], logs: {maxBundleBytes: 4 * 1024 ** 3}})
    const [agentFile, agentArgs] = onDevice([process.execPath, BIN, 'agent', 'start', '--data-dir', agent.dataDir])
    agentProcess = spawn(agentFile, agentArgs, {env: testEnv({TETHER_CREDENTIAL_STORE: 'file'}), stdio: 'ignore'})
    await eventually(async () => (await adminApi(sc, 'GET', '/devices/SN-BENCH-1')).json.online === true, 'agent online', 30_000, 100)

    process.stderr.write(`[${limited ? 'limited' : 'loopback'}] 1. tether: request -> collect + streamed upload -> pull\n`)
    const cpu0 = (await cpuSeconds(agentProcess.pid!))!
    const t0 = performance.now()
    const created = await adminApi(sc, 'POST', '/devices/SN-BENCH-1/logs', {})
    let job = created.json as {id: string; status: string; result: {bundleId: string; size: number; sha256: string} | null; error: unknown}
    // The bench polls every 50 ms (the CLI's --wait backs off up to seconds: that is not the work measured).
    for (const deadline = Date.now() + 30 * 60_000; !['succeeded', 'failed', 'refused', 'expired'].includes(job.status) && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 50))
      job = (await adminApi(sc, 'GET', `/jobs/${job.id}`)).json
    }
    const collectedMs = performance.now() - t0
    if (job.status !== 'succeeded' || !job.result) throw new Error(`logs job ${job.status}: ${JSON.stringify(job.error)}`)
    const agentCpu = (await cpuSeconds(agentProcess.pid!))! - cpu0
    const bundle = job.result
    const pulledFile = join(sc.dir, 'pulled.tar.zst')
    const pull = await timed(process.execPath, [BIN, 'logs', 'pull', bundle.bundleId, '-o', pulledFile, '--json'], sc.adminEnv())
    expectExit(pull, 0)
    if ((await sha256File(pulledFile)) !== bundle.sha256) throw new Error('pulled bundle differs')
    const tetherMs = collectedMs + pull.ms

    const ca = sc.caFile
    const device = async (compress: boolean, name: string) => {
      const zstd = compress ? ' | zstd -1 -T0 -q' : ''
      const cmd = `set -o pipefail; tar -cf - -C '${logDir}' ${logNames.join(' ')}${zstd} | curl -sS --fail --cacert '${ca}' -T - https://localhost:${uploadPort}/${name} -o /dev/null; times`
      return timed(...onDevice(['bash', '-c', cmd]))
    }
    const fetchBack = (name: string) => timed('curl', ['-sS', '--fail', '--cacert', ca, '-o', join(sc.dir, `back-${name}`), `https://localhost:${plainPort}/${name}`])
    process.stderr.write(`[${limited ? 'limited' : 'loopback'}] 2. tar | zstd -1 -T0 | curl -T -, then curl\n`)
    const handUp = await device(true, 'bundle')
    expectExit(handUp, 0)
    const handDown = await fetchBack('bundle')
    expectExit(handDown, 0)
    const handBytes = (await stat(join(sc.dir, 'back-bundle'))).size
    process.stderr.write(`[${limited ? 'limited' : 'loopback'}] 3. tar | curl -T - (raw), then curl\n`)
    const rawUp = await device(false, 'raw')
    expectExit(rawUp, 0)
    const rawDown = await fetchBack('raw')
    expectExit(rawDown, 0)
    // The compression alone, for the CPU comparison: the zstd CLI on the same tar stream.
    const zstdOnly = await timed('bash', ['-c', `set -o pipefail; tar -cf - -C '${logDir}' ${logNames.join(' ')} | zstd -1 -T0 -q > /dev/null; times`])
    const agentHwm = (await memoryKb(agentProcess.pid!)).hwm
    expectExit(zstdOnly, 0)

    const handMs = handUp.ms + handDown.ms
    const rawMs = rawUp.ms + rawDown.ms
    const gib = logBytes / 1024 ** 3
    const link = limited ? `device leg at ${RATE_MBIT} Mbit/s, ${RTT_MS} ms RTT (tc tbf + delaying relay, netns)` : 'loopback'
    console.log(`\n### ${link}: ${(logBytes / 1e6).toFixed(0)} MB of ${KIND} logs in ${logNames.length} files\n`)
    console.log('| way | time | of which device leg | bundle |\n|---|---|---|---|')
    console.log(`| 1. tether: request -> collected + streamed -> stored encrypted -> pulled, verified | ${secs(tetherMs)} | ${secs(collectedMs)} (pull ${secs(pull.ms)}) | ${(bundle.size / 1e6).toFixed(0)} MB tar.zst (${(logBytes / bundle.size).toFixed(2)}x) |`)
    console.log(`| 2. tar \\| zstd -1 -T0 \\| curl -T -, then curl | ${secs(handMs)} | ${secs(handUp.ms)} (download ${secs(handDown.ms)}) | ${(handBytes / 1e6).toFixed(0)} MB |`)
    console.log(`| 3. tar \\| curl -T - (raw), then curl | ${secs(rawMs)} | ${secs(rawUp.ms)} (download ${secs(rawDown.ms)}) | ${(logBytes / 1e6).toFixed(0)} MB |`)
    const target = limited ? 1.1 : 1.25
    console.log(`\ntether / hand-made: ${(tetherMs / handMs).toFixed(2)}x (target <= ${target}x); raw / tether: ${(rawMs / tetherMs).toFixed(2)}x faster${limited ? ' (target >= 5x)' : ''}`)
    console.log(`device CPU per GiB: tether agent ${(agentCpu / gib).toFixed(2)} s, hand-made device side (tar + zstd + curl) ${(childrenCpu(handUp.stdout) / gib).toFixed(2)} s, zstd CLI alone (with tar) ${(childrenCpu(zstdOnly.stdout) / gib).toFixed(2)} s; agent / zstd CLI ${(agentCpu / childrenCpu(zstdOnly.stdout)).toFixed(2)}x (target <= 1.5x)`)
    console.log(`peak RSS: agent ${mb(agentHwm)}, server ${mb(serverPeak())}, CLI ${mb(pull.hwmKb)}, curl ${mb(handDown.hwmKb)} (target < 150 MB each)`)
  } finally {
    plain?.close()
    if (agentProcess) await stopChild(agentProcess)
    for (const c of relayChildren) c.kill()
    for (const r of relays) await r.stop()
    await sc.dispose()
  }
}

const logDir = await mkdtemp(join(tmpdir(), 'tether-bench-logs-'))
try {
  process.stderr.write(`generating ${(TOTAL / 1024 ** 2).toFixed(0)} MiB of ${KIND} logs…\n`)
  await generateLogs(logDir, TOTAL, 16, KIND)
  spawnSync('sync')
  if (values.link !== 'limited') await scenario(logDir, false)
  if (values.link !== 'loopback') {
    if (process.getuid?.() !== 0) console.log('\nlimited link: skipped (a network namespace needs root: sudo, or --link loopback)')
    else {
      // A fresh namespace: only its own loopback exists, so nothing can leave the machine.
      createLinkNamespace(NS, RATE_MBIT)
      try {
        await scenario(logDir, true)
      } finally {
        deleteLinkNamespace(NS)
      }
    }
  }
} finally {
  await rm(logDir, {recursive: true, force: true})
}
