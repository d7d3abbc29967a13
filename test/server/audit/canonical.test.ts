import {strict as assert} from 'node:assert'
import {createHash} from 'node:crypto'
import {GENESIS_HASH, canonicalDetails, canonicalEvent, canonicalJson, eventHash} from '../../../src/server/audit/canonical.js'

const fields = {
  seq: 7,
  id: '0b6f0f9e-5d1c-4b8e-9a8e-0d4c1f1e2a3b',
  time: '2026-11-22T10:00:00.000Z',
  actor_type: 'user' as const,
  actor: 'alice "the admin"',
  action: 'tunnel.open',
  device_serial: 'SN-1',
  customer_id: null,
  outcome: 'success' as const,
  source_ip: '::1',
  details: canonicalDetails({z: 1, a: {c: [3, 'é\n'], b: null}, skipped: undefined}),
  prev_hash: GENESIS_HASH,
}

describe('audit canonical encoding', () => {
  it('sorts keys, drops undefined, writes no whitespace', () => {
    assert.equal(canonicalJson({b: 1, a: [true, null, 'x'], c: {y: 2.5, x: -0}}), '{"a":[true,null,"x"],"b":1,"c":{"x":0,"y":2.5}}')
    assert.equal(fields.details, '{"a":{"b":null,"c":[3,"é\\n"]},"z":1}')
    assert.equal(canonicalDetails(undefined), '{}')
    assert.throws(() => canonicalJson({n: Number.NaN}), TypeError)
  })

  it('the hand-written event encoding equals canonicalJson of the fields (details as an object)', () => {
    const generic = canonicalJson({...fields, details: JSON.parse(fields.details)})
    assert.equal(canonicalEvent(fields), generic)
    assert.equal(eventHash(fields), createHash('sha256').update(generic, 'utf8').digest('hex'))
  })

  it('pins a known hash so the format cannot drift silently (docs/audit-format.md)', () => {
    assert.equal(
      canonicalEvent(fields),
      '{"action":"tunnel.open","actor":"alice \\"the admin\\"","actor_type":"user","customer_id":null,' +
        '"details":{"a":{"b":null,"c":[3,"é\\n"]},"z":1},"device_serial":"SN-1","id":"0b6f0f9e-5d1c-4b8e-9a8e-0d4c1f1e2a3b",' +
        `"outcome":"success","prev_hash":"${GENESIS_HASH}","seq":7,"source_ip":"::1","time":"2026-11-22T10:00:00.000Z"}`,
    )
    assert.equal(eventHash(fields), '225b74933a926dece135b6e3cf17de7a9b93a3e331f263475584b7a4f72346db')
  })
})
