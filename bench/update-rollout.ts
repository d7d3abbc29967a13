/**
 * bench/update-rollout: N simulated agents fetch one signed package through the real download
 * path (the agent's downloadPackage over mTLS with its device certificate, Range-capable, to the
 * server's /api/v1/agent/updates/targets route), and then the same N fetch the same file from a
 * plain static HTTPS server (node:https + createReadStream, no auth, no TUF) with the same client
 * code, in one run. Prints aggregate throughput of both, their ratio (target ≥ 0.8x), the time until
 * all have it, and the server's peak RSS (target < 300 MB). Loopback only; bounded in count and time.
 *
 *   node --import tsx bench/update-rollout.ts [N=500] [--mb 20] [--timeout 600]
 *
 * Setup uses the real CLI (server init/start, updates repo init/add/publish) through the e2e
 * helpers; device certificates are issued directly with the device CA (bench/agent-fanin/issue.ts).
 */
import {createReadStream} from 'node:fs'
import {mkdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {createServer, type Server} from 'node:https'
import {connect as tlsConnect} from 'node:tls'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import {downloadPackage} from '../src/agent/updates/download.js'
import {UndiciUpdatesHttp} from '../src/agent/updates/http.js'
import {updateFiles} from '../src/agent/updates/paths.js'
import {readServerConfig} from '../src/server/config-store.js'
import {migrateToLatest, openDatabase} from '../src/server/db/connect.js'
import {loadCa} from '../src/server/pki/ca.js'
import {expectExit, json, SupportCenter} from '../test/agent/helpers/support-center.js'
import {runTether} from '../test/helpers/cli.js'
import {issueBenchCerts} from './agent-fanin/issue.js'

const {values, positionals} = parseArgs({allowPositionals: true, options: {mb: {type: 'string', default: '20'}, timeout: {type: 'string', default: '600'}}})
const N = Number(positionals[0] ?? 500)
const MB = Number(values.mb)
const DEADLINE = Date.now() + Number(values.timeout) * 1000
if (!Number.isInteger(N) || N < 1 || N > 2000) throw new Error('N must be 1..2000')

const sc = await SupportCenter.create()
const downloads = join(sc.dir, 'downloads')
let staticServer: Server | undefined
try {
  // Devices first, while the server is down: the registry rows and one certificate per serial.
  const dataDir = join(sc.dir, 'data')
  const config = (await readServerConfig(dataDir))!
  const opened = await openDatabase(config.database)
  await migrateToLatest(opened)
  const {keyPem, lines} = await issueBenchCerts(opened.db, await loadCa(config.deviceCa.certFile, config.deviceCa.keyFile), N)
  await opened.close()
  await sc.start()
  await sc.loginAdmin()

  const repo = join(sc.dir, 'repo')
  const keysFile = join(sc.dir, 'online-keys.json')
  await writeFile(keysFile, expectExit(await runTether(['server', 'updates-keys', '--data-dir', dataDir, '--json']), 0).stdout)
  expectExit(await runTether(['updates', 'repo', 'init', '--dir', repo, '--threshold', '1', '--keys', '1', '--online-keys', keysFile]), 0)
  const pkg = join(sc.dir, 'package.bin')
  await writeFile(pkg, Buffer.alloc(MB * 1024 * 1024, 'firmware image bytes '))
  expectExit(await runTether(['updates', 'add', '--dir', repo, pkg, '--version', '1.0.0', '--model', 'sim']), 0)
  expectExit(await sc.admin(['updates', 'publish', '--dir', repo, '--json']), 0)
  const target = (json<{targets: Array<{path: string; length: number; sha256: string}>}>(expectExit(await sc.admin(['updates', 'list', '--json']), 0))).targets[0]
  const serverCa = await readFile(sc.caFile, 'utf8')
  const certs = lines.map((l) => JSON.parse(l) as {serial: string; certPem: string})

  // Each simulated agent: its own connection with its own device certificate, the agent's download code.
  const viaTether = (i: number) =>
    new UndiciUpdatesHttp(new URL(sc.url), () =>
      new Promise((resolve, reject) => {
        const socket = tlsConnect({host: '127.0.0.1', port: sc.port, servername: 'localhost', ca: serverCa, key: keyPem, cert: certs[i].certPem}, () => resolve(socket))
        socket.once('error', reject)
      }),
    )

  // The baseline: the same file behind a plain HTTPS server, same TLS certificate, same client.
  staticServer = createServer({key: await readFile(config.tls.keyFile), cert: await readFile(config.tls.certFile)}, (req, res) => {
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '')
    const start = range ? Number(range[1]) : 0
    res.writeHead(range ? 206 : 200, {'content-length': target.length - start, ...(range ? {'content-range': `bytes ${start}-${target.length - 1}/${target.length}`} : {})})
    createReadStream(pkg, {start}).pipe(res)
  })
  staticServer.maxConnections = N + 100
  await new Promise<void>((resolve) => staticServer!.listen(0, '127.0.0.1', resolve))
  const staticPort = (staticServer.address() as {port: number}).port
  const viaStatic = () =>
    new UndiciUpdatesHttp(new URL(`https://127.0.0.1:${staticPort}`), () =>
      new Promise((resolve, reject) => {
        const socket = tlsConnect({host: '127.0.0.1', port: staticPort, servername: 'localhost', ca: serverCa}, () => resolve(socket))
        socket.once('error', reject)
      }),
    )

  async function round(name: string, http: (i: number) => UndiciUpdatesHttp): Promise<{seconds: number; failures: number}> {
    await rm(downloads, {recursive: true, force: true})
    const started = Date.now()
    let failures = 0
    await Promise.all(
      Array.from({length: N}, async (_, i) => {
        const client = http(i)
        const files = updateFiles(join(downloads, String(i)))
        await mkdir(files.downloads, {recursive: true})
        try {
          const signal = AbortSignal.timeout(Math.max(1000, DEADLINE - Date.now()))
          const got = await downloadPackage({files, http: client, target: {targetPath: target.path, length: target.length, sha256: target.sha256}, signal})
          if ((await stat(got.path)).size !== target.length) failures++
          await rm(join(downloads, String(i)), {recursive: true, force: true})
        } catch (error) {
          failures++
          if (failures <= 3) console.error(`${name} #${i}: ${(error as Error).message}`)
        } finally {
          await client.close()
        }
      }),
    )
    return {seconds: (Date.now() - started) / 1000, failures}
  }

  const serverPid = sc.server!.pid!
  const hwm = async () => Number(/VmHWM:\s+(\d+)/.exec(await readFile(`/proc/${serverPid}/status`, 'utf8'))?.[1] ?? 0) / 1024
  const rssBefore = await hwm()
  const tether = await round('tether', viaTether)
  const rssPeak = await hwm()
  const plain = await round('static', viaStatic)
  const totalMb = (N * target.length) / 1e6
  const rate = (s: number) => totalMb / s
  console.log(`update-rollout: ${N} agents × ${(target.length / 1e6).toFixed(1)} MB (${(totalMb / 1000).toFixed(2)} GB), loopback`)
  console.log(`  tether (mTLS, agent download path): all done in ${tether.seconds.toFixed(1)} s, ${rate(tether.seconds).toFixed(0)} MB/s, failures ${tether.failures}`)
  console.log(`  static HTTPS server, same client:    all done in ${plain.seconds.toFixed(1)} s, ${rate(plain.seconds).toFixed(0)} MB/s, failures ${plain.failures}`)
  console.log(`  throughput ratio tether/static: ${(plain.seconds / tether.seconds).toFixed(2)}x (target >= 0.8x)`)
  console.log(`  server peak RSS: ${rssPeak.toFixed(0)} MB (before the downloads ${rssBefore.toFixed(0)} MB; target < 300 MB)`)
} finally {
  staticServer?.close()
  await rm(downloads, {recursive: true, force: true})
  await sc.dispose()
}
