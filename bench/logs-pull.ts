/**
 * bench/logs-pull: a generated log set goes agent -> server (encrypted at rest) -> CLI, next to
 * a plain `curl` HTTPS download of the same bytes from a minimal node https static server.
 * Real processes (the built binary), loopback only. Prints MB/s of each leg, the ratio to
 * curl, and the peak RSS (VmHWM from /proc) of agent, server and CLI.
 *
 *   npm run build && node --import tsx bench/logs-pull.ts [--mb 1024] [--keep]
 *
 * Legs: upload = `tether agent logs upload` (collect: tar+gzip into the spool, then the chunked
 * mTLS upload, sealed segment by segment on the server); pull = `tether logs pull -o FILE`
 * (decrypt, stream, SHA-256 verify, temp file + rename). Baseline: `curl --cacert … -o FILE`
 * of the same tar.gz from a node https server using the same server certificate.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {createReadStream, createWriteStream} from 'node:fs'
import {mkdir, readFile, stat} from 'node:fs/promises'
import {createServer} from 'node:https'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import {AgentUnderTest} from '../test/agent/helpers/agent-process.js'
import {expectExit, json, SupportCenter} from '../test/agent/helpers/support-center.js'
import {BIN, testEnv} from '../test/helpers/cli.js'
import {Agent, request} from 'undici'
import {AGENT_UPLOADS_PATH, UPLOAD_CHUNK_BYTES} from '../src/protocol/agent/jobs.js'

const {values} = parseArgs({options: {mb: {type: 'string', default: '1024'}, keep: {type: 'boolean', default: false}}})
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

async function vmHwm(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  const m = /VmHWM:\s+(\d+) kB/.exec(text)
  return m ? Number(m[1]) : 0
}

/** Polls a child's VmHWM every 50 ms; returns a function giving the peak so far. */
function watchRss(child: ChildProcess): () => number {
  let peak = 0
  const timer = setInterval(() => {
    if (child.pid) void vmHwm(child.pid).then((v) => (peak = Math.max(peak, v)))
  }, 50)
  child.once('exit', () => clearInterval(timer))
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

async function generateLogs(dir: string): Promise<void> {
  await mkdir(dir, {recursive: true})
  const perFile = Math.ceil(TOTAL / FILES)
  for (let f = 0; f < FILES; f++) {
    const out = createWriteStream(join(dir, `device-${f}.log`))
    let size = 0
    let n = 0
    while (size < perFile) {
      // Log-like lines with a random payload (gzip -1 keeps ~75% of it): a worst case for size.
      const lines: string[] = []
      for (let i = 0; i < 512; i++) lines.push(`2026-11-22T10:00:${String(n % 60).padStart(2, '0')}Z analyzer[${f}] seq=${n++} ${randomBytes(96).toString('base64')}\n`)
      const chunk = lines.join('')
      size += chunk.length
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()))
    }
    await new Promise<void>((resolve) => out.end(() => resolve()))
  }
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
  process.stderr.write(`generating ${(TOTAL / 1024 ** 2).toFixed(0)} MiB of logs…\n`)
  await generateLogs(logDir)
  await agent.tune({logSources: [join(logDir, '*.log')], logs: {maxBundleBytes: 4 * 1024 ** 3}})

  const serverIdleKb = await vmHwm(sc.server!.pid!)
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

  process.stderr.write('baseline: curl from a plain node https static server…\n')
  const tlsDir = join(sc.dir, 'data', 'tls')
  const [cert, key] = await Promise.all([readFile(join(tlsDir, 'server.crt')), readFile(join(tlsDir, 'server.key'))])
  staticServer = createServer({cert, key}, (req, res) => {
    res.writeHead(200, {'content-type': 'application/gzip', 'content-length': String(upload.size)})
    createReadStream(pulled).pipe(res)
  })
  await new Promise<void>((resolve) => staticServer!.listen(0, '127.0.0.1', resolve))
  const port = (staticServer.address() as AddressInfo).port
  const curlOut = join(sc.dir, 'curl.tar.gz')
  const curl = await timed(['-sS', '--cacert', sc.caFile, '-o', curlOut, `https://localhost:${port}/bundle.tar.gz`], {}, 'curl')
  expectExit(curl, 0)
  if ((await stat(curlOut)).size !== upload.size || (await sha256File(curlOut)) !== upload.sha256) throw new Error('curl download differs')

  const size = upload.size
  const endToEndMs = up.ms + pull.ms
  const rows: Array<[string, string, string]> = [
    ['upload (agent: collect + encrypt-at-rest upload)', `${mbps(size, up.ms).toFixed(1)} MB/s`, `${(up.ms / 1000).toFixed(2)} s`],
    ['  of which server ingest only (chunked mTLS PUT, sealed at rest; no tar/gzip)', `${mbps(size, ingestMs).toFixed(1)} MB/s`, `${(ingestMs / 1000).toFixed(2)} s`],
    ['pull (server decrypt -> CLI, SHA-256 verified)', `${mbps(size, pull.ms).toFixed(1)} MB/s`, `${(pull.ms / 1000).toFixed(2)} s`],
    ['end to end (upload + pull)', `${mbps(size, endToEndMs).toFixed(1)} MB/s`, `${(endToEndMs / 1000).toFixed(2)} s`],
    ['baseline: curl, plain HTTPS static file', `${mbps(size, curl.ms).toFixed(1)} MB/s`, `${(curl.ms / 1000).toFixed(2)} s`],
  ]
  console.log(`\nlogs: ${(TOTAL / 1024 ** 2).toFixed(0)} MiB in ${FILES} files -> bundle ${(size / 1e6).toFixed(1)} MB (tar.gz)\n`)
  console.log('| leg | throughput | time |\n|---|---|---|')
  for (const r of rows) console.log(`| ${r.join(' | ')} |`)
  console.log(`\nratio to curl: pull ${(mbps(size, pull.ms) / mbps(size, curl.ms) * 100).toFixed(0)}%, end to end ${(mbps(size, endToEndMs) / mbps(size, curl.ms) * 100).toFixed(0)}%`)
  console.log(`peak RSS: agent ${mb(up.hwmKb)}, server ${mb(serverPeak())} (idle after login ${mb(serverIdleKb)}, after upload ${mb(serverAfterUploadKb)}), CLI ${mb(pull.hwmKb)}, curl ${mb(curl.hwmKb)}`)
} finally {
  staticServer?.close()
  await agent?.stop()
  if (values.keep) console.log(`kept ${sc.dir}`)
  else await sc.dispose()
  if (values.keep) await sc.stop()
}
