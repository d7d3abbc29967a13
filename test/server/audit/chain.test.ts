import {strict as assert} from 'node:assert'
import {spawn} from 'node:child_process'
import {fileURLToPath} from 'node:url'
import {sql} from 'kysely'
import {AuditChain} from '../../../src/server/audit/chain.js'
import {GENESIS_HASH} from '../../../src/server/audit/canonical.js'
import type {AuditInput} from '../../../src/server/audit/types.js'
import {DIALECTS, type TestDatabase, freshDatabase} from './databases.js'

const WORKER = fileURLToPath(new URL('./append-worker.ts', import.meta.url))

const input = (i: number, extra: Partial<AuditInput> = {}): AuditInput => ({
  actorType: 'user',
  actor: 'alice',
  action: 'device.diagnostics.run',
  outcome: 'success',
  deviceSerial: `SN-${i}`,
  customerId: 'acme',
  sourceIp: '127.0.0.1',
  details: {i, note: 'x'},
  ...extra,
})

function runWorker(url: string, count: number, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, url, String(count), name], {stdio: ['ignore', 'inherit', 'pipe']})
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker ${name} exited ${code}: ${stderr}`))))
  })
}

for (const dialect of DIALECTS) {
  describe(`AuditChain (${dialect})`, function () {
    let t: TestDatabase
    let chain: AuditChain

    beforeEach(async () => {
      t = await freshDatabase(dialect)
      chain = new AuditChain(t.opened.db, t.opened.dialect)
    })
    afterEach(async () => {
      await chain?.flush()
      await t?.cleanup()
    })

    const seed = async (n: number) => {
      for (let i = 1; i <= n; i++) await chain.append(input(i))
    }
    const rowAt = (seq: number) => t.opened.db.selectFrom('audit_events').selectAll().where('seq', '=', seq).executeTakeFirstOrThrow()

    it('appends linked events and verifies an empty and a full chain', async () => {
      assert.deepEqual((await chain.verify()).ok, true)
      const first = await chain.append(input(1))
      assert.equal(first.seq, 1)
      assert.equal(first.prevHash, GENESIS_HASH)
      assert.match(first.hash, /^[0-9a-f]{64}$/)
      assert.match(first.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      assert.deepEqual(first.details, {i: 1, note: 'x'})
      const second = await chain.append(input(2, {deviceSerial: null, customerId: null, sourceIp: null, details: undefined}))
      assert.equal(second.prevHash, first.hash)
      assert.equal(second.deviceSerial, null)
      assert.deepEqual(second.details, {})
      const result = await chain.verify()
      assert.deepEqual({ok: result.ok, checked: result.checked, problems: result.problems}, {ok: true, checked: 2, problems: []})
      assert.deepEqual(await chain.head(), {seq: 2, hash: second.hash})
    })

    it('refuses malformed input without touching the chain', async () => {
      await assert.rejects(chain.append({...input(1), outcome: 'maybe' as never}), /outcome/)
      await assert.rejects(chain.append({...input(1), details: {n: BigInt(1)}}), TypeError)
      assert.equal((await chain.head()).seq, 0)
    })

    it('keeps one chain under 200 concurrent appends (group commit)', async () => {
      const events = await Promise.all(Array.from({length: 200}, (_, i) => chain.append(input(i))))
      assert.deepEqual(events.map((e) => e.seq).sort((a, b) => a - b), Array.from({length: 200}, (_, i) => i + 1))
      const result = await chain.verify()
      assert.equal(result.ok, true, JSON.stringify(result.problems))
      assert.equal(result.checked, 200)
    })

    it('keeps one chain when separate processes append at once', async function () {
      this.timeout(120_000)
      await seed(3)
      // Two more chains in this process on their own connections, plus two processes.
      const other = new AuditChain(t.opened.db, t.opened.dialect)
      await Promise.all([
        runWorker(t.url, 150, 'node-a'),
        runWorker(t.url, 150, 'node-b'),
        ...Array.from({length: 50}, (_, i) => other.append(input(i, {actor: 'node-c'}))),
        ...Array.from({length: 50}, (_, i) => chain.append(input(i, {actor: 'node-d'}))),
      ])
      const result = await chain.verify()
      assert.equal(result.ok, true, JSON.stringify(result.problems))
      assert.equal(result.checked, 403)
      const byActor = await t.opened.db.selectFrom('audit_events').select(['actor', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('actor').orderBy('actor').execute()
      assert.deepEqual(byActor.map((r) => [r.actor, Number(r.n)]), [['alice', 3], ['node-a', 150], ['node-b', 150], ['node-c', 50], ['node-d', 50]])
    })

    it('bulk appendBatch writes a valid chain after single appends', async () => {
      await seed(2)
      const res = await chain.appendBatch(Array.from({length: 2500}, (_, i) => input(i)))
      assert.equal(res.count, 2500)
      assert.equal(res.lastSeq, 2502)
      const result = await chain.verify()
      assert.equal(result.ok, true)
      assert.equal(result.checked, 2502)
    })

    it('names an edited event', async () => {
      await seed(5)
      const target = await rowAt(3)
      await sql`update audit_events set details = ${'{"i":3,"note":"tampered"}'} where seq = 3`.execute(t.opened.db)
      const result = await chain.verify()
      assert.equal(result.ok, false)
      assert.deepEqual(result.problems.map((p) => [p.kind, p.seq, p.id]), [['edited', 3, target.id]])
    })

    it('names an event rewritten with a recomputed hash by its broken successor link', async () => {
      await seed(5)
      const target = await rowAt(2)
      const {eventHash} = await import('../../../src/server/audit/canonical.js')
      const forged = {...target, seq: Number(target.seq), actor: 'mallory'}
      await sql`update audit_events set actor = 'mallory', hash = ${eventHash(forged)} where seq = 2`.execute(t.opened.db)
      const result = await chain.verify()
      assert.deepEqual(result.problems.map((p) => [p.kind, p.seq, p.id]), [['edited', 2, target.id]])
    })

    it('names a deleted middle event', async () => {
      await seed(6)
      await sql`delete from audit_events where seq = 4`.execute(t.opened.db)
      const result = await chain.verify()
      assert.deepEqual(result.problems.map((p) => [p.kind, p.seq, p.id]), [['deleted', 4, null]])
      assert.match(result.problems[0].message, /seq 4 missing/)
    })

    it('names a forged event inserted past the head, even with a valid hash and link', async () => {
      await seed(3)
      const {eventHash} = await import('../../../src/server/audit/canonical.js')
      const head = await chain.head()
      const forged = {
        seq: 4, id: 'forged-1', time: new Date().toISOString(), actor_type: 'user' as const, actor: 'mallory', action: 'user.create',
        device_serial: null, customer_id: null, outcome: 'success' as const, source_ip: null, details: '{}', prev_hash: head.hash,
      }
      await t.opened.db.insertInto('audit_events').values({...forged, hash: eventHash(forged)}).execute()
      const result = await chain.verify()
      assert.deepEqual(result.problems.map((p) => [p.kind, p.seq, p.id]), [['inserted', 4, 'forged-1']])
    })

    it('detects truncation of the newest events through the head', async () => {
      await seed(5)
      await sql`delete from audit_events where seq >= 4`.execute(t.opened.db)
      const result = await chain.verify()
      assert.deepEqual(result.problems.map((p) => [p.kind, p.seq]), [['deleted', 4]])
      assert.match(result.problems[0].message, /seq 4\.\.5 missing/)
    })

    it('names reordered events', async () => {
      await seed(6)
      const [a, b] = [await rowAt(3), await rowAt(4)]
      // Swap the two rows' positions: seq 3 now holds event b and seq 4 event a.
      await sql`update audit_events set seq = -1 where seq = 3`.execute(t.opened.db)
      await sql`update audit_events set seq = 3 where seq = 4`.execute(t.opened.db)
      await sql`update audit_events set seq = 4 where seq = -1`.execute(t.opened.db)
      const result = await chain.verify()
      assert.deepEqual(result.problems.map((p) => [p.kind, p.seq, p.id]), [['reordered', 3, b.id], ['reordered', 4, a.id]])
    })
  })
}
