/**
 * bench/logs-pull: a generated log set goes agent -> server (encrypted at rest) -> CLI, next to
 * a plain `curl` HTTPS download of the same size from a minimal node https static server.
 * Real processes (the built binary), loopback only. Prints MB/s of each leg, the ratios to
 * curl, and the peak RSS (VmHWM from /proc) of agent, server and CLI.
 *
 *   npm run build && node --import tsx bench/logs-pull.ts [--mb 1024] [--kind realistic|incompressible] [--keep]
 *
 * Legs: upload = `tether agent logs upload` (collect: tar + parallel gzip into the spool, then
 * the chunked mTLS upload, sealed segment by segment on the server); pull = `tether logs pull
 * -o FILE` (decrypt, stream, SHA-256 verify, temp file + rename). Baselines: `curl --cacert …
 * -o FILE` from a node https server with the same server certificate, of the log files
 * themselves (the same size: the end-to-end comparison) and of the bundle (the same bytes as
 * the pull), best of three each. End to end = log bytes / (upload + pull time), against curl
 * of the log bytes.
 */
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {readdir, readFile, rm, stat} from 'node:fs/promises'
import {createServer} from 'node:https'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import {AgentUnderTest} from '../test/agent/helpers/agent-process.js'
import {expectExit, json, SupportCenter} from '../test/agent/helpers/support-center.js'
import {BIN, testEnv} from '../test/helpers/cli.js'
import {Agent, request} from 'undici'
import {AGENT_UPLOADS_PATH, UPLOAD_CHUNK_BYTES} from '../src/protocol/agent/jobs.js'
import {generateLogs, type LogKind} from './log-generator.js'

const {values} = parseArgs({options: {mb: {type: 'string', default: '1024'}, kind: {type: 'string', default: 'realistic'}, keep: {type: 'boolean', default: false}}})
if (values.kind !== 'realistic' && values.kind !== 'incompressible') throw new Error('--kind must be realistic or incompressible')
const KIND = values.kind as LogKind
const TOTAL = Number(values.mb) * 1024 * 1024
if (!(TOTAL > 0 && TOTAL <= 4 * 1024 ** 3)) throw new Error('--mb must be 1..4096')
const FILES = 16

interface Timed {
  code: number | null
  stdout: string
  stderr: string
  ms: number
  /** Peak RSS in KiB (last VmHWM read before exit). */
  hwmKb: number
}

/** VmHWM (peak) and VmRSS (now) of a process, in KiB; 0 once it is gone. */
async function memoryKb(pid: number): Promise<{hwm: number; rss: number}> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(text)?.[1] ?? 0)
  return {hwm: field('VmHWM'), rss: field('VmRSS')}
}

/**
 * Polls a child's memory every 50 ms; returns a function giving the peak so far. With
 * BENCH_RSS_TRACE=1 it also prints the RSS over time when the child exits.
 */
function watchRss(child: ChildProcess): () => number {
  let peak = 0
  const started = performance.now()
  const trace: string[] = []
  const timer = setInterval(() => {
    if (!child.pid) return
    void memoryKb(child.pid).then(({hwm, rss}) => {
      peak = Math.max(peak, hwm)
      if (process.env.BENCH_RSS_TRACE && rss > 0) trace.push(`${((performance.now() - started) / 1000).toFixed(1)}s:${Math.round(rss / 1024)}`)
    })
  }, 50)
  child.once('exit', () => {
    clearInterval(timer)
    if (trace.length > 10) process.stderr.write(`RSS MB over time: ${trace.filter((_, i) => i % 4 === 0).join(' ')}\n`)
  })
  return () => peak
}

