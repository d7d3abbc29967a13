/**
 * Audit trail throughput: appends N events (a valid chain), exports them as JSONL through the
 * same code as GET /audit/export, and verifies the chain. Prints events/s per phase and the
 * peak RSS after each phase.
 *
 *   node --import tsx bench/audit-export.ts [--events 1000000] [--database URL|PATH] [--out FILE]
 *
 * Without --database a temporary SQLite file is used (and removed). A PostgreSQL URL must name
 * a database you can spare: the events are appended to whatever chain is there.
 */
import {spawnSync} from 'node:child_process'
import {createWriteStream, mkdtempSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pipeline} from 'node:stream/promises'
import {parseArgs} from 'node:util'
import {AuditChain} from '../src/server/audit/chain.js'
import type {AuditInput} from '../src/server/audit/types.js'
import {migrateToLatest, openDatabase} from '../src/server/db/connect.js'

const {values} = parseArgs({
  options: {
    events: {type: 'string', default: '1000000'},
    database: {type: 'string'},
    out: {type: 'string', default: '/dev/null'},
    /** Events appended one by one through append() (group commit) before the bulk seeding. */
    single: {type: 'string', default: '20000'},
    /** Internal: the child process that exports and verifies, so its peak RSS is its own. */
    phase: {type: 'string', default: 'all'},
  },
})
const total = Number(values.events)
const single = Math.min(Number(values.single), total)
const tmp = values.database ? null : mkdtempSync(join(tmpdir(), 'tether-bench-'))
const url = values.database ?? join(tmp!, 'bench.db')

const mb = (): string => `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`
const rate = (n: number, ms: number): string => `${Math.round(n / (ms / 1000)).toLocaleString('en-US')} events/s`
const event = (i: number): AuditInput => ({
  actorType: i % 10 === 0 ? 'device' : 'user',
  actor: i % 10 === 0 ? `SN-${i % 5000}` : `user${i % 50}`,
  action: ['tunnel.open', 'tunnel.close', 'diagnostics.run', 'logs.pull', 'auth.login'][i % 5],
  outcome: i % 97 === 0 ? 'denied' : 'success',
  deviceSerial: `SN-${i % 5000}`,
  customerId: `customer-${i % 20}`,
  sourceIp: '127.0.0.1',
  details: {i, port: 443, reason: i % 97 === 0 ? 'outside maintenance window' : undefined},
})

const opened = await openDatabase(url)
try {
  await migrateToLatest(opened)
  const chain = new AuditChain(opened.db, opened.dialect)
  if (values.phase === 'read') {
    await readPhases(chain)
  } else {
    await appendPhases(chain)
    // Export and verify in a fresh process: maxRSS is a process-lifetime peak, and seeding's
    // garbage would otherwise hide what the export itself needs.
    const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1], '--phase', 'read', '--database', url, '--out', values.out!], {stdio: 'inherit'})
    if (child.status !== 0) process.exitCode = child.status ?? 1
  }
} finally {
  await opened.close()
  if (tmp) rmSync(tmp, {recursive: true, force: true})
}

async function appendPhases(chain: AuditChain): Promise<void> {
  console.log(`database: ${opened.dialect} (${values.database ? 'given' : url}), events: ${total.toLocaleString('en-US')}`)

  // 1. append(): the request path; 256 callers in flight, group-committed by the chain.
  let t0 = performance.now()
  let ms: number
  let next = 0
  await Promise.all(
    Array.from({length: 256}, async () => {
      while (next < single) await chain.append(event(next++))
    }),
  )
  ms = performance.now() - t0
  console.log(`append (append(), 256 concurrent callers, group commit): ${single} in ${(ms / 1000).toFixed(1)} s = ${rate(single, ms)}; peak RSS ${mb()}`)

  // 2. Bulk seeding: appendBatch, 1000 events per transaction, chained and locked like append().
  t0 = performance.now()
  for (let i = single; i < total; i += 10_000) {
    await chain.appendBatch(Array.from({length: Math.min(10_000, total - i)}, (_, k) => event(i + k)))
  }
  ms = performance.now() - t0
  console.log(`append (appendBatch, 1000 per transaction): ${total - single} in ${(ms / 1000).toFixed(1)} s = ${rate(total - single, ms)}; peak RSS ${mb()}`)
}

async function readPhases(chain: AuditChain): Promise<void> {
  console.log(`[fresh process] start: peak RSS ${mb()}`)

  // 3. Export: the route's code path (count, audit.export event, keyset pages into a Readable).
  let t0 = performance.now()
  const actor: AuditInput = {actorType: 'system', actor: 'bench', action: 'audit.export', outcome: 'success'}
  const started = await chain.export({}, 'jsonl', actor)
  await pipeline(started.stream, createWriteStream(values.out))
  let ms = performance.now() - t0
  const size = values.out === '/dev/null' ? '' : `, ${(statSync(values.out).size / 1e6).toFixed(0)} MB`
  console.log(`export JSONL (startExport -> ${values.out}${size}): ${started.count} in ${(ms / 1000).toFixed(1)} s = ${rate(started.count, ms)}; peak RSS ${mb()}`)

  // 4. Verify the whole chain.
  t0 = performance.now()
  const result = await chain.verify()
  ms = performance.now() - t0
  console.log(`verify: ${result.checked} in ${(ms / 1000).toFixed(1)} s = ${rate(result.checked, ms)}, ok=${result.ok}; peak RSS ${mb()}`)
  if (!result.ok) {
    console.log(result.problems.slice(0, 5))
    process.exitCode = 1
  }
}
