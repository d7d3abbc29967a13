import {strict as assert} from 'node:assert'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {LocalAudit} from '../../src/agent/local-audit.js'

describe('agent LocalAudit (hash chain)', () => {
  let dir: string
  let audit: LocalAudit
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-local-audit-'))
    audit = new LocalAudit(join(dir, 'audit.log'))
    for (let i = 1; i <= 5; i++) await audit.append({action: `test.${i}`, outcome: 'success', actor: 'local:test', details: {i}})
  })
  afterEach(async () => rm(dir, {recursive: true, force: true}))

  const lines = async (): Promise<string[]> => (await readFile(join(dir, 'audit.log'), 'utf8')).trimEnd().split('\n')
  const save = async (ls: string[]): Promise<void> => writeFile(join(dir, 'audit.log'), `${ls.join('\n')}\n`)

  it('chains entries and verifies an intact log', async () => {
    const entries = await audit.readAll()
    assert.deepEqual(entries.map((e) => e.seq), [1, 2, 3, 4, 5])
    assert.equal(entries[0].prev, '0'.repeat(64))
    for (let i = 1; i < entries.length; i++) assert.equal(entries[i].prev, entries[i - 1].hash)
    assert.deepEqual(await audit.verify(), {ok: true, entries: 5})
  })

  it('detects an edited line', async () => {
    const ls = await lines()
    ls[2] = ls[2].replace('"test.3"', '"test.three"')
    await save(ls)
    const r = await audit.verify()
    assert.equal(r.ok, false)
    assert.equal(r.brokenAt, 3)
    assert.match(r.problem!, /changed/)
  })

  it('detects a deleted line in the middle', async () => {
    const ls = await lines()
    ls.splice(1, 1)
    await save(ls)
    const r = await audit.verify()
    assert.equal(r.ok, false)
    assert.equal(r.brokenAt, 2)
  })

  it('detects lines cut off the end (audit.head)', async () => {
    await save((await lines()).slice(0, 3))
    const r = await audit.verify()
    assert.equal(r.ok, false)
    assert.match(r.problem!, /cut off/)
  })

  it('detects a line that is not JSON', async () => {
    const ls = await lines()
    ls[4] = 'garbage'
    await save(ls)
    assert.equal((await audit.verify()).brokenAt, 5)
  })

  it('an empty or missing log verifies', async () => {
    const empty = new LocalAudit(join(dir, 'none.log'))
    assert.deepEqual(await empty.verify(), {ok: true, entries: 0})
  })
})