function timed(argv: string[], env: Record<string, string | undefined>, file = process.execPath): Promise<Timed> {
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

const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000)
const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`

const sc = await SupportCenter.create()
let agent: AgentUnderTest | undefined
let staticServer: ReturnType<typeof createServer> | undefined
try {
  await sc.start()
  const serverPeak = watchRss(sc.server!)
  await sc.loginAdmin()
  agent = new AgentUnderTest(join(sc.dir, 'agent'))
  const token = await sc.enrollToken('SN-BENCH-1')
  expectExit(await agent.run(['agent', 'enroll', '--server', sc.url, '--token', token, '--model', 'X200', '--fingerprint', sc.caFingerprint, '--json']), 0)
  const logDir = join(sc.dir, 'device-logs')
  process.stderr.write(`generating ${(TOTAL / 1024 ** 2).toFixed(0)} MiB of ${KIND} logs…\n`)
  await generateLogs(logDir, TOTAL, FILES, KIND)
  const logNames = (await readdir(logDir)).sort()
  const logBytes = (await Promise.all(logNames.map((n) => stat(join(logDir, n))))).reduce((n, s) => n + s.size, 0)
  // The generated files reach the disk before anything is timed (write-back would slow the legs).
  spawnSync('sync')
  await agent.tune({logSources: [join(logDir, '*.log')], logs: {maxBundleBytes: 4 * 1024 ** 3}})

  const serverIdleKb = (await memoryKb(sc.server!.pid!)).hwm
  process.stderr.write('leg 1: tether agent logs upload…\n')
  const up = await timed([BIN, 'agent', 'logs', 'upload', '--data-dir', agent.dataDir, '--json'], {TETHER_CREDENTIAL_STORE: 'file'})
  expectExit(up, 0)
  const upload = JSON.parse(up.stdout) as {bundleId: string; size: number; sha256: string}

  process.stderr.write('leg 2: tether logs pull…\n')
  const pulled = join(sc.dir, 'pulled.tar.gz')
  const serverAfterUploadKb = serverPeak()
  const pull = await timed([BIN, 'logs', 'pull', upload.bundleId, '-o', pulled, '--json'], sc.adminEnv())
  expectExit(pull, 0)
  const pullDoc = json<{bytes: number; sha256: string}>({code: 0, stdout: pull.stdout, stderr: '', ms: 0})
  if (pullDoc.sha256 !== upload.sha256) throw new Error('pulled bundle SHA-256 differs')

  // The transfer part of leg 1 alone: the same bytes PUT in 8 MiB chunks with the device
  // certificate, straight from a file (no tar/gzip): what the server's sealing path ingests.
  process.stderr.write('server ingest: chunked mTLS upload of the bundle file…\n')
  const device = new Agent({
    connect: {cert: await readFile(join(agent.dataDir, 'device.crt')), key: await readFile(join(agent.dataDir, 'device.key')), ca: await readFile(sc.caFile)},
  })
  const ingestStarted = performance.now()
  const created = await request(`${sc.url}${AGENT_UPLOADS_PATH}`, {
    method: 'POST',
    dispatcher: device,
    headers: {'content-type': 'application/json'},
    body: JSON.stringify({size: upload.size, sha256: upload.sha256}),
  })
  const {uploadId} = (await created.body.json()) as {uploadId: string}
  for (let offset = 0; offset < upload.size; offset += UPLOAD_CHUNK_BYTES) {
    const end = Math.min(upload.size, offset + UPLOAD_CHUNK_BYTES) - 1
    const res = await request(`${sc.url}${AGENT_UPLOADS_PATH}/${uploadId}?offset=${offset}`, {
      method: 'PUT',
      dispatcher: device,
      headers: {'content-type': 'application/octet-stream', 'content-length': String(end - offset + 1)},
      body: createReadStream(pulled, {start: offset, end, highWaterMark: 1 << 20}),
    })
    const state = (await res.body.json()) as {offset: number}
    if (res.statusCode !== 200 || state.offset !== end + 1) throw new Error(`ingest PUT at ${offset}: HTTP ${res.statusCode} ${JSON.stringify(state)}`)
  }
  const ingestMs = performance.now() - ingestStarted
  await device.close()

  process.stderr.write('baselines: curl from a plain node https static server…\n')
  const tlsDir = join(sc.dir, 'data', 'tls')
  const [cert, key] = await Promise.all([readFile(join(tlsDir, 'server.crt')), readFile(join(tlsDir, 'server.key'))])
  // /bundle: the pulled tar.gz; /logs: the log files one after the other (the same size as the logs).
  staticServer = createServer({cert, key}, (req, res) => {
    const files = req.url === '/bundle' ? [pulled] : logNames.map((n) => join(logDir, n))
    const length = req.url === '/bundle' ? upload.size : logBytes
    res.writeHead(200, {'content-type': 'application/octet-stream', 'content-length': String(length)})
    void (async () => {
      for (const file of files) for await (const chunk of createReadStream(file, {highWaterMark: 1 << 20})) if (!res.write(chunk)) await new Promise((r) => res.once('drain', r))
      res.end()
    })()
  })
  await new Promise<void>((resolve) => staticServer!.listen(0, '127.0.0.1', resolve))
  const port = (staticServer.address() as AddressInfo).port
  const curlGet = async (path: string, expected: number): Promise<Timed> => {
    const out = join(sc.dir, `curl${path.replace('/', '-')}`)
    await rm(out, {force: true})
    const result = await timed(['-sS', '--cacert', sc.caFile, '-o', out, `https://localhost:${port}${path}`], {}, 'curl')
    expectExit(result, 0)
    if ((await stat(out)).size !== expected) throw new Error(`curl ${path} got a different size`)
    return result
  }
  // Best of three each: the baseline should not look slower than it can be (disk write-back
  // of the files just written, a busy moment) and so flatter the ratio.
  const best = async (path: string, expected: number): Promise<Timed> => {
    const runs: Timed[] = []
    for (let i = 0; i < 3; i++) runs.push(await curlGet(path, expected))
    return runs.reduce((a, b) => (b.ms < a.ms ? b : a))
  }
  const curlBundle = await best('/bundle', upload.size)
  if ((await sha256File(join(sc.dir, 'curl-bundle'))) !== upload.sha256) throw new Error('curl download differs')
  const curlLogs = await best('/logs', logBytes)

  const size = upload.size
  const endToEndMs = up.ms + pull.ms
  const rate = (bytes: number, ms: number) => `${mbps(bytes, ms).toFixed(1)} MB/s`
  const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`
  const rows: Array<[string, string, string, string]> = [
    ['upload (agent: collect tar + gzip, chunked mTLS upload, sealed at rest)', rate(logBytes, up.ms), rate(size, up.ms), secs(up.ms)],
    ['  server ingest alone (the bundle PUT in chunks from a file, sealed at rest)', '', rate(size, ingestMs), secs(ingestMs)],
    ['pull (server decrypts -> CLI, SHA-256 verified, fsync + rename)', rate(logBytes, pull.ms), rate(size, pull.ms), secs(pull.ms)],
    ['end to end (upload + pull)', rate(logBytes, endToEndMs), rate(size, endToEndMs), secs(endToEndMs)],
    ['baseline: curl of the log files (same size)', rate(logBytes, curlLogs.ms), '', secs(curlLogs.ms)],
    ['baseline: curl of the bundle file (same bytes as the pull)', '', rate(size, curlBundle.ms), secs(curlBundle.ms)],
  ]
  console.log(`\nlogs: ${(logBytes / 1e6).toFixed(1)} MB (${KIND}) in ${FILES} files -> bundle ${(size / 1e6).toFixed(1)} MB (tar.gz, ${(logBytes / size).toFixed(2)}x)\n`)
  console.log('| leg | log MB/s | bundle MB/s | time |\n|---|---|---|---|')
  for (const r of rows) console.log(`| ${r.join(' | ')} |`)
  console.log(`\nend to end: ${((curlLogs.ms / endToEndMs) * 100).toFixed(0)}% of curl of the same size (target >= 50%); pull: ${((curlBundle.ms / pull.ms) * 100).toFixed(0)}% of curl of the same bytes`)
  console.log(`peak RSS: agent ${mb(up.hwmKb)}, server ${mb(serverPeak())} (idle after login ${mb(serverIdleKb)}, after upload ${mb(serverAfterUploadKb)}), CLI ${mb(pull.hwmKb)}, curl ${mb(curlLogs.hwmKb)} (target < 150 MB each)`)
} finally {
  staticServer?.close()
  await agent?.stop()
  if (values.keep) console.log(`kept ${sc.dir}`)
  else await sc.dispose()
  if (values.keep) await sc.stop()
}
