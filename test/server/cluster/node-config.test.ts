import {strict as assert} from 'node:assert'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'
import {resolveConfig} from '../../../src/server/server.js'
import {initDataDir} from '../../../src/server/init.js'

describe('node identity settings (--node-id, --peer-address, config.json cluster)', function () {
  this.timeout(30_000)
  let dataDir: string

  before(async () => {
    dataDir = join(await mkdtemp(join(tmpdir(), 'tether-nodecfg-')), 'data')
    await initDataDir({dataDir, adminPassword: 'Node-config-admin-0123456789'})
  })
  after(() => rm(join(dataDir, '..'), {recursive: true, force: true}))

  it('defaults to the hostname and no peer address; flags beat config.json', async () => {
    const plain = await resolveConfig({dataDir, env: {}})
    assert.deepEqual(plain.config.cluster, {nodeId: hostname(), peerAddress: null})
    await writeFile(join(dataDir, 'config.json'), JSON.stringify({cluster: {nodeId: 'from-file', peerAddress: '10.0.0.5:8443'}}))
    assert.deepEqual((await resolveConfig({dataDir, env: {}})).config.cluster, {nodeId: 'from-file', peerAddress: '10.0.0.5:8443'})
    const flags = await resolveConfig({dataDir, env: {}, nodeId: 'node-2', peerAddress: '[::1]:9443'})
    assert.deepEqual(flags.config.cluster, {nodeId: 'node-2', peerAddress: '[::1]:9443'})
  })

  it('refuses a bad id or address naming the flag or field', async () => {
    await assert.rejects(resolveConfig({dataDir, env: {}, nodeId: 'has space'}), {code: 'USAGE', message: /^--node-id: "has space" is not valid: letters, digits/})
    await assert.rejects(resolveConfig({dataDir, env: {}, peerAddress: 'node-2'}), {code: 'USAGE', message: /^--peer-address: "node-2" is not valid: HOST:PORT/})
    await assert.rejects(resolveConfig({dataDir, env: {}, peerAddress: 'h:70000'}), {code: 'USAGE', message: /--peer-address: .*port above 65535/})
    await writeFile(join(dataDir, 'config.json'), JSON.stringify({cluster: {peerAddress: 'nope'}}))
    await assert.rejects(resolveConfig({dataDir, env: {}}), {code: 'USAGE', message: /config\.json: cluster\.peerAddress: HOST:PORT/})
  })
})
