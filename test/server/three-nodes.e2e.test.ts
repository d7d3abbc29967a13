import {strict as assert} from 'node:assert'
import {randomBytes} from 'node:crypto'
import {mkdir, readdir, readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {request} from 'undici'
import {runTether} from '../helpers/cli.js'
import {Cluster} from '../helpers/cluster.js'
import {eventually} from '../helpers/eventually.js'
import {haveHaproxy} from '../helpers/haproxy.js'
import {echoTarget, hashSink, liveTunnel, sha256, transfer, tunnelConnect} from '../helpers/tunnel-streams.js'
import {enrollAgent, type AgentUnderTest} from '../agent/helpers/agent-process.js'
import {expectExit, json} from '../agent/helpers/support-center.js'
import {ThrottleProxy} from '../agent/logs/throttle-proxy.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read loosely-typed API answers
type Loose = any

const MiB = 1024 * 1024
const RATE_LIMIT = 1200
const FINAL = ['succeeded', 'failed', 'refused', 'expired', 'cancelled']
const SERIALS = ['SN-3N-1', 'SN-3N-2', 'SN-3N-3', 'SN-3N-4']
/** Its control channel and uploads go through a proxy slowed to 512 KiB/s, so a log upload is in flight long enough to kill its node. */
const UPLOADER = 'SN-3N-4'

/** Log files that compress little (base64 of random bytes): `lines` × ~140 bytes each. */
async function writeLogs(dir: string, files: string[], lines: number): Promise<void> {
  await mkdir(dir, {recursive: true})
  for (const name of files) await writeFile(join(dir, name), Array.from({length: lines}, (_, i) => `2026-12-07T01:00:00Z seq=${i} ${randomBytes(96).toString('base64')}\n`).join(''))
}

/** The committed offset of an upload in progress in the agent's spool. */
async function spoolOffset(agent: AgentUnderTest): Promise<number | undefined> {
  const spool = join(agent.dataDir, 'spool')
  for (const name of (await readdir(spool).catch(() => [] as string[])).filter((n) => n.startsWith('upload-') && n.endsWith('.json'))) {
    const state = JSON.parse(await readFile(join(spool, name), 'utf8').catch(() => '{}')) as {offset?: number}
    if (state.offset !== undefined) return state.offset
  }
  return undefined
}

/**
 * Issue #15, as operated (docs/operations.md "PostgreSQL and several nodes"): three real nodes
 * on one PostgreSQL with blobs in it, the documented haproxy config in front, real agents spread
 * over the nodes by `balance leastconn`, and one node killed -9 in the middle of everything.
 */
describe('three server nodes behind the documented haproxy (PostgreSQL, e2e)', function () {
  this.timeout(600_000)
  let cluster: Cluster
  let agents: AgentUnderTest[] = []
  let proxy: ThrottleProxy
  let echo: Awaited<ReturnType<typeof echoTarget>>
  let sink: Awaited<ReturnType<typeof hashSink>>
  const PAYLOAD = randomBytes(20 * MiB)
  const jobs: string[] = []
  const bundles: string[] = []
  let tunnelEnd: {code: number | null; stderr: string}
  let tunnelEvents: string[] = []
  let tunnelDevice = ''
  const waitJob = (id: string, timeoutMs = 60_000): Promise<Loose> =>
    eventually(async () => {
      const job = (await cluster.api('lb', 'GET', `/jobs/${id}`)).json
      return FINAL.includes(job.status) ? job : undefined
    }, `job ${id} final`, timeoutMs, 500)
  const onNode = async (node: number): Promise<string[]> => [...(await cluster.presence())].filter(([, n]) => n === `node-${node}`).map(([s]) => s)

  before(async function () {
    if (!haveHaproxy()) this.skip()
    // Node leases of 12 s (heartbeats every 2 s): the killed node's tunnel is closed as node-lost
    // by a survivor within seconds, not after the default minute.
    cluster = await Cluster.start({nodes: 3, serverArgs: ['--rate-limit', String(RATE_LIMIT)], env: {TETHER_AGENT_HEARTBEAT_INTERVAL_MS: '2000', TETHER_AGENT_HEARTBEAT_TIMEOUT_MS: '12000'}})
    proxy = await ThrottleProxy.start(MiB / 2)
    echo = await echoTarget()
    sink = await hashSink(PAYLOAD.length)
    const logDir = join(cluster.sc.dir, 'device-logs')
    await writeLogs(logDir, ['a.log', 'b.log'], 45_000)
    agents = await cluster.startAgents(
      SERIALS,
      (serial) => ({
        diagnostics: {'say-hello': {command: ['/bin/echo', `hello from ${serial}`], timeoutSeconds: 5}, slow: {command: ['/bin/sh', '-c', 'sleep 4; echo done'], timeoutSeconds: 30}},
        ...(serial === UPLOADER ? {logSources: [`${logDir}/*.log`], logs: {chunkBytes: MiB}} : {}),
      }),
      (serial) => (serial === UPLOADER ? ['--proxy', proxy.url] : []),
      ['--allow-port', String(echo.port), '--allow-port', String(sink.port)],
    )
  })

  after(async () => {
    for (const agent of agents) await agent.stop()
    await proxy?.stop()
    echo?.server.close()
    sink?.server.close()
    await cluster?.dispose()
  })

  it('spreads the agents over all three nodes, and every node tells the same presence', async () => {
    const presence = await cluster.presence()
    assert.deepEqual(new Set(presence.values()), new Set(['node-1', 'node-2', 'node-3']), JSON.stringify([...presence]))
    const views = await Promise.all([1, 2, 3].map(async (node) => {
      const devices = (await cluster.api(node, 'GET', '/devices')).json.devices as Array<{serial: string; online: boolean}>
      const nodes = (await cluster.api(node, 'GET', '/nodes')).json.nodes as Array<{id: string}>
      return {devices: devices.map((d) => `${d.serial}:${d.online}`).sort(), nodes: nodes.map((n) => n.id).sort()}
    }))
    assert.deepEqual(views[0].devices, SERIALS.map((s) => `${s}:true`))
    assert.deepEqual(views[0].nodes, ['node-1', 'node-2', 'node-3'])
    assert.deepEqual(views[1], views[0])
    assert.deepEqual(views[2], views[0])
  })

  it('a job requested on node 1 for a device on node 3 runs at once (latency printed)', async () => {
    const serial = (await onNode(3))[0]
    const measured: string[] = []
    for (let i = 0; i < 5; i++) {
      const started = performance.now()
      const created = await cluster.api(1, 'POST', `/devices/${serial}/diagnostics`, {name: 'say-hello'})
      assert.equal(created.status, 202, JSON.stringify(created.json))
      jobs.push(created.json.id)
      const job = await eventually(async () => {
        const j = (await cluster.api(1, 'GET', `/jobs/${created.json.id}`)).json
        return FINAL.includes(j.status) ? j : undefined
      }, 'job final', 30_000, 10)
      const seen = performance.now() - started
      assert.equal(job.status, 'succeeded', JSON.stringify(job))
      assert.equal(job.result.data.stdout, `hello from ${serial}\n`)
      measured.push(`${Math.round(seen)} ms seen by the caller, ${Date.parse(job.finishedAt) - Date.parse(job.createdAt)} ms created→finished`)
    }
    console.log(`      job on node 1 → ${serial} on node 3: ${measured.join('; ')}`)
  })

  it("a tunnel's data leg lands on the owner node (its TLS server name), whichever node has the engineer's leg, and carries 20 MB intact", async () => {
    const [serial, owner] = [...(await cluster.presence())].find(([s]) => s !== UPLOADER)!
    const landedOn = (before: Record<string, {total: number}>, after: Record<string, {total: number}>): string[] =>
      [1, 2, 3].flatMap((n) => Array<string>(after[`node-${n}`].total - before[`node-${n}`].total).fill(`node-${n}`))
    const seen: string[] = []
    // The engineer's leg straight to each other node (forwarded to the owner: the one extra hop);
    // the agent's data leg through haproxy, where only its server name can send it to the owner
    // (leastconn alone puts it on whichever node has the fewest connections open).
    for (const node of [1, 2, 3].filter((n) => `node-${n}` !== owner)) {
      const before = await cluster.haproxy.stats()
      const up = await transfer(tunnelConnect(cluster.cliEnv(node), serial, sink.port), PAYLOAD, (out) => out.length >= 64)
      const landed = landedOn(before, await cluster.haproxy.stats())
      assert.equal(up.code, 0, up.stderr)
      assert.equal(up.out.toString(), sha256(PAYLOAD), 'the device side received other bytes')
      seen.push(`engineer on node-${node}, data leg on ${landed.join(' and ') || 'no node'}`)
      assert.deepEqual(landed, [owner], `device on ${owner}: ${seen.join('; ')}`)
    }
    // Both legs through haproxy: whatever leastconn does with the engineer's, the data leg is on the owner.
    for (let attempt = 0; attempt < 2; attempt++) {
      const before = await cluster.haproxy.stats()
      const up = await transfer(tunnelConnect(cluster.cliEnv(), serial, sink.port), PAYLOAD, (out) => out.length >= 64)
      const landed = landedOn(before, await cluster.haproxy.stats())
      assert.equal(up.code, 0, up.stderr)
      assert.equal(up.out.toString(), sha256(PAYLOAD), 'the device side received other bytes')
      seen.push(`both through haproxy: legs on ${landed.join(' and ')}`)
      assert.equal(landed.length, 2, seen.join('; '))
      assert.ok(landed.includes(owner), `device on ${owner}: ${seen.join('; ')}`)
    }
    console.log(`      ${serial} on ${owner}: ${seen.join('; ')}`)
  })

  it('a bundle uploaded through node 2 is pulled through node 1 intact', async () => {
    // A device whose server address is node 2 itself (no balancer on its way).
    cluster.sc.url = cluster.nodeUrl(2)
    const device = await enrollAgent(cluster.sc, 'SN-3N-DIRECT', {dirName: 'agent-direct'}).finally(() => (cluster.sc.url = cluster.url))
    await writeLogs(join(cluster.sc.dir, 'direct-logs'), ['c.log'], 20_000)
    await device.tune({logSources: [join(cluster.sc.dir, 'direct-logs', '*.log')]})
    const uploaded = json<{bundleId: string; sha256: string}>(expectExit(await device.run(['agent', 'logs', 'upload', '--json']), 0))
    assert.match(cluster.logs[1], new RegExp(`/api/v1/agent/uploads/`))
    const file = join(cluster.sc.dir, 'pulled-direct.tar')
    expectExit(await runTether(['logs', 'pull', uploaded.bundleId, '-o', file], {env: cluster.cliEnv(1)}), 0)
    assert.equal(sha256(await readFile(file)), uploaded.sha256)
    bundles.push(uploaded.bundleId)
  })

  it(`counts the rate limit across nodes: ${RATE_LIMIT} requests a minute from one address, whichever nodes they reach`, async () => {
    // A source address of its own, so no other request of the test counts, and the requests
    // inside one clock minute (the shared counters' window): a turn of the minute starts over
    // from a fresh address.
    let counted: {ok: number; after: number[]} | undefined
    for (const address of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
      if (new Date().getSeconds() > 30) await new Promise((resolve) => setTimeout(resolve, (61 - new Date().getSeconds()) * 1000))
      const minute = Math.floor(Date.now() / 60_000)
      const from = await cluster.dispatcherFrom(address)
      const me = async (node: number): Promise<number> => {
        const res = await request(`${cluster.nodeUrl(node)}/api/v1/me`, {dispatcher: from})
        await res.body.dump()
        return res.statusCode
      }
      try {
        // One stream of requests per node, at once, a few more than the budget in all.
        const statuses = (await Promise.all([1, 2, 3].map(async (node) => {
          const seen: number[] = []
          for (let i = 0; i < RATE_LIMIT / 3 + 10; i++) seen.push(await me(node))
          return seen
        }))).flat()
        const after = await Promise.all([1, 2, 3].map((node) => me(node)))
        if (Math.floor(Date.now() / 60_000) !== minute) continue
        counted = {ok: statuses.filter((s) => s !== 429).length, after}
        break
      } finally {
        await from.close()
      }
    }
    assert.ok(counted, 'every attempt straddled a clock minute')
    assert.equal(counted.ok, RATE_LIMIT)
    assert.deepEqual(counted.after, [429, 429, 429])
  })

  it('kill -9 of one node of three during jobs, a log upload and a live tunnel loses nothing', async () => {
    const uploader = agents[SERIALS.indexOf(UPLOADER)]
    const logsJob = await cluster.api('lb', 'POST', `/devices/${UPLOADER}/logs`, {})
    assert.equal(logsJob.status, 202, JSON.stringify(logsJob.json))
    jobs.push(logsJob.json.id)
    await eventually(async () => ((await spoolOffset(uploader)) ?? 0) >= MiB, 'upload under way', 60_000, 50)
    // The victim: the node that took the upload's latest chunk (request logs at info).
    const lastUpload = (log: string): number => {
      const line = log.split('\n').filter((l) => l.includes('/api/v1/agent/uploads/')).at(-1)
      return line ? (JSON.parse(line) as {time: number}).time : 0
    }
    const victim = [1, 2, 3].reduce((best, n) => (lastUpload(cluster.logs[n - 1]) > lastUpload(cluster.logs[best - 1]) ? n : best), 1)
    const survivors = [1, 2, 3].filter((n) => n !== victim)
    const onVictim = await onNode(victim)
    tunnelDevice = onVictim.find((s) => s !== UPLOADER) ?? onVictim[0]
    assert.ok(tunnelDevice, `no device on node-${victim}`)

    const tunnel = await liveTunnel(tunnelConnect(cluster.cliEnv(), tunnelDevice, echo.port))
    const slow = await Promise.all(SERIALS.map(async (serial, i) => {
      const created = await cluster.api(survivors[i % 2], 'POST', `/devices/${serial}/diagnostics`, {name: 'slow'})
      assert.equal(created.status, 202, JSON.stringify(created.json))
      jobs.push(created.json.id)
      return created.json.id as string
    }))
    await eventually(async () => {
      const states = await Promise.all(slow.map(async (id) => (await cluster.api(survivors[0], 'GET', `/jobs/${id}`)).json.status))
      return states.every((s) => s !== 'queued')
    }, 'the slow jobs reached their devices', 30_000, 250)
    const auditBefore = ((await cluster.api(survivors[0], 'GET', '/audit/events?limit=1000')).json.events as Array<{id: string}>).map((e) => e.id)
    const offsetAtKill = (await spoolOffset(uploader)) ?? 0
    assert.ok(!FINAL.includes((await cluster.api(survivors[0], 'GET', `/jobs/${logsJob.json.id}`)).json.status), 'the upload ended before the kill')
    const survivorLogs = survivors.map((n) => cluster.logs[n - 1].length)

    const killedAt = performance.now()
    await cluster.kill9(victim)
    console.log(`      killed node-${victim} (upload at ${(offsetAtKill / MiB).toFixed(1)} MiB, agents ${onVictim.join(', ')}, tunnel to ${tunnelDevice})`)

    tunnelEnd = await tunnel.ended
    console.log(`      tunnel CLI ended: exit ${tunnelEnd.code}, ${tunnelEnd.stderr.trim() || 'nothing on stderr'}`)

    const moved = await Promise.all(onVictim.map(async (serial) => {
      const node = await eventually(async () => {
        const now = (await cluster.presence()).get(serial)
        return now && now !== `node-${victim}` ? now : undefined
      }, `${serial} back on a surviving node`, 120_000, 100)
      return `${serial} → ${node} after ${Math.round(performance.now() - killedAt)} ms`
    }))
    console.log(`      reconnected: ${moved.join('; ')}`)

    for (const id of slow) assert.equal((await waitJob(id, 120_000)).status, 'succeeded', `slow job ${id}`)
    const logs = await waitJob(logsJob.json.id, 180_000)
    assert.equal(logs.status, 'succeeded', JSON.stringify(logs))
    const file = join(cluster.sc.dir, 'pulled-after-kill.tar')
    expectExit(await runTether(['logs', 'pull', logs.result.bundleId, '-o', file], {env: cluster.cliEnv()}), 0)
    assert.equal(sha256(await readFile(file)), logs.result.sha256, 'the bundle pulled is not the one uploaded')
    bundles.push(logs.result.bundleId)
    // The survivors' request logs: where the rest went, and from which offset (PUT …?offset=N).
    const resumed = survivors.flatMap((n, i) => [...cluster.logs[n - 1].slice(survivorLogs[i]).matchAll(/\/api\/v1\/agent\/uploads\/[^?"]+\?offset=(\d+)/g)].map((m) => ({node: n, offset: Number(m[1])})))
    assert.ok(resumed.length > 0, 'no surviving node took the rest of the upload')
    const from = Math.min(...resumed.map((r) => r.offset))
    assert.ok(from > 0, 'the upload started over from 0 on the survivors')
    const local = json<{entries: Array<{action: string; details: {jobId?: string; resumedFrom?: number}}>}>(await uploader.run(['agent', 'audit', '--json']))
    assert.equal(local.entries.find((e) => e.action === 'logs.uploaded' && e.details.jobId === logsJob.json.id)?.details.resumedFrom, from)
    console.log(`      upload of ${(logs.result.size / MiB).toFixed(1)} MiB resumed from ${(from / MiB).toFixed(1)} MiB on node-${[...new Set(resumed.map((r) => r.node))].join(', node-')}`)
    for (const id of bundles) assert.equal((await cluster.api('lb', 'GET', `/logs/${id}`)).status, 200, `bundle ${id}`)

    const after = (await cluster.api(survivors[0], 'GET', '/audit/events?limit=1000')).json.events as Array<{id: string; action: string; deviceSerial: string | null}>
    assert.ok(after.length < 1000, 'more events than one page: compare pages')
    const auditAfter = new Set(after.map((e) => e.id))
    assert.deepEqual(auditBefore.filter((id) => !auditAfter.has(id)), [], 'audit events lost')
    tunnelEvents = after.filter((e) => e.deviceSerial === tunnelDevice && e.action.startsWith('tunnel.')).map((e) => e.action)
    console.log(`      audit for ${tunnelDevice}'s tunnels: ${tunnelEvents.filter((a) => a === 'tunnel.open').length} opened, ${tunnelEvents.filter((a) => a === 'tunnel.close').length} closed`)
  })

  // The owner of the stream ends it with an END frame saying why; a killed owner sends none, and
  // its FIN (haproxy in TCP mode turns the reset into one) is then a lost stream to the CLI.
  it("the tunnel's CLI says it ended and why (TUNNEL_LOST, exit 7)", () => {
    assert.equal(tunnelEnd?.code, 7, tunnelEnd?.stderr)
    assert.match(tunnelEnd.stderr, /the tunnel ended: its connection was lost \([\w -]+\): the server node carrying it stopped/)
  })

  it('the tunnel the dead node carried is closed in the audit by a survivor (node-lost)', async () => {
    const events = await eventually(async () => {
      const all = (await cluster.api('lb', 'GET', '/audit/events?limit=1000')).json.events as Array<{action: string; deviceSerial: string | null; details: {why?: string}}>
      const mine = all.filter((e) => e.deviceSerial === tunnelDevice && e.action.startsWith('tunnel.'))
      return mine.filter((e) => e.action === 'tunnel.close').length >= mine.filter((e) => e.action === 'tunnel.open').length ? mine : undefined
    }, 'tunnel.close for every tunnel.open', 60_000, 500)
    assert.equal(events.filter((a) => a.action === 'tunnel.close').length, events.filter((a) => a.action === 'tunnel.open').length)
    assert.ok(events.some((e) => e.action === 'tunnel.close' && e.details.why === 'node-lost'), JSON.stringify(events))
  })

  it('every job requested reached a final state, and the audit is one chain', async () => {
    for (const id of jobs) assert.ok(FINAL.includes((await waitJob(id, 120_000)).status))
    const verify = await runTether(['audit', 'verify', '--json'], {env: cluster.cliEnv()})
    expectExit(verify, 0)
    assert.equal(json<{ok: boolean}>(verify).ok, true, verify.stdout)
  })
})
