import {strict as assert} from 'node:assert'
import {checkPorts, type CheckPortsOptions, type CheckPortsResult} from '../../src/checks/check-ports.js'
import type {Profile} from '../../src/checks/endpoints.js'
import {parseProbeAllow} from '../../src/checks/probe-allow.js'
import {parseHostMap, type LookupFn} from '../../src/checks/resolver.js'
import {testCa, type TestCa} from './fixtures/certs.js'
import {closedPort, closeAll, listenTcp, listenTls, type Listener} from './fixtures/servers.js'

const allow = parseProbeAllow('127.0.0.0/8,::1/128')
const noDns: LookupFn = async (host) => {
  throw new Error(`DNS lookup of ${host} must not happen`)
}

function options(profile: Profile, extra: Partial<CheckPortsOptions> = {}): CheckPortsOptions {
  return {profile, target: 'dns', tlsPorts: [], map: new Map(), timeoutMs: 2000, concurrency: 16, adaptive: true, dryRun: false, allow, lookup: noDns, ...extra}
}

/** The --json contract: every probe has these fields with these types. */
function assertShape(r: CheckPortsResult): void {
  assert.equal(r.schemaVersion, 1)
  for (const k of ['profile', 'target', 'startedAt'] as const) assert.equal(typeof r[k], 'string', k)
  for (const k of ['timeoutMs', 'durationMs', 'concurrency'] as const) assert.equal(typeof r[k], 'number', k)
  assert.deepEqual(Object.keys(r.summary).sort(), ['blocked', 'failed', 'optionalFailed', 'passed', 'skipped', 'total', 'warned'])
  assert.equal(r.summary.total, r.probes.length)
  for (const p of r.probes) {
    assert.deepEqual(Object.keys(p).sort(), ['address', 'addressSource', 'dns', 'documentedIp', 'host', 'port', 'proxy', 'reasons', 'required', 'tcp', 'tls', 'tlsExpected', 'verdict'])
    assert.ok(['pass', 'warn', 'fail', 'blocked', 'skipped'].includes(p.verdict))
    assert.ok(['open', 'closed', 'filtered', 'unreachable', 'error', 'blocked', 'skipped'].includes(p.tcp.status))
    assert.ok(Array.isArray(p.dns.addresses) && Array.isArray(p.reasons))
  }
  assert.doesNotThrow(() => JSON.stringify(r))
}

