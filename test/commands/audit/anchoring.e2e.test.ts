import {strict as assert} from 'node:assert'
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {openDatabase} from '../../../src/server/db/connect.js'
import {type AgentUnderTest, enrollAgent} from '../../agent/helpers/agent-process.js'
import {eventually, expectExit, json, SupportCenter} from '../../agent/helpers/support-center.js'
import {rewriteAndRecompute} from '../../server/audit/tamper.js'
import {DB_KINDS} from '../../server/helpers/database.js'

interface Verified {
  ok: boolean
  head: {seq: number; hash: string}
  problems: Array<{kind: string; seq: number | null; message: string}>
  checkpoints: Array<{seq: number; verdict: string}>
  witnesses: {checked: number; devices: number}
}

/**
 * The audit anchoring as an auditor and a device live it, all real processes: a checkpoint kept
 * in a file and a device holding the latest one as a witness; then someone with database access
 * rewrites history and recomputes every hash and the head. The chain alone still verifies; the
 * file and the device both give it away.
 */
for (const kind of DB_KINDS) describe(`audit checkpoints and device witnesses (${kind}, e2e)`, function () {
  this.timeout(180_000)
  let sc: SupportCenter
  let agent: AgentUnderTest
  const SERIAL = 'SN-WITNESS-1'

  before(async () => {
    sc = await SupportCenter.create({database: kind})
    await sc.start()
    await sc.loginAdmin()
    agent = await enrollAgent(sc, SERIAL)
    await agent.tune()
  })
  after(async () => {
    await agent?.stop()
    await sc?.dispose()
  })

  it('a checkpoint kept in a file and by the device; export and verify name the head', async () => {
    agent.start()
    await eventually(async () => (await agent.status()).state === 'connected', 'agent connected')
    const file = join(sc.dir, 'checkpoint.json')
    const cp = json<{checkpoint: {seq: number; hash: string}; publicKey: {keyId: string}}>(expectExit(await sc.admin(['audit', 'checkpoint', '-o', file, '--json']), 0))
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), cp)
    // The checkpoint signed on demand reaches the connected device, which keeps it.
    await eventually(async () => ((await agent.status()).witness as {seq: number} | null)?.seq === cp.checkpoint.seq, 'the device witnessed the checkpoint')
    const human = expectExit(await sc.admin(['audit', 'verify', '--checkpoint', file]), 0)
    assert.match(human.stdout, /ok: the audit chain is intact .*1 of 1 checkpoint\(s\) hold/)
    assert.match(human.stdout, /Verified up to seq \d+, hash [0-9a-f]{64}/)
    const exported = expectExit(await sc.admin(['audit', 'export', '-o', join(sc.dir, 'audit.jsonl')]), 0)
    assert.match(exported.stdout, /Chain head: seq \d+, hash [0-9a-f]{64}/)
    const toStdout = expectExit(await sc.admin(['audit', 'export']), 0)
    assert.match(toStdout.stderr, /Chain head: seq \d+/)
    assert.doesNotMatch(toStdout.stdout, /Chain head/)
  })

  it('a rewrite with recomputed hashes passes the chain check alone, and fails on the kept file and on the device witness', async () => {
    await agent.stop()
    const opened = await openDatabase(sc.databaseUrl)
    try {
      await rewriteAndRecompute(opened.db, 2)
    } finally {
      await opened.close()
    }
    const alone = json<Verified>(await sc.admin(['audit', 'verify', '--json']))
    assert.deepEqual(alone.problems.filter((p) => p.kind !== 'witness'), [], 'every hash and the head were recomputed')
    // The device reconnects and presents its witness.
    agent.start()
    await eventually(async () => (await agent.status()).state === 'connected', 'agent reconnected')
    const broken = await eventually(async () => {
      const r = await sc.admin(['audit', 'verify', '--checkpoint', join(sc.dir, 'checkpoint.json'), '--json'])
      const doc = json<Verified>(r)
      return r.code === 1 && doc.problems.some((p) => p.kind === 'witness') ? doc : undefined
    }, 'verify reports the witness')
    assert.deepEqual([...new Set(broken.problems.map((p) => p.kind))].sort(), ['checkpoint', 'witness'])
    assert.match(broken.problems.find((p) => p.kind === 'witness')!.message, new RegExp(`witnessed by ${SERIAL}: .*rewritten at or before seq`))
    assert.equal(broken.checkpoints[0].verdict, 'mismatch')
    assert.match(sc.log, /AUDIT ALARM: device SN-WITNESS-1 witnessed a checkpoint the chain no longer holds/)
    const human = await sc.admin(['audit', 'verify'])
    expectExit(human, 1)
    assert.match(human.stdout, /witness/)
  })

  it('a checkpoint file that is missing, not JSON or altered is a usage error naming the flag', async () => {
    const missing = expectExit(await sc.admin(['audit', 'verify', '--checkpoint', join(sc.dir, 'nope.json')]), 2)
    assert.match(missing.stderr, /--checkpoint .*nope\.json: no such file/)
    const file = join(sc.dir, 'checkpoint.json')
    const doc = JSON.parse(await readFile(file, 'utf8'))
    doc.checkpoint.seq += 1
    const {writeFile} = await import('node:fs/promises')
    await writeFile(join(sc.dir, 'altered.json'), JSON.stringify(doc))
    const altered = expectExit(await sc.admin(['audit', 'verify', '--checkpoint', join(sc.dir, 'altered.json')]), 2)
    assert.match(altered.stderr, /signature does not verify with the key in the file/)
  })
})
