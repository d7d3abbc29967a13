import {strict as assert} from 'node:assert'
import {mkdtemp, rm, stat} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {AgentConfig, agentDataDir} from '../../src/agent/data-dir.js'
import {ProxySecrets, splitProxyUrl} from '../../src/agent/proxy-secret.js'
import {resolveProxy} from '../../src/agent/runtime.js'
import {renderUnit} from '../../src/agent/systemd-unit.js'

describe('agent data dir, proxy settings and systemd unit', () => {
  let dir: string
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'tether-agent-rt-'))))
  afterEach(async () => rm(dir, {recursive: true, force: true}))

  it('data dir: flag, then TETHER_AGENT_DIR, then XDG_DATA_HOME/tether/agent', () => {
    assert.equal(agentDataDir('/x/y', {TETHER_AGENT_DIR: '/a'}), '/x/y')
    assert.equal(agentDataDir(undefined, {TETHER_AGENT_DIR: '/a'}), '/a')
    assert.equal(agentDataDir(undefined, {XDG_DATA_HOME: '/d'}), '/d/tether/agent')
  })

  it('splits the password off a proxy URL', () => {
    assert.deepEqual(splitProxyUrl('http://site:p%40ss@proxy.local:3128'), {url: 'http://site@proxy.local:3128', password: 'p@ss', account: 'site@proxy.local:3128'})
    assert.deepEqual(splitProxyUrl('proxy.local:3128'), {url: 'http://proxy.local:3128', password: null, account: null})
  })

  it('keeps the proxy password in a 0600 file when there is no keychain, and puts it back for the connection', async () => {
    const secrets = join(dir, 'proxy-credentials.json')
    const store = new ProxySecrets({filePath: secrets, keytar: async () => new Error('no keychain here')})
    assert.equal(await store.save('site@proxy.local:3128', 'pw:1'), 'file')
    assert.equal((await stat(secrets)).mode & 0o777, 0o600)
    const config = AgentConfig.parse({version: 1, server: 'https://s.example:8443', serial: 'SN', proxy: 'http://site@proxy.local:3128', proxyPasswordStore: 'file'})
    const proxy = await resolveProxy(config, {env: {NO_PROXY: '.internal'}}, secrets)
    assert.equal(proxy?.authorization, `Basic ${Buffer.from('site:pw:1').toString('base64')}`)
    assert.deepEqual(proxy?.noProxy, ['.internal'])
    assert.equal(proxy?.display, 'http://site:***@proxy.local:3128')
  })

  it('--proxy beats agent.json, and HTTPS_PROXY applies when agent.json has none', async () => {
    const base = AgentConfig.parse({version: 1, server: 'https://s.example:8443', serial: 'SN'})
    assert.equal((await resolveProxy(base, {env: {HTTPS_PROXY: 'http://env-proxy:3128'}}, join(dir, 'x')))?.host, 'env-proxy')
    assert.equal((await resolveProxy({...base, proxy: 'http://cfg:1'}, {proxy: 'http://flag:2', env: {}}, join(dir, 'x')))?.host, 'flag')
    assert.equal(await resolveProxy(base, {env: {}}, join(dir, 'x')), undefined)
  })

  it('renders a hardened unit; a data dir under /home gets ProtectHome=read-only', () => {
    const unit = renderUnit({execStart: '/usr/bin/node /opt/tether/bin/run.js', dataDir: '/var/lib/tether-agent', user: 'tether-agent'})
    assert.match(unit, /^Restart=always$/m)
    assert.match(unit, /^ProtectHome=yes$/m)
    assert.match(unit, /^ExecStart=\/usr\/bin\/node \/opt\/tether\/bin\/run.js agent start --data-dir \/var\/lib\/tether-agent$/m)
    assert.match(renderUnit({execStart: 'x', dataDir: '/home/dev/agent', user: 'dev'}), /^ProtectHome=read-only$/m)
  })
})
