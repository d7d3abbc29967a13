import {strict as assert} from 'node:assert'
import {decideTunnel} from '../../../src/agent/tunnels/decide.js'
import type {AccessMode} from '../../../src/protocol/agent/index.js'

const allow: AccessMode = {mode: 'allow', until: null}
const config = {allowedTunnelPorts: [22, 5900], allowedTunnelTargets: ['10.1.2.3:443', '[fd00::7]:8443']}
const noGrant = async () => null
const loop = (port: number) => ({host: '127.0.0.1', port})

describe('tunnel policy on the device', () => {
  it('no-access refuses every stream, whatever the target', async () => {
    for (const target of [loop(22), {host: '10.1.2.3', port: 443}]) {
      assert.deepEqual(await decideTunnel({target, user: 'eng'}, {mode: 'no-access', until: null}, config, noGrant), {allowed: false, code: 'REFUSED_BY_DEVICE', message: 'the device is in no-access mode'})
    }
  })

  it('allow lets through only the allowed ports of the device itself, under any loopback name', async () => {
    for (const host of ['127.0.0.1', 'localhost', '::1', 'LOCALHOST']) assert.deepEqual(await decideTunnel({target: {host, port: 22}, user: 'eng'}, allow, config, noGrant), {allowed: true})
    const refused = await decideTunnel({target: loop(3306), user: 'eng'}, allow, config, noGrant)
    assert.deepEqual(refused, {allowed: false, code: 'PORT_NOT_ALLOWED', message: "port 3306 is not in this device's allowed tunnel ports (22, 5900)"})
    const none = await decideTunnel({target: loop(22), user: 'eng'}, allow, {allowedTunnelPorts: [], allowedTunnelTargets: []}, noGrant)
    assert.match(!none.allowed ? none.message : '', /\(none\)$/)
  })

  it('another host is reachable only as an exact allowed host:port; an allowed port does not open other hosts', async () => {
    assert.deepEqual(await decideTunnel({target: {host: '10.1.2.3', port: 443}, user: 'eng'}, allow, config, noGrant), {allowed: true})
    assert.deepEqual(await decideTunnel({target: {host: 'fd00::7', port: 8443}, user: 'eng'}, allow, config, noGrant), {allowed: true})
    for (const target of [{host: '10.1.2.3', port: 22}, {host: '10.1.2.4', port: 443}, {host: '10.1.2.3.evil', port: 443}]) {
      const d = await decideTunnel({target, user: 'eng'}, allow, config, noGrant)
      assert.equal(!d.allowed && d.code, 'TARGET_NOT_ALLOWED', JSON.stringify(target))
    }
  })

  it('approval-required needs a current grant for this engineer and port, on top of the allowlist', async () => {
    const mode = {mode: 'approval-required', until: null} as unknown as AccessMode
    const asked: string[] = []
    const grant = async (user: string, port: number) => {
      asked.push(`${user}:${port}`)
      return user === 'alice' && port === 5900 ? {requestId: 'r1'} : null
    }
    assert.deepEqual(await decideTunnel({target: loop(5900), user: 'alice'}, mode, config, grant), {allowed: true})
    const bob = await decideTunnel({target: loop(5900), user: 'bob'}, mode, config, grant)
    assert.equal(!bob.allowed && bob.code, 'APPROVAL_REQUIRED')
    assert.match(!bob.allowed ? bob.message : '', /bob has none for port 5900/)
    const notAllowed = await decideTunnel({target: loop(3306), user: 'alice'}, mode, config, grant)
    assert.equal(!notAllowed.allowed && notAllowed.code, 'PORT_NOT_ALLOWED', 'the allowlist is checked before any approval')
    assert.deepEqual(asked, ['alice:5900', 'bob:5900'])
  })
})
