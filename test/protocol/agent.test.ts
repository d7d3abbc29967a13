import {strict as assert} from 'node:assert'
import {decodeAgentMessage, decodeServerMessage, encodeMessage, negotiateVersion} from '../../src/protocol/agent/codec.js'
import {encodeEnrollToken, serialFromEnrollToken} from '../../src/protocol/agent/enroll.js'
import {MAX_FRAME_BYTES, PROTOCOL_VERSIONS, type AgentToServer} from '../../src/protocol/agent/messages.js'

const inventory = {serial: 'SN-1', model: 'X200', agentVersion: '1.0.0', os: 'linux', uptimeSeconds: 5, addresses: ['10.0.0.5'], accessMode: {mode: 'allow', until: null}}

describe('agent protocol registry', () => {
  it('round-trips every agent message type', () => {
    const messages: AgentToServer[] = [
      {type: 'hello', protocolVersions: [1], inventory: {...inventory, accessMode: {mode: 'allow', until: null}}},
      {type: 'inventory', inventory: {...inventory, accessMode: {mode: 'no-access', until: null}}},
      {type: 'event', eventId: '0b6f3a43-2f55-4c7c-9a3f-0c3c3b7a0c11', time: '2026-01-01T00:00:00Z', action: 'device.session.refused', outcome: 'denied', details: {}},
      {type: 'response', id: 'r1', ok: false, error: {code: 'REFUSED_BY_DEVICE', message: 'no-access'}},
      {type: 'error', code: 'MALFORMED', message: 'x'},
      {type: 'stream-ending', streamId: 'a1B2c3D4e5F6g7H8', why: 'no-access'},
    ]
    for (const m of messages) {
      const decoded = decodeAgentMessage(encodeMessage(m))
      assert.ok(decoded.ok, JSON.stringify(decoded))
      assert.deepEqual(decoded.message, m)
    }
  })

  it('round-trips server messages and both request kinds', () => {
    for (const m of [
      {type: 'welcome', protocolVersion: 1, serverTime: 'now', heartbeatIntervalMs: 25_000, heartbeatTimeoutMs: 60_000},
      {type: 'event-ack', eventId: '0b6f3a43-2f55-4c7c-9a3f-0c3c3b7a0c11'},
      {type: 'request', id: 'r1', kind: 'tunnel.open', params: {streamId: 'stream-0001', ticket: 't'.repeat(32), target: {host: '127.0.0.1', port: 22}, user: 'eng', reason: 'INC-1'}},
      {type: 'request', id: 'r2', kind: 'ping'},
      {type: 'bye', reason: 'revoked'},
    ]) {
      const decoded = decodeServerMessage(JSON.stringify(m))
      assert.ok(decoded.ok, JSON.stringify(decoded))
    }
  })

  it('answers malformed frames with an error instead of throwing', () => {
    const cases: Array<[string, string]> = [
      ['{oops', 'MALFORMED'],
      ['[1,2]', 'MALFORMED'],
      ['"hello"', 'MALFORMED'],
      ['{"id":"a"}', 'MALFORMED'],
      ['{"type":"teleport","id":"q"}', 'UNKNOWN_TYPE'],
      ['{"type":"welcome"}', 'UNKNOWN_TYPE'],
      ['{"type":"hello","protocolVersions":[],"inventory":{}}', 'INVALID_MESSAGE'],
      ['{"type":"event","eventId":"nope","time":"t","action":"a","outcome":"success"}', 'INVALID_MESSAGE'],
      ['{"type":"response","ok":true}', 'INVALID_MESSAGE'],
    ]
    for (const [frame, code] of cases) {
      const decoded = decodeAgentMessage(frame)
      assert.equal(decoded.ok, false, frame)
      assert.equal(!decoded.ok && decoded.error.code, code, frame)
    }
    const unknown = decodeAgentMessage('{"type":"teleport","id":"q"}')
    assert.equal(!unknown.ok && unknown.error.refId, 'q')
    const unknownKind = decodeServerMessage('{"type":"request","id":"r","kind":"format-disk"}')
    assert.equal(!unknownKind.ok && unknownKind.error.code, 'INVALID_MESSAGE')
  })

  it('refuses a stream-ending with a reason outside the registry, naming the field', () => {
    const decoded = decodeAgentMessage(JSON.stringify({type: 'stream-ending', streamId: 'a1B2c3D4e5F6g7H8', why: 'because'}))
    assert.equal(decoded.ok, false)
    assert.match(!decoded.ok ? decoded.error.message : '', /why/)
  })

  it('ignores unknown fields from a newer peer (forward compatibility)', () => {
    const decoded = decodeAgentMessage(JSON.stringify({type: 'hello', protocolVersions: [1, 2], inventory: {...inventory, gpu: 'x'}, future: true}))
    assert.ok(decoded.ok)
  })

  it('refuses frames above the maximum size', () => {
    const decoded = decodeAgentMessage(JSON.stringify({type: 'error', code: 'x', message: 'y'.repeat(MAX_FRAME_BYTES)}))
    assert.equal(!decoded.ok && decoded.error.code, 'MALFORMED')
  })

  it('negotiates the highest common version, or none', () => {
    assert.deepEqual([...PROTOCOL_VERSIONS], [1])
    assert.equal(negotiateVersion([1]), 1)
    assert.equal(negotiateVersion([3, 1, 2], [1, 2]), 2)
    assert.equal(negotiateVersion([5, 6]), null)
    assert.equal(negotiateVersion([]), null)
  })
})

describe('enrollment token format', () => {
  it('carries the serial it was issued for, and nothing else readable', () => {
    const token = encodeEnrollToken('SN-1001.a_b', 'x'.repeat(43))
    assert.match(token, /^tet_enr_[A-Za-z0-9_-]+\.x{43}$/)
    assert.equal(serialFromEnrollToken(token), 'SN-1001.a_b')
    assert.equal(serialFromEnrollToken('tet_enr_' + 'y'.repeat(43)), null)
    assert.equal(serialFromEnrollToken(`tet_enr_${Buffer.from('bad serial!').toString('base64url')}.${'x'.repeat(43)}`), null)
  })
})
