import {strict as assert} from 'node:assert'
import {createServer, type Server} from 'node:https'
import type {AddressInfo} from 'node:net'
import {mkdir, mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import nock from 'nock'
import {editConfig} from '../../../src/agent/config-edit.js'
import {agentFiles, readAgentConfig} from '../../../src/agent/data-dir.js'
import {enrollAgent} from '../../../src/agent/enroll.js'
import {updateFiles} from '../../../src/agent/updates/paths.js'
import {encodeEnrollToken} from '../../../src/protocol/agent/enroll.js'
import {testCa, type TestCa} from '../../checks/fixtures/certs.js'
import {TestTufRepo} from './helpers/tuf-repo.js'

/** `agent enroll --allow-updates --update-root FILE` against a loopback enrolment endpoint, and `agent config set updates.*`. */
describe('enrolling and configuring a device for updates', function () {
  this.timeout(30_000)
  let dir: string
  let ca: TestCa
  let server: Server
  let url: string
  let enrolments = 0

  before(async () => {
    nock.restore()
    ca = await testCa('enroll-updates')
    const cert = await ca.sign({cn: '127.0.0.1', ips: ['127.0.0.1']})
    server = createServer({key: cert.key, cert: cert.cert}, (req, res) => {
      enrolments++
      req.resume()
      req.on('end', () => res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({serial: 'SN-U1', certificate: 'CERT', caChain: 'CHAIN', serverCa: ca.cert, fingerprint: 'ab'.repeat(32), model: 'Analyzer X200'})))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    server.close()
    nock.activate()
  })
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-enroll-updates-'))
    enrolments = 0
  })
  afterEach(() => rm(dir, {recursive: true, force: true}))

  const token = encodeEnrollToken('SN-U1', 's'.repeat(43))

  it('--allow-updates sets updates.allowed and adds "updates" to the accepted kinds; --update-root becomes the trust anchor', async () => {
    const repo = new TestTufRepo()
    await enrollAgent({dataDir: dir, server: url, token, caPem: ca.cert, allowUpdates: true, updateRoot: {path: 'root.json', bytes: repo.rootJson}})
    const config = await readAgentConfig(agentFiles(dir))
    assert.equal(config.updates.allowed, true)
    assert.deepEqual(config.acceptedJobKinds, ['diagnostics', 'logs', 'updates'])
    assert.deepEqual(await readFile(updateFiles(agentFiles(dir).updates).trustedRoot), repo.rootJson)
    const audit = await readFile(agentFiles(dir).audit, 'utf8')
    assert.match(audit, /"updateRoot":"image"/)
  })

  it('without --allow-updates updates stay off (the default)', async () => {
    await enrollAgent({dataDir: dir, server: url, token, caPem: ca.cert})
    const config = await readAgentConfig(agentFiles(dir))
    assert.equal(config.updates.allowed, false)
    assert.ok(!config.acceptedJobKinds.includes('updates'))
  })

  it('a --update-root that is not a self-signed root is refused before the token is spent', async () => {
    const repo = new TestTufRepo()
    const tampered = JSON.parse(repo.rootJson.toString()) as {signed: {version: number}}
    tampered.signed.version = 7
    for (const bytes of [Buffer.from('not json'), Buffer.from(JSON.stringify(tampered)), repo.files.get('targets.json')!]) {
      await assert.rejects(enrollAgent({dataDir: dir, server: url, token, caPem: ca.cert, updateRoot: {path: 'root.json', bytes}}), /--update-root: root\.json is not a self-signed TUF root\.json/)
    }
    assert.equal(enrolments, 0)
  })

  it('a re-enrolment with a new --update-root drops metadata trusted under the old anchor', async () => {
    await enrollAgent({dataDir: dir, server: url, token, caPem: ca.cert})
    const u = updateFiles(agentFiles(dir).updates)
    await mkdir(u.metadata, {recursive: true})
    await writeFile(join(u.metadata, 'root.json'), '{}')
    await enrollAgent({dataDir: dir, server: url, token, caPem: ca.cert, force: true, updateRoot: {path: 'root.json', bytes: new TestTufRepo().rootJson}})
    await assert.rejects(stat(u.metadata), /ENOENT/)
  })

  it('`agent config set updates.allowed true` and updates.window work; a bad window is refused naming the key', async () => {
    await enrollAgent({dataDir: dir, server: url, token, caPem: ca.cert})
    const r = await editConfig(dir, 'set', 'updates.allowed', 'true')
    assert.deepEqual([r.previous, r.value, r.changed], [false, true, true])
    await editConfig(dir, 'set', 'updates.window', 'Sat 02:00-06:00 Europe/Berlin')
    await editConfig(dir, 'set', 'updates.install', '["/opt/device/bin/install"]')
    const config = await readAgentConfig(agentFiles(dir))
    assert.deepEqual([config.updates.allowed, config.updates.window, config.updates.install], [true, 'Sat 02:00-06:00 Europe/Berlin', ['/opt/device/bin/install']])
    await assert.rejects(editConfig(dir, 'set', 'updates.window', 'Sat 2-6'), /updates\.window/)
  })
})
