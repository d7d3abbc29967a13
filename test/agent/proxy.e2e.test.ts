import {strict as assert} from 'node:assert'
import {readFile, stat} from 'node:fs/promises'
import {join} from 'node:path'
import {startTinyproxy, tinyproxyAvailable, type Tinyproxy} from '../checks/fixtures/tinyproxy.js'
import {AgentUnderTest} from './helpers/agent-process.js'
import {eventually, expectExit, SupportCenter} from './helpers/support-center.js'

/** The agent through a real tinyproxy (Debian): plain, with Basic auth, and a proxy that refuses CONNECT. */
describe('tether agent through an HTTP CONNECT proxy (tinyproxy, e2e)', function () {
  this.timeout(180_000)
  let sc: SupportCenter
  const proxies: Tinyproxy[] = []
  const agents: AgentUnderTest[] = []

  before(async function () {
    if (!tinyproxyAvailable()) this.skip()
    sc = await SupportCenter.create()
    await sc.start()
    await sc.loginAdmin()
  })
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop()
  })
  after(async () => {
    for (const p of proxies) await p.stop()
    await sc?.dispose()
  })

  async function enrolled(serial: string, proxyUrl?: string): Promise<AgentUnderTest> {
    const agent = new AgentUnderTest(join(sc.dir, `agent-${serial}`))
    agents.push(agent)
    const token = await sc.enrollToken(serial)
    expectExit(await agent.run(['agent', 'enroll', '--server', sc.url, '--token', token, '--ca', sc.caFile, ...(proxyUrl ? ['--proxy', proxyUrl] : [])]), 0)
    await agent.tune()
    return agent
  }

  it('connects through a proxy without auth', async () => {
    const proxy = await startTinyproxy({connectPorts: [sc.port]})
    proxies.push(proxy)
    const agent = await enrolled('SN-PROXY-1', proxy.url)
    agent.start()
    const status = await eventually(async () => {
      const s = await agent.status()
      return s.state === 'connected' ? s : undefined
    }, 'connected via proxy')
    assert.equal(status.proxy, proxy.url)
    await eventually(async () => (await sc.device('SN-PROXY-1')).online === true, 'online')
  })

  it('connects through a proxy with Basic auth; the password is kept out of agent.json (0600 store)', async () => {
    const proxy = await startTinyproxy({connectPorts: [sc.port], auth: {user: 'site', pass: 's3cret-pw'}})
    proxies.push(proxy)
    const agent = await enrolled('SN-PROXY-2', `http://site:s3cret-pw@127.0.0.1:${proxy.port}`)
    const config = await readFile(join(agent.dataDir, 'agent.json'), 'utf8')
    assert.doesNotMatch(config, /s3cret-pw/)
    assert.match(config, /"proxyPasswordStore": "file"/)
    const secrets = join(agent.dataDir, 'proxy-credentials.json')
    assert.equal((await stat(secrets)).mode & 0o777, 0o600)
    assert.match(await readFile(secrets, 'utf8'), /s3cret-pw/)
    agent.start()
    await eventually(async () => (await agent.status()).state === 'connected', 'connected via authenticating proxy')
    await eventually(async () => (await sc.device('SN-PROXY-2')).online === true, 'online')
  })

  it('wrong proxy credentials give a clear status', async () => {
    const proxy = await startTinyproxy({connectPorts: [sc.port], auth: {user: 'site', pass: 'right'}})
    proxies.push(proxy)
    const agent = await enrolled('SN-PROXY-3')
    agent.start(['--proxy', `http://site:wrong@127.0.0.1:${proxy.port}`])
    const status = await eventually(async () => {
      const s = await agent.status()
      return s.lastError ? s : undefined
    }, 'a proxy error')
    assert.match(String(status.lastError), /proxy wants other credentials for CONNECT: 40[17]/)
  })

  it('enrollment through a proxy that wants credentials says so', async () => {
    const proxy = await startTinyproxy({connectPorts: [sc.port], auth: {user: 'site', pass: 'right'}})
    proxies.push(proxy)
    const agent = new AgentUnderTest(join(sc.dir, 'agent-SN-PROXY-5'))
    const r = await agent.run(['agent', 'enroll', '--server', sc.url, '--token', await sc.enrollToken('SN-PROXY-5'), '--serial', 'SN-PROXY-5', '--ca', sc.caFile, '--proxy', `http://site:wrong@127.0.0.1:${proxy.port}`])
    expectExit(r, 7)
    assert.match(r.stderr, /proxy refused CONNECT: 40[17]/)
  })

  it('a proxy that refuses CONNECT gives a clear `tether agent status`', async () => {
    // Allowed CONNECT ports exclude the server's: tinyproxy answers 403.
    const proxy = await startTinyproxy({connectPorts: [9]})
    proxies.push(proxy)
    const agent = await enrolled('SN-PROXY-4')
    await agent.tune({proxy: proxy.url})
    agent.start()
    await eventually(async () => (await agent.status()).lastError, 'a proxy error')
    const r = await agent.run(['agent', 'status'])
    expectExit(r, 1)
    assert.match(r.stdout, /last error\s+proxy refused CONNECT: 403/)
    assert.notEqual((await agent.status()).state, 'connected')
  })
})
