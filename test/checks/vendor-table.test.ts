import {strict as assert} from 'node:assert'
import {readFile} from 'node:fs/promises'
import {Readable} from 'node:stream'
import {loadNamedProfile, loadProfileFile, parseProfileText, sniffFormat} from '../../src/checks/profile-loader.js'
import {detectDelimiter, parseVendorTable} from '../../src/checks/vendor-table.js'
import {UsageError} from '../../src/shared/errors.js'

const FIXTURE = new URL('fixtures/virtualcare-white-paper.txt', import.meta.url)

type Row = [string | undefined, string | undefined, number[]]
const rows = (p: {endpoints: Array<{ip?: string; host?: string; ports: number[]}>}): Row[] => p.endpoints.map((e) => [e.ip, e.host, e.ports])

function usageError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof UsageError, `expected UsageError, got ${String(error)}`)
    assert.match(error.message, pattern)
    return true
  })
}

describe('vendor table (pasted as it is)', () => {
  let shipped: Row[]
  before(async () => {
    shipped = rows(await loadNamedProfile('virtualcare'))
  })

  it('reads the white paper table as copied from the PDF: tabs, a leading product-group column, "Port 443" headers', async () => {
    const text = await readFile(FIXTURE, 'utf8')
    assert.match(text, /^\t\tIP Address\tHostname\tPort 443\tPort 17001/, 'the fixture is the seed table, unchanged')
    const p = parseVendorTable(text, 'wp.txt')
    assert.deepEqual(rows(p), shipped)
    assert.equal(p.endpoints[0].source, 'wp.txt:2')
    // The product group holds data under an empty header: ignored, and said once.
    assert.deepEqual(p.warnings, ['wp.txt:1: ignored column 1 (no header) (not IP, Hostname, Required or a port)'])
  })

  it('reads the same table through --file with an unknown extension and from stdin', async () => {
    const fromFile = await loadProfileFile(FIXTURE.pathname)
    assert.equal(fromFile.name, 'virtualcare-white-paper')
    assert.deepEqual(rows(fromFile), shipped)
    const fromStdin = await loadProfileFile('-', Readable.from([await readFile(FIXTURE)]))
    assert.equal(fromStdin.name, 'stdin')
    assert.deepEqual(rows(fromStdin), shipped)
    await assert.rejects(loadProfileFile('-', Readable.from([])), /--file -: standard input was empty/)
  })

  it('detects tab, semicolon and comma delimiters from the header', () => {
    assert.equal(detectDelimiter('IP Address\tHostname\tPort 443\n'), '\t')
    assert.equal(detectDelimiter('# note, with a comma\nIP Address;Hostname;Port 443\n'), ';')
    assert.equal(detectDelimiter('IP,Hostname,443\n'), ',')
  })

  const variants: Array<[string, string]> = [
    ['comma, bare port numbers', 'IP,Hostname,443,17001\n10.0.0.1,a.example.com,X,X\n'],
    ['semicolon, "Port 443" (a German spreadsheet export)', 'IP Address;Hostname;Port 443;Port 17001\n10.0.0.1;a.example.com;X;X\n'],
    ['tab, "TCP 443"', 'IP Address\tHostname\tTCP 443\tTCP 17001\n10.0.0.1\ta.example.com\tX\tX\n'],
    ['"443/tcp"', 'IP,Hostname,443/tcp,17001/TCP\n10.0.0.1,a.example.com,X,x\n'],
    ['BOM and CRLF', '\uFEFFIP Address,Hostname,Port 443,Port 17001\r\n10.0.0.1,a.example.com,X,X\r\n'],
    ['Markdown', '| IP Address | Hostname | Port 443 | Port 17001 |\n|---|---|:---:|---|\n| 10.0.0.1 | a.example.com | X | X |\n'],
  ]
  for (const [name, text] of variants) {
    it(`accepts ${name}`, () => {
      const p = parseProfileText(text, sniffFormat(text), 't')
      assert.deepEqual(rows(p), [['10.0.0.1', 'a.example.com', [443, 17001]]])
      assert.deepEqual(p.warnings, [])
    })
  }

  it('ignores unknown columns and says so once, naming them', () => {
    const p = parseVendorTable('Product;IP Address;Hostname;Port 443;Owner\nCT;10.0.0.1;a.example.com;X;Bob\nMR;10.0.0.2;b.example.com;X;Alice\n', 't.csv')
    assert.deepEqual(rows(p), [['10.0.0.1', 'a.example.com', [443]], ['10.0.0.2', 'b.example.com', [443]]])
    assert.deepEqual(p.warnings, ['t.csv:1: ignored columns "Product", "Owner" (not IP, Hostname, Required or a port)'])
  })

  it('reads back the Markdown report that check ports --report writes (one row per host and port)', () => {
    const report = [
      '# tether check ports: virtualcare',
      '',
      '- Run: 2026-01-01T00:00:00.000Z (3 ms), target ip, timeout 3000 ms',
      '- Result: **PASS**. Dry run: 3 probes planned.',
      '',
      '| Host | Port | Address | DNS | TCP | TLS | Proxy | Verdict |',
      '|---|---|---|---|---|---|---|---|',
      '| medrad.axeda.com | 443 | 209.202.167.124 (ip) | - | not sent | would check | - | DRY RUN |',
      '| medrad.axeda.com | 17001 | 209.202.167.124 (ip) | - | not sent | - | - | DRY RUN |',
      '| 10.9.8.7 | 22 | - | - | not sent | - | - | FAIL: tcp: closed \\| refused |',
      '',
    ].join('\n')
    const p = parseProfileText(report, sniffFormat(report), 'r.md')
    assert.deepEqual(rows(p), [['209.202.167.124', 'medrad.axeda.com', [443, 17001]], ['10.9.8.7', undefined, [22]]])
    assert.match(p.warnings?.[0] ?? '', /^r\.md:6: ignored columns "DNS", "TCP", "TLS", "Proxy", "Verdict"/)
  })

  it('reads back a real --report of a dry run: the same hosts, documented IPs and ports', async () => {
    const {checkPorts} = await import('../../src/checks/check-ports.js')
    const {renderMarkdown} = await import('../../src/checks/report.js')
    const profile = await loadNamedProfile('virtualcare')
    const result = await checkPorts({profile, target: 'ip', tlsPorts: [443], map: new Map(), timeoutMs: 1000, concurrency: 4, adaptive: false, dryRun: true})
    const back = parseProfileText(renderMarkdown(result), 'table', 'report.md')
    assert.deepEqual(rows(back), shipped)
  })

  it('keeps line-numbered errors in every layout', () => {
    usageError(() => parseVendorTable('IP Address\tHostname\tPort 443\n10.0.0.1\ta.example.com\tX\n10.0.0.300\tb.example.com\tX\n', 't.txt'), /^t\.txt:3: ip: not an IPv4 or IPv6 address \("10\.0\.0\.300"\)/)
    usageError(() => parseVendorTable('IP;Hostname;Port 443\r\n\r\n10.0.0.1;a.example.com;maybe\r\n', 't.csv'), /^t\.csv:3: column 443: "maybe" is neither X nor empty/)
    usageError(() => parseVendorTable('| IP | Hostname | 443 |\n|---|---|---|\n| 10.0.0.1 | a.example.com | X |\n| 10.0.0.2 | b..example | X |\n', 't.md'), /^t\.md:4: host: not a hostname \("b\.\.example"\)/)
    usageError(() => parseVendorTable('IP,Hostname,443\n10.0.0.1,a.example.com,X,stray\n', 't.csv'), /^t\.csv:2: 4 cells, but the header has 3 columns/)
    usageError(() => parseVendorTable('Host,Port\na.example.com,https\n', 't.csv'), /^t\.csv:2: port "https" is not a TCP port/)
  })

  it('skips a title above the header, and says so', () => {
    const p = parseVendorTable('VirtualCare endpoints (rev. 3)\nIP Address\tHostname\tPort 443\n10.0.0.1\ta.example.com\tX\n', 't.txt')
    assert.deepEqual(rows(p), [['10.0.0.1', 'a.example.com', [443]]])
    assert.deepEqual(p.warnings, ['t.txt: lines 1-1 above the header were skipped'])
  })

  it('sniffs JSON and YAML given on stdin', () => {
    assert.equal(sniffFormat('{"endpoints": []}'), 'json')
    assert.equal(sniffFormat('# lab\nendpoints:\n  - host: a\n'), 'yaml')
    assert.equal(sniffFormat('\t\tIP Address\tHostname\n'), 'table')
  })
})
