import {strict as assert} from 'node:assert'
import {mkdtemp, readdir, rm} from 'node:fs/promises'
import type {Server} from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {AdminApi} from '../../src/client/admin-api.js'
import {ApiClient} from '../../src/client/api-client.js'
import {fetchPinnedCertificate, normalizeFingerprint, type Trust} from '../../src/client/trust.js'
import {ExitCode, TetherError} from '../../src/shared/errors.js'
import {createTestPki, startHttpsServer, stopServer, type TestPki} from './tls-fixture.js'

const me = {
  user: {id: 'u1', username: 'alice', displayName: null, role: 'viewer', mfaEnabled: false, disabled: false, scope: {all: false, entries: []}, createdAt: '2026-01-01T00:00:00.000Z'},
  permissions: ['devices:read'],
  auth: 'session',
  mfaEnrollmentRequired: false,
}

async function failure(promise: Promise<unknown>): Promise<TetherError> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof TetherError, String(error))
    return error
  }
  assert.fail('expected a failure')
}

describe('client TLS trust (real HTTPS server on loopback)', function () {
  let pki: TestPki
  let server: Server
  let url: string
  const clients: ApiClient[] = []

  before(async () => {
    pki = await createTestPki()
    ;({server, url} = await startHttpsServer(pki, (req, res) => {
      if (req.url === '/api/v1/audit/export?format=jsonl') {
        // Half a body, then the connection dies: the client must not leave a file.
        res.writeHead(200, {'content-type': 'application/x-ndjson'})
        res.write('{"seq":1}\n')
        setTimeout(() => res.socket?.destroy(), 50)
        return
      }
      res.writeHead(200, {'content-type': 'application/json'})
      res.end(JSON.stringify(me))
    }))
  })
  after(async () => {
    await Promise.all(clients.map((c) => c.close()))
    await stopServer(server)
  })

  const api = (trust: Trust, server = url): AdminApi => {
    const client = new ApiClient({server, trust, accessToken: 't'})
    clients.push(client)
    return new AdminApi(client)
  }

  it('refuses an unknown CA with a clear hint (system store only)', async () => {
    const error = await failure(api({}).me())
    assert.equal(error.exitCode, ExitCode.UNAVAILABLE)
    assert.match(error.message, /certificate not trusted: pass --ca or --fingerprint/)
  })

  it('trusts the CA given with --ca', async () => {
    assert.equal((await api({ca: pki.caPem}).me()).user.username, 'alice')
  })

  it('still checks the host name with --ca', async () => {
    const error = await failure(api({ca: pki.caPem}, url.replace('127.0.0.1', 'localhost')).me())
    assert.equal(error.exitCode, ExitCode.UNAVAILABLE)
    assert.match(error.message, /does not name this host/)
  })

  it('pins the CA fingerprint', async () => {
    const fingerprint = normalizeFingerprint(pki.caFingerprint.replace(/:/g, '').toLowerCase())
    const ca = await fetchPinnedCertificate(url, fingerprint)
    assert.equal((await api({ca, fingerprint}).me()).user.username, 'alice')
  })

  it('pins the leaf fingerprint', async () => {
    const fingerprint = normalizeFingerprint(`sha256:${pki.leafFingerprint}`)
    const ca = await fetchPinnedCertificate(url, fingerprint)
    assert.equal((await api({ca, fingerprint}).me()).user.username, 'alice')
  })

  it('refuses a fingerprint the server does not present', async () => {
    const error = await failure(fetchPinnedCertificate(url, normalizeFingerprint('AB'.repeat(32))))
    assert.equal(error.exitCode, ExitCode.UNAVAILABLE)
    assert.match(error.message, /certificate not trusted: no certificate presented/)
  })

  it('refuses a chain that lacks the pinned certificate even when the CA is trusted', async () => {
    const error = await failure(api({ca: pki.caPem, fingerprint: normalizeFingerprint('CD'.repeat(32))}).me())
    assert.equal(error.exitCode, ExitCode.UNAVAILABLE)
    assert.match(error.message, /pinned fingerprint/)
  })

  it('says "connection refused" when nothing listens', async () => {
    const closed = await startHttpsServer(pki, () => undefined)
    await stopServer(closed.server)
    const error = await failure(api({ca: pki.caPem}, closed.url).me())
    assert.equal(error.exitCode, ExitCode.UNAVAILABLE)
    assert.match(error.message, /connection refused/)
  })

  it('leaves no file when a download breaks off', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tether-dl-'))
    try {
      const error = await failure(api({ca: pki.caPem}).exportAudit({}, join(dir, 'audit.jsonl')))
      assert.equal(error.exitCode, ExitCode.UNAVAILABLE)
      assert.deepEqual(await readdir(dir), [])
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })
})
