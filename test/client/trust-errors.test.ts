import {strict as assert} from 'node:assert'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import type {Server} from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {login} from '../../src/client/login.js'
import {loginTarget} from '../../src/client/login-target.js'
import {withApi} from '../../src/client/session.js'
import {explainUntrusted} from '../../src/client/trust-errors.js'
import {createCa} from '../../src/server/pki/ca.js'
import {CredentialStore} from '../../src/shared/credential-store.js'
import {ExitCode, TetherError} from '../../src/shared/errors.js'
import {createTestPki, startHttpsServer, stopServer, type TestPki} from './tls-fixture.js'

const noPrompts = {
  interactive: false,
  username: async () => 'alice',
  password: async () => 'pw',
  code: async () => '000000',
  showEnrollment: async () => undefined,
}

describe('trust: what a wrong or missing trust anchor says (real TLS on loopback)', () => {
  let dir: string
  let store: CredentialStore
  let pki: TestPki
  let server: Server
  let url: string
  before(async () => {
    pki = await createTestPki()
    ;({server, url} = await startHttpsServer(pki, (_req, res) => {
      res.writeHead(401, {'content-type': 'application/json'}).end(JSON.stringify({error: {code: 'AUTH', message: 'no'}}))
    }))
  })
  after(async () => stopServer(server))
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-trust-'))
    store = new CredentialStore({dir, prefer: 'file'})
  })
  afterEach(async () => rm(dir, {recursive: true, force: true}))

  it('names the device CA as the wrong file and the server CA as the right one', async () => {
    await mkdir(join(dir, 'device-ca'))
    const deviceCa = join(dir, 'device-ca', 'ca.crt')
    await writeFile(deviceCa, (await createCa('Tether Device CA')).certPem)
    const target = await loginTarget({server: url, caFile: deviceCa, store})
    const error = await login({server: target.server, trust: target.trust, username: 'alice', password: 'pw', prompter: noPrompts, store}).then(
      () => assert.fail('the login should not get through'),
      (e: unknown) => explainUntrusted(e, target.anchor) as TetherError,
    )
    assert.equal(
      error.message,
      `certificate not trusted: this CA (--ca ${deviceCa}, "Tether Device CA") did not sign the server's certificate; the server's CA is ${join(dir, 'tls', 'ca.crt')}, not device-ca/ca.crt (that CA signs devices)`,
    )
    assert.deepEqual(error.suggestions, [`tether login --server URL --ca ${join(dir, 'tls', 'ca.crt')}`])
    assert.equal(error.code, 'TLS_WRONG_CA')
    assert.equal(error.exitCode, ExitCode.UNAVAILABLE)
  })

  it('says where the server CA is when it cannot tell the data dir from the path', async () => {
    await writeFile(join(dir, 'other.pem'), (await createCa('Tether Device CA')).certPem)
    const target = await loginTarget({server: url, caFile: join(dir, 'other.pem'), store})
    const error = explainUntrusted(
      await login({server: target.server, trust: target.trust, username: 'alice', password: 'pw', prompter: noPrompts, store}).catch((e: unknown) => e),
      target.anchor,
    ) as TetherError
    assert.equal(
      error.message,
      `certificate not trusted: this CA (--ca ${join(dir, 'other.pem')}, "Tether Device CA") did not sign the server's certificate; the server's CA is tls/ca.crt in the server's data dir (DATA_DIR/tls/ca.crt; \`tether server start\` prints its path and fingerprint), not device-ca/ca.crt (that CA signs devices)`,
    )
  })

  it('says to set TETHER_CA or TETHER_FINGERPRINT when TETHER_TOKEN has no trust anchor', async () => {
    const env = {TETHER_SERVER: url, TETHER_TOKEN: 'tth_x'}
    const error = await withApi((api) => api.listUsers(), {store, env}).then(
      () => assert.fail('the system store does not trust the test CA'),
      (e: TetherError) => e,
    )
    assert.equal(
      error.message,
      "certificate not trusted: TETHER_TOKEN is set but no trust anchor is: set TETHER_CA to the server's CA file or TETHER_FINGERPRINT to its SHA-256 fingerprint",
    )
    assert.equal(error.exitCode, ExitCode.UNAVAILABLE)
  })

  it('the right CA gets through to the server (its 401 is the server speaking)', async () => {
    await writeFile(join(dir, 'ca.crt'), pki.caPem)
    const target = await loginTarget({server: url, caFile: join(dir, 'ca.crt'), store})
    await assert.rejects(login({server: target.server, trust: target.trust, username: 'alice', password: 'pw', prompter: noPrompts, store}), /login failed: no/)
  })
})

describe('loginTarget: `tether login` with no flags', () => {
  let dir: string
  let store: CredentialStore
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-target-'))
    store = new CredentialStore({dir, prefer: 'file'})
  })
  afterEach(async () => rm(dir, {recursive: true, force: true}))

  it('reuses the last server and its trust anchor, also after logout', async () => {
    await store.save({server: 'https://a.test:8443', username: 'alice', ca: 'PEM-A', accessToken: 'a', refreshToken: 'r', savedAt: '2026-01-01T00:00:00Z'})
    await store.remove('https://a.test:8443')
    const target = await loginTarget({store})
    assert.equal(target.server, 'https://a.test:8443')
    assert.deepEqual(target.trust, {ca: 'PEM-A', fingerprint: undefined})
  })

  it('asks for the server on a terminal when there is none', async () => {
    const target = await loginTarget({store, ask: async () => 'https://asked.test:8443/'})
    assert.equal(target.server, 'https://asked.test:8443')
    assert.deepEqual(target.trust, {})
  })

  it('without a terminal and without an earlier login, names --server', async () => {
    await assert.rejects(loginTarget({store}), (e: TetherError) => e.exitCode === ExitCode.USAGE && e.message === '--server: no server given and no earlier login to reuse')
  })
})
