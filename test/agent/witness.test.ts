import {strict as assert} from 'node:assert'
import {mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {agentFiles, type AgentFiles} from '../../src/agent/data-dir.js'
import {LocalAudit} from '../../src/agent/local-audit.js'
import {Witness} from '../../src/agent/witness.js'
import {readStoredWitness, witnessReport} from '../../src/agent/witness-files.js'
import {checkpointSigner, generateCheckpointKeyPem, type CheckpointSigner} from '../../src/shared/checkpoint-signature.js'

const hash = (c: string): string => c.repeat(64)

/** Records what the witness logs, to check that the operator is told. */
function recordingLog() {
  const lines: Array<{level: string; msg: string; obj: object}> = []
  return {
    lines,
    info: (obj: object, msg: string) => void lines.push({level: 'info', msg, obj}),
    warn: (obj: object, msg: string) => void lines.push({level: 'warn', msg, obj}),
  }
}

describe('Witness (the agent keeps the server audit checkpoint)', () => {
  let dir: string
  let files: AgentFiles
  let server: CheckpointSigner
  let log: ReturnType<typeof recordingLog>
  let witness: Witness
  const audit = () => new LocalAudit(files.audit).readAll()
  const actions = async () => (await audit()).map((e) => e.action)

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-witness-'))
    files = agentFiles(dir)
    server = checkpointSigner(generateCheckpointKeyPem())
    log = recordingLog()
    witness = new Witness(files, log)
  })
  afterEach(async () => rm(dir, {recursive: true, force: true}))

  it('pins the key on first sight, keeps a newer checkpoint once, and shows it for the next hello', async () => {
    assert.equal(await witness.forHello(), undefined)
    assert.equal(await witness.offerKey(server.publicKey), 'pinned')
    assert.equal((await stat(files.checkpointKey)).mode & 0o777, 0o600)
    assert.equal(await witness.offerKey(server.publicKey), 'matches')
    const cp = server.sign({seq: 10, hash: hash('a')})
    assert.equal(await witness.receive(cp), 'witnessed')
    assert.equal((await stat(files.witness)).mode & 0o777, 0o600)
    assert.deepEqual(await witness.forHello(), cp)
    // The same checkpoint again (e.g. after a reconnect) adds nothing.
    assert.equal(await witness.receive(server.sign({seq: 10, hash: hash('a')})), 'unchanged')
    const newer = server.sign({seq: 11, hash: hash('b')})
    assert.equal(await witness.receive(newer), 'witnessed')
    assert.deepEqual(await witness.forHello(), newer)
    const entries = await audit()
    assert.deepEqual(entries.map((e) => e.action), ['audit.checkpoint.key-pinned', 'audit.checkpoint.witnessed', 'audit.checkpoint.witnessed'])
    assert.deepEqual(entries[1].details, {seq: 10, hash: hash('a'), time: cp.time, keyId: cp.keyId, signature: cp.signature})
    assert.equal(entries[1].outcome, 'success')
    assert.deepEqual(await new LocalAudit(files.audit).verify(), {ok: true, entries: 3})
  })

  it('a lower seq, or the same seq with another hash, is a regression: audited, warned, the stored one kept', async () => {
    await witness.offerKey(server.publicKey)
    await witness.receive(server.sign({seq: 10, hash: hash('a')}))
    assert.equal(await witness.receive(server.sign({seq: 7, hash: hash('c')})), 'regressed')
    assert.equal(await witness.receive(server.sign({seq: 10, hash: hash('d')})), 'regressed')
    assert.equal((await readStoredWitness(files))!.checkpoint.hash, hash('a'))
    const regressions = (await audit()).filter((e) => e.action === 'audit.checkpoint.regressed')
    assert.deepEqual(
      regressions.map((e) => [e.outcome, (e.details.stored as {seq: number}).seq, (e.details.received as {seq: number; hash: string}).seq, (e.details.received as {hash: string}).hash]),
      [
        ['denied', 10, 7, hash('c')],
        ['denied', 10, 10, hash('d')],
      ],
    )
    assert.equal(log.lines.filter((l) => l.level === 'warn' && /rollback or fork/.test(l.msg)).length, 2)
  })

  it('accepts nothing it cannot verify: no pinned key, a forged signature, another key', async () => {
    assert.equal(await witness.receive(server.sign({seq: 1, hash: hash('a')})), 'unverified')
    await witness.offerKey(server.publicKey)
    const forged = {...server.sign({seq: 2, hash: hash('a')}), hash: hash('e')}
    assert.equal(await witness.receive(forged), 'unverified')
    const other = checkpointSigner(generateCheckpointKeyPem())
    assert.equal(await witness.receive(other.sign({seq: 3, hash: hash('a')})), 'unverified')
    assert.equal(await readStoredWitness(files), null)
    assert.deepEqual(await actions(), ['audit.checkpoint.key-pinned'])
  })

  it('a different key later: audited with both ids and re-pinned; its checkpoints then count, the old witness is not compared with them', async () => {
    await witness.offerKey(server.publicKey)
    await witness.receive(server.sign({seq: 50, hash: hash('a')}))
    const rekeyed = checkpointSigner(generateCheckpointKeyPem())
    // Before the new key is offered, its checkpoints are not trusted.
    assert.equal(await witness.receive(rekeyed.sign({seq: 3, hash: hash('f')})), 'unverified')
    assert.equal(await witness.offerKey(rekeyed.publicKey), 'changed')
    assert.equal(await witness.offerKey(rekeyed.publicKey), 'matches')
    const changes = (await audit()).filter((e) => e.action === 'audit.checkpoint.key-changed')
    assert.deepEqual(
      changes.map((e) => [e.outcome, e.details]),
      [['failure', {pinnedKeyId: server.publicKey.keyId, offeredKeyId: rekeyed.publicKey.keyId}]],
    )
    // A lower seq under the new key is a new chain, not a regression of the old one.
    assert.equal(await witness.receive(rekeyed.sign({seq: 3, hash: hash('f')})), 'witnessed')
    const report = await witnessReport(files)
    assert.deepEqual(report.checkpointKey, {keyId: rekeyed.publicKey.keyId, pinnedAt: report.checkpointKey!.pinnedAt, previousKeyId: server.publicKey.keyId})
    assert.deepEqual([report.witness!.seq, report.witness!.keyId], [3, rekeyed.publicKey.keyId])
    // The old key's checkpoints are no longer accepted.
    assert.equal(await witness.receive(server.sign({seq: 60, hash: hash('a')})), 'unverified')
  })

  it('ignores a welcome key whose id does not belong to it, and a damaged witness.json only costs the hello its witness', async () => {
    const other = checkpointSigner(generateCheckpointKeyPem())
    assert.equal(await witness.offerKey({keyId: other.publicKey.keyId, publicKey: server.publicKey.publicKey}), 'invalid')
    assert.equal(await witnessReport(files).then((r) => r.checkpointKey), null)
    await writeFile(files.witness, '{"v":1,')
    assert.equal(await witness.forHello(), undefined)
    assert.ok(log.lines.some((l) => l.level === 'warn' && /witness\.json unreadable/.test(l.msg)))
    await witness.offerKey(server.publicKey)
    // Storing next to a damaged file fails loudly in the log, not silently and not by throwing into the session.
    assert.equal(await witness.receive(server.sign({seq: 1, hash: hash('a')})), 'error')
    assert.match(await readFile(files.witness, 'utf8'), /^\{"v":1,$/)
  })

  it('applies offers and checkpoints in arrival order even when they come in the same tick', async () => {
    const cp = server.sign({seq: 3, hash: hash('a')})
    const [pinned, stored] = await Promise.all([witness.offerKey(server.publicKey), witness.receive(cp)])
    assert.deepEqual([pinned, stored], ['pinned', 'witnessed'])
  })
})
