import {strict as assert} from 'node:assert'
import {parseProbeAllow} from '../../src/checks/probe-allow.js'
import {UsageError} from '../../src/shared/errors.js'

describe('TETHER_PROBE_ALLOW', () => {
  it('is off when unset or empty', () => {
    assert.equal(parseProbeAllow(undefined), undefined)
    assert.equal(parseProbeAllow('  '), undefined)
  })

  it('allows exactly the listed IPv4 and IPv6 ranges', () => {
    const allow = parseProbeAllow('127.0.0.0/8, ::1/128, 10.1.2.3')!
    assert.deepEqual(allow.cidrs, ['127.0.0.0/8', '::1/128', '10.1.2.3'])
    for (const a of ['127.0.0.1', '127.255.1.2', '::1', '10.1.2.3', '::ffff:127.0.0.5']) assert.ok(allow.allows(a), a)
    for (const a of ['64.250.188.50', '10.1.2.4', '::2', 'localhost', '128.0.0.1']) assert.ok(!allow.allows(a), a)
  })

  it('rejects a malformed CIDR as a usage error', () => {
    for (const bad of ['127.0.0.0/33', 'localhost', '::1/129', '1.2.3/8']) assert.throws(() => parseProbeAllow(bad), UsageError, bad)
  })
})
