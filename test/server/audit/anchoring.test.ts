import {strict as assert} from 'node:assert'
import {AuditChain} from '../../../src/server/audit/chain.js'
import {Checkpoints} from '../../../src/server/audit/checkpoints.js'
import type {AuditInput} from '../../../src/server/audit/types.js'
import {verifyWithAnchors} from '../../../src/server/audit/verify-anchored.js'
import {recordWitness} from '../../../src/server/audit/witnesses.js'
import {checkpointSigner, generateCheckpointKeyPem} from '../../../src/shared/checkpoint-signature.js'
import {DIALECTS, type TestDatabase, freshDatabase} from './databases.js'
import {breakAuditInserts, deleteEvent, editEvent, insertBelowFirst, insertForgedPastHead, rewriteAndRecompute, rowAt, truncateAndRollBackHead} from './tamper.js'

const input = (i: number, extra: Partial<AuditInput> = {}): AuditInput => ({actorType: 'user', actor: 'alice', action: 'device.diagnostics.run', outcome: 'success', details: {i}, ...extra})

for (const dialect of DIALECTS) {
  describe(`audit integrity and anchoring (${dialect})`, function () {
    let t: TestDatabase
    let chain: AuditChain
    let checkpoints: Checkpoints
    const store = () => ({db: t.opened.db, dialect: t.opened.dialect})
    const verify = (given: Parameters<typeof verifyWithAnchors>[2] = []) => verifyWithAnchors(store(), checkpoints, given)

    beforeEach(async () => {
      t = await freshDatabase(dialect)
      chain = new AuditChain(t.opened.db, t.opened.dialect)
      checkpoints = new Checkpoints(store(), checkpointSigner(generateCheckpointKeyPem()))
      for (let i = 1; i <= 10; i++) await chain.append(input(i))
    })
    afterEach(async () => {
      await chain?.flush()
      await t?.cleanup()
    })

    it('hashes what the database returns: lone surrogates and NUL in any column keep the chain verifiable', async () => {
      // Before: SQLite stored other bytes, PostgreSQL U+FFFD, and verify called the row edited forever.
      await chain.append({...input(11), actor: 'x\ud800', action: 'auth.login\udfff', deviceSerial: 'SN\u0000', details: {name: 'a\ud800b', 'k\udc00': 1}})
      const row = await rowAt(t.opened.db, 11)
      assert.equal(row.actor, 'x\ufffd')
      assert.equal(row.action, 'auth.login\ufffd')
      assert.equal(row.device_serial, 'SN\ufffd')
      const result = await verify()
      assert.deepEqual(result.problems, [])
      assert.equal(result.ok, true)
      assert.deepEqual(result.head, {seq: 11, hash: row.hash})
    })

    it('a row written past the head by hand: later appends number after it and link past it; verify names it inserted, nothing else', async () => {
      const forged = await insertForgedPastHead(t.opened.db)
      // Before: this append failed (its seq was taken), and every request that audits answered 500.
      const next = await chain.append(input(12))
      assert.equal(next.seq, forged + 1)
      assert.equal(next.prevHash, (await rowAt(t.opened.db, 10)).hash)
      await chain.append(input(13))
      const result = await verify()
      assert.equal(result.ok, false)
      assert.deepEqual(
        result.problems.map((p) => [p.kind, p.seq]),
        [['inserted', forged]],
      )
      assert.match(result.problems[0].message, /not part of the chain/)
    })

    it('a garbage row past the head (wrong hash, no link) is named inserted once later appends link past it', async () => {
      const head = await rowAt(t.opened.db, 10)
      await t.opened.db.insertInto('audit_events').values({...head, seq: 11, id: '00000000-0000-7000-8000-00000000000b', prev_hash: 'f'.repeat(64), hash: 'e'.repeat(64)}).execute()
      await chain.append(input(12))
      const result = await verify()
      assert.deepEqual(result.problems.map((p) => [p.kind, p.seq]), [['inserted', 11]])
    })

    it('rows written below seq 1 by hand are named inserted (the walk from the genesis never reaches them)', async () => {
      const seqs = await insertBelowFirst(t.opened.db)
      const result = await verify()
      assert.equal(result.ok, false)
      assert.deepEqual(result.problems.map((p) => [p.kind, p.seq]).sort(), seqs.map((s) => ['inserted', s]).sort())
    })

    it('a change and its events are one transaction: when the audit insert fails, neither is stored', async () => {
      const restore = await breakAuditInserts(t.opened.db, dialect)
      try {
        await assert.rejects(
          chain.transaction(async (trx, record) => {
            await trx.insertInto('customers').values({id: 'acme', name: 'ACME', created_at: new Date().toISOString()}).execute()
            record(input(99, {action: 'customer.create'}))
          }),
          (e: Error & {code?: string}) => e.code === 'AUDIT_UNAVAILABLE',
        )
      } finally {
        await restore()
      }
      assert.equal(await t.opened.db.selectFrom('customers').selectAll().executeTakeFirst(), undefined)
      await chain.transaction(async (trx, record) => {
        await trx.insertInto('customers').values({id: 'acme', name: 'ACME', created_at: new Date().toISOString()}).execute()
        record(input(99, {action: 'customer.create'}))
      })
      assert.ok(await t.opened.db.selectFrom('customers').selectAll().where('id', '=', 'acme').executeTakeFirst())
      assert.equal((await rowAt(t.opened.db, 11)).action, 'customer.create')
      assert.equal((await verify()).ok, true)
    })

    // Each attack: what verify says without anything held outside, and with a checkpoint of seq 10.
    const attacks: Array<{name: string; attack: (db: TestDatabase['opened']['db']) => Promise<unknown>; alone: boolean}> = [
      {name: 'edit', attack: (db) => editEvent(db, 5), alone: true},
      {name: 'insert', attack: async (db) => {
        await insertForgedPastHead(db)
      }, alone: true},
      {name: 'insert below seq 1', attack: (db) => insertBelowFirst(db), alone: true},
      {name: 'delete', attack: (db) => deleteEvent(db, 5), alone: true},
      {name: 'truncate and roll the head back', attack: (db) => truncateAndRollBackHead(db, 7), alone: false},
      {name: 'recompute the chain', attack: (db) => rewriteAndRecompute(db, 3), alone: false},
    ]
    for (const {name, attack, alone} of attacks) {
      it(`${name}: ${alone ? 'verify catches it alone' : 'only a checkpoint catches it'}, and a checkpoint held outside always does`, async () => {
        const kept = (await checkpoints.signHead())!
        assert.equal(kept.seq, 10)
        assert.equal((await verify([kept])).ok, true)
        await attack(t.opened.db)
        assert.equal((await verify()).ok, !alone)
        const anchored = await verify([kept])
        assert.equal(anchored.ok, false)
        if (!alone) {
          assert.deepEqual(anchored.problems.map((p) => [p.kind, p.seq]), [['checkpoint', 10]])
          assert.equal(anchored.checkpoints[0].verdict, 'mismatch')
        }
      })
    }

    // The same attacks against a device that witnessed the head at seq 10 (and no checkpoint given
    // to verify): verify re-checks every witness the devices hold against the chain as it is now.
    const witness = async (cp: NonNullable<Awaited<ReturnType<Checkpoints['signHead']>>>) => {
      const now = new Date().toISOString()
      await t.opened.db.insertInto('customers').values({id: 'acme', name: 'ACME', created_at: now}).onConflict((oc) => oc.column('id').doNothing()).execute()
      await t.opened.db.insertInto('devices').values({serial: 'SN-W', model: 'm', customer_id: 'acme', site_id: null, labels: '{}', created_at: now}).onConflict((oc) => oc.column('serial').doNothing()).execute()
      return recordWitness(store(), chain, checkpoints, {serial: 'SN-W', customerId: 'acme'}, cp)
    }
    for (const {name, attack, alone} of attacks) {
      it(`${name}: a device that witnessed a later head makes verify fail${alone ? '' : ', naming the witness'}`, async () => {
        const held = (await checkpoints.signHead())!
        assert.equal(held.seq, 10)
        assert.deepEqual(await witness(held), {verdict: {verdict: 'ok'}, alarmed: false})
        assert.equal((await verify()).ok, true)
        await attack(t.opened.db)
        const result = await verify()
        assert.equal(result.ok, false)
        if (!alone) {
          assert.deepEqual(result.problems.map((p) => [p.kind, p.seq]), [['witness', 10]])
          assert.match(result.problems[0].message, /^witnessed by SN-W: /)
        }
      })
    }

    it('wiping audit_checkpoints and audit_witnesses with a rewrite hides nothing: the kept file and the device presenting again still catch it', async () => {
      const held = (await checkpoints.signHead())!
      await witness(held)
      await rewriteAndRecompute(t.opened.db, 3)
      await t.opened.db.deleteFrom('audit_witnesses').execute()
      await t.opened.db.deleteFrom('audit_checkpoints').execute()
      assert.equal((await verify()).ok, true, "with the anchors' rows gone, the chain alone verifies")
      assert.equal((await verify([held])).ok, false, "the auditor's copy does not depend on audit_checkpoints")
      // The device reconnects and presents the checkpoint it kept: an alarm, recorded in the chain.
      const presented = await witness(held)
      assert.deepEqual([presented.verdict.verdict, presented.alarmed], ['mismatch', true])
      const result = await verify()
      assert.deepEqual(result.problems.map((p) => [p.kind, p.seq]), [['witness', 10]])
      assert.equal((await t.opened.db.selectFrom('audit_events').select('action').orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow()).action, 'audit.witness.mismatch')
    })

    it('a checkpoint not signed by this server, or altered, is named as such (never ok)', async () => {
      const kept = (await checkpoints.signHead())!
      const stranger = checkpointSigner(generateCheckpointKeyPem()).sign({seq: kept.seq, hash: kept.hash})
      const altered = {...kept, time: new Date(0).toISOString()}
      const result = await verify([stranger, altered])
      assert.deepEqual(result.checkpoints.map((c) => c.verdict), ['unknown-key', 'bad-signature'])
      assert.equal(result.ok, false)
    })

    it('signs only when the head moved; concurrent signing stores one checkpoint per seq', async () => {
      const first = await checkpoints.signHead()
      assert.deepEqual(await checkpoints.signHead(), first)
      await chain.append(input(11))
      const other = new Checkpoints(store(), checkpointSigner(generateCheckpointKeyPem()))
      const both = await Promise.all([checkpoints.signHead(), checkpoints.signHead()])
      assert.equal(both[0]!.seq, 11)
      const rows = await t.opened.db.selectFrom('audit_checkpoints').selectAll().execute()
      assert.deepEqual(rows.map((r) => Number(r.seq)).sort((a, b) => a - b), [10, 11])
      assert.equal((await other.latest())!.seq, 11)
    })
  })
}
