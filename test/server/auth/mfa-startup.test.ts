import {strict as assert} from 'node:assert'
import {randomUUID} from 'node:crypto'
import {mkdtemp, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {sql} from 'kysely'
import {Secret} from 'otpauth'
import {createMfaKey, generateMfaKey, readMfaKey} from '../../../src/server/auth/mfa-key.js'
import {openTotpSecret, sealTotpSecret} from '../../../src/server/auth/mfa-secret.js'
import {PG_LOCK, prepareMfaSecrets} from '../../../src/server/auth/mfa-startup.js'
import {migrateToLatest, type OpenedDatabase, openDatabase} from '../../../src/server/db/connect.js'
import {createTestDatabase, DB_KINDS, type TestDatabase} from '../helpers/database.js'

for (const kind of DB_KINDS) {
  describe(`server/auth/mfa-startup (${kind})`, () => {
    let dir: string
    let database: TestDatabase
    let opened: OpenedDatabase
    let keyFile: string

    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tether-mfa-start-'))
      keyFile = join(dir, 'secrets', 'mfa.key')
      database = await createTestDatabase(kind)
      opened = await openDatabase(database.url)
      await migrateToLatest(opened)
    })
    afterEach(async () => {
      await opened?.close()
      await database?.drop()
      await rm(dir, {recursive: true, force: true})
    })

    /** A user row as an older tether left it: the base32 secret in clear. */
    async function legacyUser(name: string, secret: string | null = new Secret({size: 20}).base32): Promise<{id: string; secret: string | null}> {
      const id = randomUUID()
      const now = new Date().toISOString()
      await opened.db
        .insertInto('users')
        .values({id, username: name, display_name: null, role: 'service-engineer', password_hash: 'x', mfa_secret: secret, mfa_enabled: secret ? 1 : 0, scope_all: 0, disabled_at: null, token_epoch: 0, created_at: now, updated_at: now})
        .execute()
      return {id, secret}
    }

    const storedOf = async (id: string): Promise<string | null> =>
      (await opened.db.selectFrom('users').select('mfa_secret').where('id', '=', id).executeTakeFirstOrThrow()).mfa_secret

    it('creates a missing key (0600) for an older data dir and seals its plaintext secrets once', async () => {
      const users = [await legacyUser('a'), await legacyUser('b'), await legacyUser('c', null)]
      const first = await prepareMfaSecrets(opened.db, opened.dialect, keyFile)
      assert.equal(first.created, true)
      assert.equal(first.sealed, 2)
      assert.equal((await stat(keyFile)).mode & 0o777, 0o600)
      assert.equal((await readMfaKey(keyFile))?.id, first.key.id)
      for (const user of users.slice(0, 2)) {
        const stored = (await storedOf(user.id))!
        assert.match(stored, new RegExp(`^v1:${first.key.id}:`))
        assert.equal(openTotpSecret(first.key, user.id, stored), user.secret)
      }
      assert.equal(await storedOf(users[2].id), null, 'no secret stays no secret')

      const again = await prepareMfaSecrets(opened.db, opened.dialect, keyFile)
      assert.deepEqual({created: again.created, sealed: again.sealed, id: again.key.id}, {created: false, sealed: 0, id: first.key.id})
      assert.equal(openTotpSecret(again.key, users[0].id, (await storedOf(users[0].id))!), users[0].secret, 'not sealed twice')
    })

    it('seals each secret exactly once when several nodes start at the same moment', async () => {
      const users = await Promise.all(Array.from({length: 12}, (_, i) => legacyUser(`u${i}`)))
      // Every node has the same key file, copied from the first.
      await createMfaKey(keyFile)
      const nodes = await Promise.all([openDatabase(database.url), openDatabase(database.url), openDatabase(database.url)])
      try {
        const results = await Promise.all(nodes.map((node) => prepareMfaSecrets(node.db, node.dialect, keyFile)))
        assert.equal(results.reduce((sum, r) => sum + r.sealed, 0), users.length)
        for (const user of users) assert.equal(openTotpSecret(results[0].key, user.id, (await storedOf(user.id))!), user.secret)
      } finally {
        for (const node of nodes) await node.close()
      }
    })

    if (kind === 'postgres') {
      it('makes a key-less node wait for one that is starting, then refuse rather than make a second key', async () => {
        const user = await legacyUser('a')
        const first = await openDatabase(database.url)
        let pending: Promise<unknown> | undefined
        try {
          // The first node, mid-start: it holds the lock, and seals with the key it just made.
          await first.db.transaction().execute(async (trx) => {
            await sql`select ${PG_LOCK}`.execute(trx)
            pending = prepareMfaSecrets(opened.db, opened.dialect, keyFile)
            let settled = false
            pending.then(
              () => (settled = true),
              () => (settled = true),
            )
            await new Promise((resolve) => setTimeout(resolve, 500))
            assert.equal(settled, false, 'the second node waits for the lock')
            const firstKey = await createMfaKey(join(dir, 'node1', 'mfa.key'))
            await trx.updateTable('users').set({mfa_secret: sealTotpSecret(firstKey, user.id, user.secret!)}).where('id', '=', user.id).execute()
          })
        } finally {
          await first.close()
        }
        await assert.rejects(pending!, {code: 'MFA_KEY', message: /is missing, but TOTP secrets in the database are sealed with MFA key/})
        assert.equal(await readMfaKey(keyFile), null)
      })
    }

    it('refuses to start without the key file once secrets are sealed, and does not make a new one', async () => {
      await legacyUser('a')
      const {key} = await prepareMfaSecrets(opened.db, opened.dialect, keyFile)
      await rm(keyFile)
      await assert.rejects(prepareMfaSecrets(opened.db, opened.dialect, keyFile), {
        code: 'MFA_KEY',
        message: new RegExp(`^${escape(keyFile)} is missing, but TOTP secrets in the database are sealed with MFA key ${key.id}: copy that file`),
      })
      assert.equal(await readMfaKey(keyFile), null)
    })

    it('refuses another key than the one that sealed the secrets, naming the file and both keys', async () => {
      const user = await legacyUser('a')
      const {key} = await prepareMfaSecrets(opened.db, opened.dialect, keyFile)
      await writeFile(keyFile, generateMfaKey())
      const wrong = (await readMfaKey(keyFile))!
      await assert.rejects(prepareMfaSecrets(opened.db, opened.dialect, keyFile), {
        code: 'MFA_KEY',
        message: new RegExp(`^${escape(keyFile)} is MFA key ${wrong.id}, but TOTP secrets in the database are sealed with MFA key ${key.id}: copy the key file`),
      })
      // A plaintext secret next to the sealed ones is not sealed with the wrong key either.
      const late = await legacyUser('late')
      await assert.rejects(prepareMfaSecrets(opened.db, opened.dialect, keyFile), {code: 'MFA_KEY'})
      assert.equal(await storedOf(late.id), late.secret)
      assert.match((await storedOf(user.id))!, new RegExp(`^v1:${key.id}:`))
    })

    it('refuses secrets sealed in a format it does not know (a newer tether)', async () => {
      const user = await legacyUser('a', 'v2:0123456789abcdef:AAAA:BBBB')
      await assert.rejects(prepareMfaSecrets(opened.db, opened.dialect, keyFile), {code: 'MFA_KEY', message: /format this tether does not know \(v2:0123456789abcdef\): upgrade tether/})
      assert.equal(await storedOf(user.id), 'v2:0123456789abcdef:AAAA:BBBB')
    })
  })
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
