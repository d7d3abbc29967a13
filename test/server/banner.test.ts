import {strict as assert} from 'node:assert'
import {mkdtemp, rm} from 'node:fs/promises'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'
import {bannerLines, listeningBanner} from '../../src/server/banner.js'
import {readServerConfig} from '../../src/server/config-store.js'
import {initDataDir} from '../../src/server/init.js'

describe('server start banner', () => {
  let root: string
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tether-banner-'))
  })
  after(async () => rm(root, {recursive: true, force: true}))

  it('listening on all addresses: names tls/ca.crt, its fingerprint and a login line for this machine', async () => {
    const init = await initDataDir({dataDir: join(root, 'all')})
    const config = (await readServerConfig(join(root, 'all')))!
    const banner = await listeningBanner(config, 8443, 'admin')
    assert.equal(banner.caFile, join(root, 'all', 'tls', 'ca.crt'))
    assert.equal(banner.fingerprint, init.caFingerprint)
    assert.equal(banner.loginCommand, `tether login --server https://localhost:8443 --ca ${join(root, 'all', 'tls', 'ca.crt')} --username admin`)
    // The default certificate covers the machine's hostname and addresses.
    assert.deepEqual(banner.uncoveredNames, [])
  })

  it('says how to add the machine\'s names when the certificate lacks them', async () => {
    await initDataDir({dataDir: join(root, 'lo'), hostnames: ['localhost']})
    const config = (await readServerConfig(join(root, 'lo')))!
    assert.equal(config.host, '0.0.0.0')
    const banner = await listeningBanner(config, 9443)
    assert.ok(banner.uncoveredNames.includes(hostname()), banner.uncoveredNames.join(', '))
    assert.equal(banner.loginCommand, `tether login --server https://localhost:9443 --ca ${join(root, 'lo', 'tls', 'ca.crt')}`)
    const text = bannerLines(banner).join('\n')
    assert.match(text, new RegExp(`The server certificate does not name ${hostname()}[ ,]`))
    assert.match(text, /tether server init --data-dir NEW_DIR --hostname NAME/)
  })
})
