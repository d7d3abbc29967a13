import {strict as assert} from 'node:assert'
import {X509Certificate} from 'node:crypto'
import {mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'
import {verifyPassword} from '../../src/server/auth/passwords.js'
import {readServerConfig} from '../../src/server/config-store.js'
import {openDatabase} from '../../src/server/db/connect.js'
import {initDataDir} from '../../src/server/init.js'
import {checkpointSigner} from '../../src/shared/checkpoint-signature.js'
import {createCa, issueServerCert, loadCa} from '../../src/server/pki/ca.js'
import {machineNames} from '../../src/server/pki/hostnames.js'
import {createTestDatabase, DB_KINDS, type TestDatabase} from './helpers/database.js'

const PASSWORD = 'Correct-Horse-42-battery'

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777
}

async function adminRow(database: string, username = 'admin') {
  const opened = await openDatabase(database)
  try {
    return await opened.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst()
  } finally {
    await opened.close()
  }
}

async function auditRows(database: string) {
  const opened = await openDatabase(database)
  try {
    return await opened.db.selectFrom('audit_events').selectAll().orderBy('seq').execute()
  } finally {
    await opened.close()
  }
}

describe('server init (library)', () => {
  let root: string
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'tether-init-'))
  })
  afterEach(async () => rm(root, {recursive: true, force: true}))

  it('creates config, CAs, server certificate, JWT secret, MFA key and admin with private modes', async () => {
    const dataDir = join(root, 'data')
    const result = await initDataDir({dataDir, hostnames: ['tether.example.org', '127.0.0.5'], adminPassword: PASSWORD})
    assert.equal(result.admin.generatedPassword, undefined)
    assert.equal(await mode(dataDir), 0o700)
    for (const sub of ['tls', 'device-ca', 'secrets']) assert.equal(await mode(join(dataDir, sub)), 0o700, sub)
    for (const key of ['tls/server.key', 'tls/ca.key', 'device-ca/ca.key', 'secrets/jwt.key', 'secrets/mfa.key', 'config.json', 'tether.db']) {
      assert.equal(await mode(join(dataDir, key)), 0o600, key)
    }
    // Nothing left over from the temp build directory.
    assert.deepEqual(await readdir(root), ['data'])

    const raw = JSON.parse(await readFile(join(dataDir, 'config.json'), 'utf8'))
    assert.equal(raw.tls.certFile, 'tls/server.crt', 'paths in the data dir are stored relative')
    assert.equal(raw.database, 'tether.db')
    const config = (await readServerConfig(dataDir))!
    assert.equal(config.tls.certFile, join(dataDir, 'tls/server.crt'))
    assert.deepEqual(config.hostnames, ['tether.example.org', '127.0.0.5'])

    const leaf = new X509Certificate(await readFile(config.tls.certFile))
    const ca = new X509Certificate(await readFile(config.tls.caFile))
    assert.ok(leaf.verify(ca.publicKey))
    assert.equal(leaf.checkIP('127.0.0.5'), '127.0.0.5')
    assert.equal(result.caFingerprint, ca.fingerprint256)
    const deviceCa = new X509Certificate(await readFile(config.deviceCa.certFile))
    assert.notEqual(deviceCa.fingerprint256, ca.fingerprint256, 'the device CA is a separate CA')
    assert.ok((await readFile(config.auth.jwtSecretFile, 'utf8')).trim().length >= 32)
    assert.equal(raw.auth.mfaKeyFile, 'secrets/mfa.key')
    assert.equal(result.mfaKeyFile, join(dataDir, 'secrets/mfa.key'))
    assert.equal(config.auth.mfaKeyFile, result.mfaKeyFile)
    assert.equal(Buffer.from((await readFile(result.mfaKeyFile, 'utf8')).trim(), 'base64').length, 32)
    assert.equal(raw.audit.checkpointKeyFile, 'secrets/audit-checkpoint.key')
    assert.equal((await stat(result.checkpointKeyFile)).mode & 0o777, 0o600)
    assert.equal(checkpointSigner(await readFile(result.checkpointKeyFile, 'utf8')).publicKey.keyId.length, 16)
    // The first admin, made by init, is on the record like any other user.
    const events = await auditRows(config.database)
    assert.deepEqual(events.map((e) => [e.actor, e.action, JSON.parse(e.details).username]), [['tether-server-init', 'user.create', 'admin']])

    const admin = await adminRow(config.database)
    assert.equal(admin?.role, 'admin')
    assert.equal(admin?.scope_all, 1)
    assert.ok(await verifyPassword(PASSWORD, admin!.password_hash))
  })

  it('defaults to loopback names plus the machine\'s own (it listens on all addresses) and returns a generated password once', async () => {
    const result = await initDataDir({dataDir: join(root, 'd')})
    assert.deepEqual(result.hostnames, [...new Set(['localhost', '127.0.0.1', '::1', ...machineNames()])])
    assert.ok(result.hostnames.includes(hostname()))
    const loopbackOnly = await initDataDir({dataDir: join(root, 'lo'), host: '127.0.0.1'})
    assert.deepEqual(loopbackOnly.hostnames, ['localhost', '127.0.0.1', '::1'])
    assert.ok(result.admin.generatedPassword && result.admin.generatedPassword.length >= 20)
    const admin = await adminRow(join(root, 'd', 'tether.db'))
    assert.ok(await verifyPassword(result.admin.generatedPassword, admin!.password_hash))
  })

  it('never overwrites a data dir without force, and replaces it with force', async () => {
    const dataDir = join(root, 'data')
    const first = await initDataDir({dataDir, adminPassword: PASSWORD})
    await assert.rejects(initDataDir({dataDir, adminPassword: PASSWORD}), {code: 'CONFLICT', message: /already exists/})
    assert.equal(new X509Certificate(await readFile(join(dataDir, 'tls/ca.crt'))).fingerprint256, first.caFingerprint, 'untouched')
    const second = await initDataDir({dataDir, adminPassword: PASSWORD, force: true})
    assert.notEqual(second.caFingerprint, first.caFingerprint)
    assert.deepEqual(await readdir(root), ['data'])
  })

  it('accepts an existing empty directory (a mounted volume)', async () => {
    await mkdir(join(root, 'empty'))
    await initDataDir({dataDir: join(root, 'empty'), adminPassword: PASSWORD})
    assert.ok((await readdir(join(root, 'empty'))).includes('config.json'))
  })

  it('leaves nothing behind when it fails (weak password, bad operator certificate)', async () => {
    await assert.rejects(initDataDir({dataDir: join(root, 'weak'), adminPassword: 'short'}), {code: 'WEAK_PASSWORD', message: /--admin-password-file/})
    await assert.rejects(
      initDataDir({dataDir: join(root, 'badtls'), adminPassword: PASSWORD, tls: {certFile: join(root, 'nope.crt'), keyFile: join(root, 'nope.key')}}),
      {code: 'USAGE', message: /--tls-cert/},
    )
    assert.deepEqual(await readdir(root), [])
  })

  it('installs an operator-supplied certificate, key and CA instead of generating them', async () => {
    const caPem = await createCa('Hospital CA')
    await writeFile(join(root, 'hca.crt'), caPem.certPem)
    await writeFile(join(root, 'hca.key'), caPem.keyPem)
    const server = await issueServerCert(await loadCa(join(root, 'hca.crt'), join(root, 'hca.key')), ['tether.hospital.local'])
    await writeFile(join(root, 'srv.crt'), server.certPem)
    await writeFile(join(root, 'srv.key'), server.keyPem)
    const dataDir = join(root, 'data')
    const result = await initDataDir({
      dataDir,
      hostnames: ['tether.hospital.local'],
      adminPassword: PASSWORD,
      tls: {certFile: join(root, 'srv.crt'), keyFile: join(root, 'srv.key'), caFile: join(root, 'hca.crt')},
    })
    assert.equal(result.tls.operatorSupplied, true)
    assert.equal(result.caFingerprint, caPem.fingerprint)
    assert.equal(await readFile(join(dataDir, 'tls/server.crt'), 'utf8'), server.certPem)
    assert.equal(await mode(join(dataDir, 'tls/server.key')), 0o600)
    await assert.rejects(readFile(join(dataDir, 'tls/ca.key')), {code: 'ENOENT'}, 'no root CA key of ours')
  })

  it('validates config.json: unknown or mistyped fields name the field', async () => {
    const dataDir = join(root, 'cfg')
    await initDataDir({dataDir, adminPassword: PASSWORD})
    const path = join(dataDir, 'config.json')
    const raw = JSON.parse(await readFile(path, 'utf8'))
    await writeFile(path, JSON.stringify({...raw, limits: {...raw.limits, rateLimitPerMinte: 5}}))
    await assert.rejects(readServerConfig(dataDir), {code: 'USAGE', message: /config\.json: limits: unknown field\(s\) rateLimitPerMinte/})
    await writeFile(path, JSON.stringify({...raw, port: 'https'}))
    await assert.rejects(readServerConfig(dataDir), {code: 'USAGE', message: /config\.json: port:/})
    await writeFile(path, JSON.stringify({port: 9443, database: '/elsewhere/t.db'}))
    const config = (await readServerConfig(dataDir))!
    assert.equal(config.port, 9443)
    assert.equal(config.database, '/elsewhere/t.db', 'absolute paths stay absolute')
    assert.equal(config.auth.jwtSecretFile, join(dataDir, 'secrets/jwt.key'), 'defaults fill the rest')
    assert.equal(config.auth.mfaKeyFile, join(dataDir, 'secrets/mfa.key'), 'a config.json from before the MFA key gets the default')
  })

  for (const kind of DB_KINDS.filter((k) => k === 'postgres')) {
    describe(`with ${kind}`, () => {
      let database: TestDatabase
      beforeEach(async () => {
        database = await createTestDatabase(kind)
      })
      afterEach(async () => database.drop())

      it('creates the admin in PostgreSQL, stores the URL, and refuses a second init on the same database', async () => {
        const result = await initDataDir({dataDir: join(root, 'a'), database: database.url, adminPassword: PASSWORD})
        assert.equal(result.database, database.url)
        assert.equal((await readServerConfig(join(root, 'a')))!.database, database.url)
        assert.equal((await adminRow(database.url))?.role, 'admin')
        await assert.rejects(initDataDir({dataDir: join(root, 'b'), runtimeDatabase: database.url, adminPassword: PASSWORD}), {
          code: 'CONFLICT',
          message: /already exists/,
        })
        assert.deepEqual((await readdir(root)).sort(), ['a'])
      })
    })
  }
})
