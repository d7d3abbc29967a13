import {strict as assert} from 'node:assert'
import {endpointPorts} from '../../src/checks/endpoints.js'
import {listProfiles, loadNamedProfile, parseProfileText, tetherProfile} from '../../src/checks/profile-loader.js'
import {UsageError} from '../../src/shared/errors.js'

const VIRTUALCARE: Array<[string, string, number[]]> = [
  ['64.250.188.50', 'subversion.assembla.com', [443, 80]],
  ['184.106.132.50', 'supportserver.radimetrics.com', [443, 80, 8080]],
  ['5.79.17.149', 'uksupportserver.radimetrics.com', [443, 80, 8080]],
  ['209.202.167.124', 'medrad.axeda.com', [443, 17001, 17002]],
  ['52.8.82.253', 'ghsj1.axeda.com', [443, 17001, 17002]],
  ['209.202.157.179', 'ghsom1.axeda.com', [443, 17001, 17002]],
  ['122.202.65.179', 'Gas-aus.axeda.com', [443, 17001, 17002]],
  ['52.192.51.252', 'ghjap1.axeda.com', [443, 17001, 17002]],
  ['89.234.8.217', 'ghuk1.axeda.com', [443, 17001, 17002]],
]

function usageError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof UsageError, `expected UsageError, got ${String(error)}`)
    assert.match(error.message, pattern)
    return true
  })
}

describe('profile loader', () => {
  it('ships virtualcare as the nine rows of the white paper, 26 host:port pairs', async () => {
    const profile = await loadNamedProfile('virtualcare')
    assert.equal(profile.name, 'virtualcare')
    assert.deepEqual(profile.endpoints.map((e) => [e.ip, e.host, e.ports]), VIRTUALCARE)
    assert.ok(profile.endpoints.every((e) => e.required))
    const pairs = endpointPorts(profile)
    assert.equal(pairs.length, 26)
    assert.equal(new Set(pairs.map((p) => `${p.host}:${p.port}`)).size, 26)
  })

  it('lists the shipped and built-in profiles', async () => {
    const names = await listProfiles()
    assert.ok(names.includes('virtualcare') && names.includes('tether'), names.join(','))
  })

  it('rejects an unknown profile with a usage error naming the known ones', async () => {
    await assert.rejects(loadNamedProfile('nope'), (error: UsageError) => {
      assert.ok(error instanceof UsageError)
      assert.match(error.message, /unknown profile "nope"/)
      assert.match(error.suggestions.join(' '), /virtualcare/)
      return true
    })
  })

  it('builds the tether profile from the server URL', () => {
    assert.deepEqual(tetherProfile('https://tether.example.org').endpoints, [{host: 'tether.example.org', ports: [443], required: true}])
    const p = tetherProfile('https://10.1.2.3:8443/')
    assert.deepEqual(p.endpoints, [{ip: '10.1.2.3', ports: [8443], required: true}])
    assert.deepEqual(p.tlsPorts, [8443])
    usageError(() => tetherProfile('not a url'), /--server/)
  })

  describe('CSV', () => {
    it('reads a pasted vendor table with optional rows and comments', () => {
      const p = parseProfileText('# vendor table\nIP,Hostname,443,17001,Required\n10.0.0.1,a.example.com,X,x,yes\n,b.example.com,X,,no\n', 'table', 't.csv')
      assert.deepEqual(p.endpoints.map((e) => [e.ip, e.host, e.ports, e.required, e.source]), [
        ['10.0.0.1', 'a.example.com', [443, 17001], true, 't.csv:3'],
        [undefined, 'b.example.com', [443], false, 't.csv:4'],
      ])
    })

    it('names the line of a malformed row', () => {
      usageError(() => parseProfileText('IP,Hostname,443\n10.0.0.1,a.example.com,X\n10.0.0.300,b.example.com,X\n', 'table', 't.csv'), /^t\.csv:3: ip: not an IPv4 or IPv6 address \("10\.0\.0\.300"\)/)
      usageError(() => parseProfileText('IP,Hostname,443\n10.0.0.1,a.example.com,maybe\n', 'table', 't.csv'), /^t\.csv:2: column 443: "maybe" is neither X nor empty/)
      usageError(() => parseProfileText('IP,Hostname,443\n10.0.0.1,a.example.com,X,Y\n', 'table', 't.csv'), /^t\.csv:2: 4 cells, but the header has 3 columns/)
      usageError(() => parseProfileText('IP,Hostname,443\n10.0.0.1,a.example.com,\n', 'table', 't.csv'), /^t\.csv:2: ports: needs at least one port/)
      usageError(() => parseProfileText('IP,Hostname,443\n,,X\n', 'table', 't.csv'), /^t\.csv:2: needs an ip or a host/)
      usageError(() => parseProfileText('IP,Hostname,https\n', 'table', 't.csv'), /^t\.csv:1: header needs at least one port column/)
      usageError(() => parseProfileText('Server name,443\n', 'table', 't.csv'), /^t\.csv:1: header needs an IP or a Hostname column/)
      usageError(() => parseProfileText('IP,Hostname,443\n"10.0.0.1,a,X\n', 'table', 't.csv'), /malformed CSV/)
    })
  })

  describe('JSON and YAML', () => {
    it('reads endpoints with expected issuers and TLS ports', () => {
      const p = parseProfileText('name: lab\ntlsPorts: [8443]\nendpoints:\n  - host: lab.example.com\n    ports: [8443]\n    expectedIssuers: [Lab CA]\n  - ip: 10.0.0.9\n    ports: [22]\n    required: false\n', 'yaml', 'lab.yaml')
      assert.equal(p.name, 'lab')
      assert.deepEqual(p.tlsPorts, [8443])
      assert.deepEqual(p.endpoints[0].expectedIssuers, ['Lab CA'])
      assert.equal(p.endpoints[1].required, false)
    })

    it('names the line of a syntax error', () => {
      usageError(() => parseProfileText('{\n  "endpoints": [\n    {"host": "a.example.com", "ports": [443]},,\n  ]\n}', 'json', 'p.json'), /^p\.json:3: malformed JSON/)
      usageError(() => parseProfileText('endpoints:\n  - host: a\n   ports: [1]\n', 'yaml', 'p.yaml'), /^p\.yaml:\d+: malformed YAML/)
    })

    it('names the line and field of a schema error', () => {
      const json = '{\n  "endpoints": [\n    {"host": "a.example.com", "ports": [443]},\n    {"host": "b.example.com", "ports": [70000]}\n  ]\n}'
      usageError(() => parseProfileText(json, 'json', 'p.json'), /^p\.json:4: .*\(endpoints\.1\.ports\.0\)/)
      usageError(() => parseProfileText('endpoints:\n  - host: a.example.com\n    ports: [443]\n    colour: red\n', 'yaml', 'p.yaml'), /^p\.yaml:2: .*colour/)
      usageError(() => parseProfileText('endpoints: []\n', 'yaml', 'p.yaml'), /needs at least one endpoint/)
    })
  })
})