describe('checkPorts engine', function () {
  this.timeout(20_000)
  let ca: TestCa
  let open: Listener
  let tls: Listener
  let closed: number

  before(async () => {
    ca = await testCa('Vendor Test CA')
    const leaf = await ca.sign({cn: 'portal.vendor.test', dns: ['portal.vendor.test']})
    ;[open, tls, closed] = await Promise.all([listenTcp('127.0.0.1'), listenTls(leaf, '127.0.0.1'), closedPort('127.0.0.1')])
  })
  after(() => closeAll([open, tls]))

  it('probes mapped hosts and reports open, closed and TLS per host:port', async () => {
    const profile: Profile = {
      name: 'unit',
      endpoints: [
        {host: 'portal.vendor.test', ip: '127.0.0.1', ports: [tls.port, open.port], required: true},
        {host: 'relay.vendor.test', ports: [closed], required: true},
        {ip: '127.0.0.1', ports: [closed], required: false},
      ],
    }
    const map = parseHostMap(['portal.vendor.test=127.0.0.1', 'relay.vendor.test=127.0.0.1'])
    const r = await checkPorts(options(profile, {map, tlsPorts: [tls.port], extraCa: [ca.cert]}))
    assertShape(r)
    const rows = r.probes.map((p) => [p.host ?? p.documentedIp, p.port, p.address, p.addressSource, p.dns.status, p.tcp.status, p.tls?.status ?? null, p.verdict])
    assert.deepEqual(rows, [
      ['portal.vendor.test', tls.port, '127.0.0.1', 'map', 'mapped', 'open', 'ok', 'pass'],
      ['portal.vendor.test', open.port, '127.0.0.1', 'map', 'mapped', 'open', null, 'pass'],
      ['relay.vendor.test', closed, '127.0.0.1', 'map', 'mapped', 'closed', null, 'fail'],
      ['127.0.0.1', closed, '127.0.0.1', 'ip', 'none', 'closed', null, 'fail'],
    ])
    assert.equal(r.probes[0].tls?.issuer, 'Vendor Test CA')
    assert.deepEqual(r.summary, {total: 4, passed: 2, warned: 0, failed: 2, blocked: 0, optionalFailed: 1, skipped: 0})
    assert.equal(r.ok, false, 'a required endpoint failed')
  })

  it('passes when only optional endpoints fail', async () => {
    const profile: Profile = {name: 'opt', endpoints: [{ip: '127.0.0.1', ports: [open.port], required: true}, {ip: '127.0.0.1', ports: [closed], required: false}]}
    const r = await checkPorts(options(profile))
    assert.deepEqual(r.probes.map((p) => p.verdict), ['pass', 'fail'])
    assert.equal(r.ok, true)
  })

  it('refuses targets outside TETHER_PROBE_ALLOW and does not resolve unmapped names', async () => {
    const profile: Profile = {name: 'out', endpoints: [{ip: '64.250.188.50', host: 'subversion.assembla.com', ports: [443], required: true}]}
    const byIp = await checkPorts(options(profile, {target: 'ip'}))
    assert.equal(byIp.probes[0].verdict, 'blocked')
    assert.equal(byIp.probes[0].tcp.status, 'blocked')
    assert.match(byIp.probes[0].reasons[0], /^blocked by TETHER_PROBE_ALLOW: 64\.250\.188\.50/)
    const byDns = await checkPorts(options(profile, {target: 'dns'}))
    assert.equal(byDns.probes[0].dns.status, 'skipped')
    assert.equal(byDns.probes[0].dns.note, 'not allowed by TETHER_PROBE_ALLOW')
    assert.equal(byDns.probes[0].verdict, 'blocked')
    assert.equal(byDns.ok, false)
    const mappedIp = await checkPorts(options(profile, {target: 'ip', map: parseHostMap([`64.250.188.50=127.0.0.1`])}))
    assert.equal(mappedIp.probes[0].address, '127.0.0.1')
    assert.equal(mappedIp.probes[0].tcp.status, 'closed')
  })

  it('dry run sends nothing', async () => {
    const counter = await listenTcp('127.0.0.1')
    const profile: Profile = {name: 'dry', endpoints: [{ip: '127.0.0.1', host: 'x.vendor.test', ports: [counter.port], required: true}]}
    try {
      const r = await checkPorts(options(profile, {dryRun: true, target: 'both', allow: undefined}))
      assert.equal(r.dryRun, true)
      assert.ok(r.probes.every((p) => p.verdict === 'skipped' && p.tcp.status === 'skipped'))
      assert.equal(r.probes[0].dns.note, 'dry run')
      assert.equal(r.ok, true)
      assert.equal(counter.connections, 0)
    } finally {
      await counter.close()
    }
  })

  it('compares DNS with the documented IP and probes both with --target both', async () => {
    const lookup: LookupFn = async () => ['127.0.0.2']
    const profile: Profile = {name: 'split', endpoints: [{ip: '127.0.0.1', host: 'moved.vendor.test', ports: [open.port], required: true}]}
    const r = await checkPorts(options(profile, {target: 'both', allow: undefined, lookup}))
    assert.deepEqual(r.probes.map((p) => [p.address, p.addressSource, p.tcp.status, p.verdict]), [
      ['127.0.0.1', 'ip', 'open', 'warn'],
      ['127.0.0.2', 'dns', 'closed', 'fail'],
    ])
    assert.equal(r.probes[0].dns.status, 'mismatch')
    assert.equal(r.probes[0].dns.matchesDocumented, false)
    assert.match(r.probes[0].reasons.join(';'), /not the documented 127\.0\.0\.1/)
  })

  it('reports a failed lookup as a failure when nothing else can be probed', async () => {
    const lookup: LookupFn = async () => {
      throw Object.assign(new Error('nx'), {code: 'ENOTFOUND'})
    }
    const profile: Profile = {name: 'nx', endpoints: [{host: 'gone.vendor.test', ports: [443], required: true}]}
    const r = await checkPorts(options(profile, {allow: undefined, lookup}))
    assert.equal(r.probes[0].dns.status, 'failed')
    assert.equal(r.probes[0].verdict, 'fail')
    assert.match(r.probes[0].reasons[0], /no such host/)
  })
})
