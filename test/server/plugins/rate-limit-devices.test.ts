import {strict as assert} from 'node:assert'
import {Agent, request} from 'undici'
import {AGENT_UPDATES_METADATA_PATH} from '../../../src/protocol/updates/index.js'
import {type HubFixture, startHubFixture} from '../hub/server-fixture.js'

/**
 * Devices are counted per certificate, not per address: a hospital puts hundreds of analysers
 * behind one NAT address, and all of them fetch an update at once (found by bench/update-rollout,
 * where 500 devices on 127.0.0.1 got 429s). Anyone without a verified client certificate is still
 * counted by address.
 */
describe('rate limits: one budget per device certificate, one per address otherwise', function () {
  this.timeout(30_000)
  const LIMIT = 5
  let fx: HubFixture
  const agents: Agent[] = []

  before(async () => {
    fx = await startHubFixture('sqlite', {}, {rateLimitPerMinute: LIMIT})
  })
  after(async () => {
    for (const a of agents) await a.close()
    await fx?.close()
  })

  const status = async (agent: Agent) => {
    const res = await request(`${fx.server.url}${AGENT_UPDATES_METADATA_PATH}/timestamp.json`, {dispatcher: agent})
    await res.body.dump()
    return res.statusCode
  }

  it('two devices behind one address each get the whole budget; the anonymous address does not', async () => {
    const devices = []
    for (const serial of ['SN-RL-1', 'SN-RL-2']) {
      const cert = await fx.issue(serial)
      const agent = new Agent({connect: {ca: fx.serverCaPem, cert: cert.certPem, key: cert.keyPem}})
      agents.push(agent)
      devices.push(agent)
    }
    for (const device of devices) for (let i = 0; i < LIMIT; i++) assert.notEqual(await status(device), 429, 'each device has its own budget')
    assert.equal(await status(devices[0]), 429, 'and past it, that device is limited')
    const anonymous = new Agent({connect: {ca: fx.serverCaPem}})
    agents.push(anonymous)
    const answers = []
    for (let i = 0; i < LIMIT + 1; i++) answers.push(await status(anonymous))
    assert.equal(answers.at(-1), 429, 'without a certificate, the address is the budget')
  })
})
