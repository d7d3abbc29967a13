import {strict as assert} from 'node:assert'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {runTether, type RunResult} from '../../helpers/cli.js'
import {runCheck} from './run.js'

function assertUsage(r: RunResult, pattern: RegExp): void {
  assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`)
  assert.match(r.stderr, pattern)
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
}

describe('tether check ports: bad input', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-check-input-'))
  })
  after(() => rm(dir, {recursive: true, force: true}))

  it('rejects an unknown profile and names the known ones', async () => {
    const r = await runTether(['check', 'ports', '--profile', 'nope'])
    assertUsage(r, /unknown profile "nope"/)
    assert.match(r.stderr, /virtualcare/)
  })

  it('rejects a malformed CSV with its line number', async () => {
    const file = join(dir, 'vendor.csv')
    await writeFile(file, 'IP,Hostname,443\n10.0.0.1,ok.example.com,X\n10.0.0.1,bad.example.com,maybe\n')
    assertUsage(await runTether(['check', 'ports', '--file', file]), /vendor\.csv:3: column 443: "maybe"/)
  })

  it('rejects malformed JSON with its line number, also as a --json error document', async () => {
    const file = join(dir, 'vendor.json')
    await writeFile(file, '{\n  "endpoints": [\n    {"host": "a.example.com", "ports": ["443"]}\n  ]\n}\n')
    assertUsage(await runTether(['check', 'ports', '--file', file]), /vendor\.json:3: .*endpoints\.0\.ports\.0/)
    const r = await runTether(['check', 'ports', '--file', file, '--json'])
    assert.equal(r.code, 2)
    assert.equal(JSON.parse(r.stdout).error.code, 'USAGE')
  })

  it('rejects a bad proxy URL, from the flag or the environment', async () => {
    assertUsage(await runTether(['check', 'ports', '--profile', 'virtualcare', '--proxy', 'socks5://127.0.0.1:1080']), /--proxy: "socks5:" proxies are not supported/)
    assertUsage(await runCheck(['check', 'ports', '--profile', 'virtualcare'], {env: {HTTPS_PROXY: 'http://'}}), /HTTPS_PROXY: "http:\/\/" is not a proxy URL/)
  })

  it('rejects a bad timeout, map, port list and a bad TETHER_PROBE_ALLOW', async () => {
    assertUsage(await runTether(['check', 'ports', '--profile', 'virtualcare', '--timeout', 'soon']), /--timeout: "soon" is not a duration/)
    assertUsage(await runTether(['check', 'ports', '--profile', 'virtualcare', '--timeout', '10m']), /longer than the 120s maximum/)
    assertUsage(await runTether(['check', 'ports', '--profile', 'virtualcare', '--map', 'medrad.axeda.com']), /--map: "medrad\.axeda\.com" must be HOST=IP/)
    assertUsage(await runTether(['check', 'ports', '--profile', 'virtualcare', '--tls-ports', '443,https']), /--tls-ports: "https" is not a port/)
    assertUsage(await runTether(['check', 'ports', '--profile', 'virtualcare'], {env: {TETHER_PROBE_ALLOW: '127.0.0.0/40'}}), /TETHER_PROBE_ALLOW/)
    assertUsage(await runTether(['check', 'ports']), /--profile NAME, --file FILE or --server URL/)
    assertUsage(await runTether(['check', 'ports', '--profile', 'tether']), /needs --server/)
  })

  it('dry run lists the 26 virtualcare probes and sends nothing', async () => {
    const r = await runTether(['check', 'ports', '--profile', 'virtualcare', '--dry-run', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const doc = JSON.parse(r.stdout)
    assert.equal(doc.probes.length, 26)
    assert.ok(doc.probes.every((p: {verdict: string; tcp: {status: string}}) => p.verdict === 'skipped' && p.tcp.status === 'skipped'))
    const human = await runTether(['check', 'ports', '--profile', 'virtualcare', '--dry-run', '--target', 'ip'])
    assert.equal(human.code, 0)
    assert.match(human.stdout, /64\.250\.188\.50 \(ip\)/)
    assert.match(human.stdout, /Dry run: 26 probes planned/)
    assert.equal(human.stderr, '', 'no spinner when stderr is not a terminal')
  })

  it('takes the white paper table pasted from the PDF on stdin (--file -): 26 probes, the ignored product column said once', async () => {
    const table = await readFile(new URL('../../checks/fixtures/virtualcare-white-paper.txt', import.meta.url), 'utf8')
    const human = await runTether(['check', 'ports', '--file', '-', '--dry-run', '--target', 'ip'], {input: table})
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /Dry run: 26 probes planned for profile "stdin"/)
    assert.match(human.stdout, /medrad\.axeda\.com.*209\.202\.167\.124 \(ip\)/)
    assert.equal(human.stderr.match(/ignored column/g)?.length, 1, human.stderr)
    assert.match(human.stderr, /stdin:1: ignored column 1 \(no header\)/)
    const json = await runTether(['check', 'ports', '--file', '-', '--dry-run', '--json'], {input: table})
    assert.equal(json.code, 0, json.stderr)
    const doc = JSON.parse(json.stdout)
    assert.equal(doc.probes.length, 26)
    assert.deepEqual(doc.warnings, ['stdin:1: ignored column 1 (no header) (not IP, Hostname, Required or a port)'])
    assert.equal(json.stderr, '', 'with --json the warning is in the document only')
  })

  it('probes a pasted table end to end, mapped to loopback (semicolons, CRLF, "TCP 443" headers)', async () => {
    const file = join(dir, 'spreadsheet.csv')
    await writeFile(file, '\uFEFFGroup;IP Address;Hostname;TCP 443\r\nlab;127.0.0.9;closed.example.com;X\r\n')
    const r = await runTether(['check', 'ports', '--file', file, '--target', 'ip', '--timeout', '1s', '--json'])
    const doc = JSON.parse(r.stdout)
    assert.equal(doc.probes.length, 1)
    assert.equal(doc.probes[0].address, '127.0.0.9')
    assert.equal(doc.probes[0].port, 443)
    assert.match(doc.warnings[0], /spreadsheet\.csv:1: ignored column "Group"/)
  })

  it('check firewall-rules reads the same pasted table', async () => {
    const table = await readFile(new URL('../../checks/fixtures/virtualcare-white-paper.txt', import.meta.url), 'utf8')
    const r = await runTether(['check', 'firewall-rules', '--file', '-', '--format', 'iptables'], {input: table})
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout.match(/^-A OUTPUT/gm)?.length, 9)
    assert.match(r.stdout, /-A OUTPUT -d 52\.192\.51\.252\/32 -p tcp -m multiport --dports 443,17001,17002 /)
    assert.equal(r.stderr.match(/ignored column/g)?.length, 1)
  })

  it('without --map the real vendor addresses are refused by TETHER_PROBE_ALLOW (exit 1)', async () => {
    const r = await runTether(['check', 'ports', '--profile', 'virtualcare', '--target', 'ip', '--json'])
    assert.equal(r.code, 1)
    const doc = JSON.parse(r.stdout)
    assert.equal(doc.summary.blocked, 26)
    assert.ok(doc.probes.every((p: {reasons: string[]}) => /blocked by TETHER_PROBE_ALLOW/.test(p.reasons[0])))
  })
})
