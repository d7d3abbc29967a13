import {strict as assert} from 'node:assert'
import {createHash, randomBytes} from 'node:crypto'
import {readdir} from 'node:fs/promises'
import {join} from 'node:path'
import {readRepoMetadata} from '../../../src/client/updates-publish.js'
import {generateSigningKey, signMetadata, parseMetadata} from '../../../src/shared/tuf/index.js'
import {auditEvents, buildTestApp, call, seedUser, sessionFor, type TestApp} from '../helpers/app.js'
import {DB_KINDS} from '../helpers/database.js'
import {makeRepo, type RepoFixture} from './repo-fixture.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read loosely-typed API answers
type Loose = any

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

for (const kind of DB_KINDS) {
  describe(`updates publish (${kind})`, function () {
    this.timeout(30_000)
    let t: TestApp
    let repo: RepoFixture
    let token: string

    beforeEach(async () => {
      t = await buildTestApp(kind)
      await seedUser(t.app, {username: 'rel', role: 'admin'})
      token = (await sessionFor(t.app, 'rel')).accessToken
      repo = await makeRepo(t.app.updates.onlinePublicKeys())
    })
    afterEach(async () => {
      await repo?.close()
      await t?.close()
    })

    const begin = (body: unknown) => call(t.app, 'POST', '/updates/publishes', {token, body})
    const put = (id: string, path: string, bytes: Buffer) =>
      t.app.inject({method: 'PUT', url: `/api/v1/updates/publishes/${id}/packages/${path}`, headers: {authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream'}, payload: bytes})
    const commit = (id: string) => call(t.app, 'POST', `/updates/publishes/${id}/commit`, {token, body: {}})
    const stored = async () => ({
      metadata: (await t.app.db.selectFrom('tuf_metadata').select(['role', 'version']).execute()).length,
      targets: (await t.app.db.selectFrom('update_targets').select('path').execute()).length,
    })
    const blobs = async () => readdir(join(t.config.updates.storageDir, 'targets')).catch(() => [])

    /** The whole publish as the CLI does it; returns the commit answer. */
    const publish = async (packages: Record<string, Buffer>): Promise<Loose> => {
      const plan = await begin(await readRepoMetadata(repo.dir))
      assert.equal(plan.statusCode, 201, plan.body)
      for (const p of plan.json().packages as Loose[]) if (!p.present) assert.equal((await put(plan.json().publishId, p.path, packages[p.path])).statusCode, 200)
      const done = await commit(plan.json().publishId)
      assert.equal(done.statusCode, 200, done.body)
      return done.json()
    }

    it('publishes: trusts 1.root.json on first publish, stores the package, signs snapshot and timestamp, audits who, versions and hashes', async () => {
      const pkg = randomBytes(100_000)
      const {path} = await repo.add('2.4.1', pkg)
      const result = await publish({[path]: pkg})
      assert.deepEqual({root: result.rootVersion, newRoots: result.newRoots, targets: result.targetsVersion, snapshot: result.snapshotVersion, timestamp: result.timestampVersion, added: result.added}, {root: 1, newRoots: [1], targets: 2, snapshot: 1, timestamp: 1, added: [path]})
      const listed = await call(t.app, 'GET', '/updates/targets', {token})
      assert.equal(listed.statusCode, 200, listed.body)
      assert.deepEqual(listed.json().targets.map((x: Loose) => [x.path, x.version, x.models, x.length, x.sha256, x.publishedBy]), [[path, '2.4.1', ['Analyzer X200'], pkg.length, sha(pkg), 'rel']])
      assert.deepEqual(await t.app.updates.findTarget({version: '2.4.1', model: 'Analyzer X200'}), {path, version: '2.4.1', models: ['Analyzer X200'], length: pkg.length, sha256: sha(pkg)})
      assert.equal(await t.app.updates.findTarget({version: '2.4.1', model: 'Other'}), null)
      const [published] = await auditEvents(t.app, 'updates.published')
      assert.equal(published.actor, 'rel')
      const details = JSON.parse(published.details)
      assert.deepEqual(details.added, [{path, version: '2.4.1', models: ['Analyzer X200'], length: pkg.length, sha256: sha(pkg)}])
      assert.equal((await auditEvents(t.app, 'updates.root.trusted')).length, 1)
      // A second publish with one more target sends only the new package.
      const pkg2 = randomBytes(5000)
      const second = await repo.add('2.5.0', pkg2)
      const plan = await begin(await readRepoMetadata(repo.dir))
      assert.deepEqual(plan.json().packages.map((p: Loose) => [p.path, p.present]), [[path, true], [second.path, false]])
    })

    it('refuses a targets.json whose signature does not verify (422), storing nothing', async () => {
      const pkg = randomBytes(1000)
      await repo.add('2.4.1', pkg)
      const body = await readRepoMetadata(repo.dir)
      const targets = body.targets as Loose
      targets.signed.targets[Object.keys(targets.signed.targets)[0]].length = 999
      const refused = await begin(body)
      assert.equal(refused.statusCode, 422, refused.body)
      assert.equal(refused.json().error.code, 'TUF_METADATA_INVALID')
      assert.match(refused.json().error.message, /^targets\.json: not signed by enough targets keys/)
      assert.deepEqual(await stored(), {metadata: 0, targets: 0})
      assert.equal((await t.app.db.selectFrom('update_publishes').select('id').execute()).length, 0)
    })

    it('refuses a package the targets key did not sign and bytes that do not match (422), and a commit without them (409)', async () => {
      const pkg = randomBytes(70_000)
      const {path} = await repo.add('2.4.1', pkg)
      const plan = await begin(await readRepoMetadata(repo.dir))
      const id = plan.json().publishId
      const unsigned = await put(id, '2.4.1/extra.bin', randomBytes(10))
      assert.equal(unsigned.statusCode, 422, unsigned.body)
      assert.match(unsigned.json().error.message, /^targets\[2\.4\.1\/extra\.bin\]: not a target of the signed targets\.json/)
      const altered = Buffer.from(pkg)
      altered[1234] ^= 1
      const bad = await put(id, path, altered)
      assert.equal(bad.statusCode, 422, bad.body)
      assert.match(bad.json().error.message, /sha256 .* is not the signed/)
      const longer = await put(id, path, Buffer.concat([pkg, Buffer.from('x')]))
      assert.equal(longer.statusCode, 422, longer.body)
      assert.match(longer.json().error.message, /longer than the signed length/)
      assert.deepEqual(await blobs(), [])
      const early = await commit(id)
      assert.equal(early.statusCode, 409, early.body)
      assert.equal(early.json().error.code, 'PACKAGES_MISSING')
      assert.deepEqual(await stored(), {metadata: 0, targets: 0})
      assert.equal((await put(id, path, pkg)).statusCode, 200)
      assert.equal((await commit(id)).statusCode, 200)
    })

    it('accepts a root rotation signed by both thresholds, and refuses one signed by the new keys alone', async () => {
      const pkg = randomBytes(1000)
      const {path} = await repo.add('1.0.0', pkg)
      await publish({[path]: pkg})
      await repo.rotate({newKeys: 3})
      // A forged 2.root.json: the same new root, but signed only by keys the old root never named.
      const body = await readRepoMetadata(repo.dir)
      const forged = parseMetadata('root', structuredClone(body.roots[1]))
      forged.signatures = {}
      const strangers = [generateSigningKey(), generateSigningKey()]
      ;(forged.signed.roles.root as {keyIDs: string[]}).keyIDs = strangers.map((k) => k.keyId)
      for (const k of strangers) forged.signed.keys[k.keyId] = k.publicKey
      signMetadata(forged, strangers)
      const refused = await begin({...body, roots: [body.roots[0], forged.toJSON() as Loose]})
      assert.equal(refused.statusCode, 422, refused.body)
      assert.match(refused.json().error.message, /^2\.root\.json \(by the keys of root 1\): not signed by enough root keys/)
      const pkg2 = randomBytes(500)
      const second = await repo.add('1.1.0', pkg2)
      const rotated = await publish({[second.path]: pkg2})
      assert.deepEqual({root: rotated.rootVersion, newRoots: rotated.newRoots}, {root: 2, newRoots: [2]})
      assert.equal((await auditEvents(t.app, 'updates.root.rotated')).length, 1)
    })

    it('refuses a root that does not name the server\'s online keys', async () => {
      const other = await makeRepo({snapshot: [t.app.updates.onlinePublicKeys().timestamp[0]], timestamp: t.app.updates.onlinePublicKeys().timestamp})
      try {
        const refused = await begin(await readRepoMetadata(other.dir))
        assert.equal(refused.statusCode, 422, refused.body)
        assert.match(refused.json().error.message, /its snapshot role must list this server's snapshot key/)
      } finally {
        await other.close()
      }
    })

    it('re-signs timestamp.json once less than half of its lifetime is left, with a higher version', async () => {
      const pkg = randomBytes(100)
      const {path} = await repo.add('1.0.0', pkg)
      await publish({[path]: pkg})
      assert.equal(await t.app.updates.refresh(new Date()), undefined)
      const later = new Date(Date.now() + (t.config.updates.timestampExpirySeconds * 1000 * 2) / 3)
      const resigned = await t.app.updates.refresh(later)
      assert.deepEqual({ts: resigned?.timestampVersion, snap: resigned?.snapshotVersion}, {ts: 2, snap: 1})
      assert.equal(resigned?.timestampExpires, new Date(later.getTime() + t.config.updates.timestampExpirySeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'))
      assert.equal((await auditEvents(t.app, 'updates.timestamp.resigned')).length, 1)
    })

    it('needs updates:publish', async () => {
      await seedUser(t.app, {username: 'eng', role: 'service-engineer'})
      const eng = (await sessionFor(t.app, 'eng')).accessToken
      const res = await call(t.app, 'POST', '/updates/publishes', {token: eng, body: await readRepoMetadata(repo.dir)})
      assert.equal(res.statusCode, 403)
    })
  })
}
