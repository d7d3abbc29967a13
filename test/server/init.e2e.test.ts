import {strict as assert} from 'node:assert'
import {mkdtemp, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {runTether} from '../helpers/cli.js'

describe('tether server init (binary)', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-init-cli-'))
    await writeFile(join(dir, 'pw'), 'Correct-Horse-42-battery\n')
    await writeFile(join(dir, 'weak'), 'password\n')
  })
  after(async () => rm(dir, {recursive: true, force: true}))

  it('initialises with --admin-password-file and prints the JSON contract', async () => {
    const r = await runTether(['server', 'init', '--data-dir', join(dir, 'a'), '--hostname', 'tether.test', '--hostname', '127.0.0.1', '--admin-password-file', join(dir, 'pw'), '--json'])
    assert.equal(r.code, 0, r.stderr)
    const doc = JSON.parse(r.stdout)
    assert.equal(doc.dataDir, join(dir, 'a'))
    assert.deepEqual(doc.hostnames, ['tether.test', '127.0.0.1'])
    assert.match(doc.caFingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
    assert.deepEqual(doc.admin, {username: 'admin'}, 'no generated password when one was given')
    assert.equal(doc.tls.operatorSupplied, false)
    assert.equal((await stat(doc.tls.keyFile)).mode & 0o777, 0o600)
    assert.equal(doc.mfaKeyFile, join(dir, 'a', 'secrets', 'mfa.key'))
    assert.equal((await stat(doc.mfaKeyFile)).mode & 0o777, 0o600)
  })

  it('refuses to overwrite an existing data dir (exit 6) unless --force', async () => {
    const again = await runTether(['server', 'init', '--data-dir', join(dir, 'a'), '--admin-password-file', join(dir, 'pw')])
    assert.equal(again.code, 6, again.stderr)
    assert.match(again.stderr, /already exists.*\n.*--force/)
    const forced = await runTether(['server', 'init', '--data-dir', join(dir, 'a'), '--admin-password-file', join(dir, 'pw'), '--force', '--json'])
    assert.equal(forced.code, 0, forced.stderr)
  })

  it('rejects a weak password file with exit 2 and writes nothing', async () => {
    const r = await runTether(['server', 'init', '--data-dir', join(dir, 'weak-dir'), '--admin-password-file', join(dir, 'weak')])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--admin-password-file: password must/)
    await assert.rejects(stat(join(dir, 'weak-dir')), {code: 'ENOENT'})
  })

  it('generates and shows the admin password once without a terminal or file', async () => {
    const r = await runTether(['server', 'init', '--data-dir', join(dir, 'gen')])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /Admin password \(shown only now\): \S{20,}/)
    assert.match(r.stdout, /CA fingerprint \(SHA-256\)\s+([0-9A-F]{2}:){31}[0-9A-F]{2}/)
  })

  it('requires --tls-key with --tls-cert (exit 2)', async () => {
    const r = await runTether(['server', 'init', '--data-dir', join(dir, 'x'), '--tls-cert', join(dir, 'pw')])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /tls-key/)
  })
})
