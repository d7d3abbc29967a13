import {strict as assert} from 'node:assert'
import {mkdtemp, rm} from 'node:fs/promises'
import {createServer, type Server} from 'node:https'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {AgentConfig, agentFiles, type AgentFiles} from '../../../src/agent/data-dir.js'
import {diagnosticCatalogue, runDiagnostic, type DiagnosticDeps} from '../../../src/agent/diagnostics/catalogue.js'
import {LogRing} from '../../../src/agent/diagnostics/log-ring.js'
import {parseRoutes, parseIpv6Routes} from '../../../src/agent/diagnostics/system.js'
import {LocalAudit} from '../../../src/agent/local-audit.js'
import {JobFailure} from '../../../src/agent/jobs/runner.js'
import {BUILTIN_DIAGNOSTICS} from '../../../src/protocol/agent/index.js'
import {testCa} from '../../checks/fixtures/certs.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read loosely-typed diagnostic results
type Loose = any

/** Every built-in runs for real on this machine; the structure of each result is the contract. */
describe('diagnostics catalogue', function () {
  this.timeout(30_000)
  let dir: string
  let files: AgentFiles
  let config: AgentConfig
  const signal = new AbortController().signal

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-diag-'))
    files = agentFiles(dir)
    config = AgentConfig.parse({
      version: 1,
      server: 'https://127.0.0.1:1',
      serial: 'SN-DIAG',
      model: 'X200',
      diagnostics: {
        'echo-args': {command: ['/bin/echo', 'a; rm -rf /', '$(id)']},
        slow: {command: ['/bin/sleep', '30'], timeoutSeconds: 1},
        chatty: {command: ['/usr/bin/yes']},
        failing: {command: ['/bin/sh', '-c', 'echo bad >&2; exit 3']},
      },
    })
    await new LocalAudit(files.audit).append({action: 'agent.enrolled', outcome: 'success', actor: 'local:test'})
  })
  after(async () => rm(dir, {recursive: true, force: true}))

  const deps = (extra: Partial<DiagnosticDeps> = {}): DiagnosticDeps => ({config: async () => config, files, agentVersion: '9.9.9', ...extra})

  it('lists the built-ins first, then the customer scripts', () => {
    assert.deepEqual(diagnosticCatalogue(config), [...BUILTIN_DIAGNOSTICS, 'chatty', 'echo-args', 'failing', 'slow'])
  })

  it('system-info', async () => {
    const r = (await runDiagnostic('system-info', deps(), signal)) as Record<string, Loose>
    assert.equal(typeof r.hostname, 'string')
    assert.equal(r.platform, process.platform)
    assert.ok(r.cpu.count >= 1)
    assert.deepEqual(r.agent, {serial: 'SN-DIAG', model: 'X200', version: '9.9.9', pid: process.pid})
  })

  it('disk-usage', async () => {
    const r = (await runDiagnostic('disk-usage', deps(), signal)) as {filesystems: Record<string, Loose>[]}
    assert.ok(r.filesystems.length >= 1)
    const root = r.filesystems.find((f) => f.mount === '/')
    assert.ok(root, 'the root filesystem is listed')
    assert.ok(root.totalBytes > 0 && root.usedBytes >= 0 && root.usedPercent >= 0 && root.usedPercent <= 100)
  })

  it('memory', async () => {
    const r = (await runDiagnostic('memory', deps(), signal)) as Record<string, Loose>
    assert.ok(r.totalBytes > 0 && r.freeBytes > 0)
    assert.ok(r.availableBytes > 0, '/proc/meminfo MemAvailable is read on Linux')
    assert.ok(r.agentProcess.rssBytes > 0)
  })

  it('uptime-load', async () => {
    const r = (await runDiagnostic('uptime-load', deps(), signal)) as Record<string, Loose>
    assert.ok(r.uptimeSeconds > 0)
    assert.equal(typeof r.loadAverage['1m'], 'number')
    assert.ok(!Number.isNaN(Date.parse(r.bootTime)))
  })

  it('network: interfaces (with loopback) and routes', async () => {
    const r = (await runDiagnostic('network', deps(), signal)) as {interfaces: {name: string; addresses: {address: string}[]}[]; routes: {family: string}[] | null}
    assert.ok(r.interfaces.some((i) => i.addresses.some((a) => a.address === '127.0.0.1')))
    assert.ok(Array.isArray(r.routes))
  })

  it('parses /proc/net/route and ipv6_route', () => {
    const v4 = parseRoutes('Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\neth0\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n')
    assert.deepEqual(v4, [
      {family: 'ipv4', interface: 'eth0', destination: '0.0.0.0', prefixLength: 0, gateway: '192.168.2.1', metric: 100},
      {family: 'ipv4', interface: 'eth0', destination: '192.168.2.0', prefixLength: 24, gateway: null, metric: 0},
    ])
    const v6 = parseIpv6Routes('fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n')
    assert.deepEqual(v6, [{family: 'ipv6', interface: 'eth0', destination: 'fe80::', prefixLength: 64, gateway: null, metric: 256}])
  })

  it('agent-log-tail: recent agent log lines and local audit entries', async () => {
    const ring = new LogRing(3)
    for (let i = 0; i < 5; i++) ring.push('info', {i}, `line ${i}`)
    const r = (await runDiagnostic('agent-log-tail', deps({ring}), signal)) as {log: {msg: string}[]; audit: {action: string}[]}
    assert.deepEqual(r.log.map((l) => l.msg), ['line 2', 'line 3', 'line 4'])
    assert.equal(r.audit[0].action, 'agent.enrolled')
  })

  describe('server-reachability (the check engine against the agent server)', () => {
    let server: Server
    before(async () => {
      const ca = await testCa('Tether Test Server CA')
      const leaf = await ca.sign({cn: '127.0.0.1', ips: ['127.0.0.1']})
      server = createServer({key: leaf.key, cert: leaf.cert}, (_req, res) => res.end('ok'))
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
      config = {...config, server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`}
      serverCa = ca.cert
    })
    after(() => new Promise<void>((r) => server.close(() => r())))
    let serverCa = ''

    it('passes against a live server trusted by the enrolled CA', async () => {
      const r = (await runDiagnostic('server-reachability', deps({serverCa, env: {TETHER_PROBE_ALLOW: '127.0.0.0/8'}}), signal)) as {ok: boolean; probes: {tcp: {status: string}; tls: {status: string} | null}[]}
      assert.equal(r.probes[0].tcp.status, 'open')
      assert.ok(r.probes[0].tls, 'TLS was probed')
      assert.equal(r.ok, true, JSON.stringify(r.probes[0]))
    })

    it('respects TETHER_PROBE_ALLOW: a server outside it is blocked, not probed', async () => {
      const r = (await runDiagnostic('server-reachability', deps({serverCa, env: {TETHER_PROBE_ALLOW: '10.0.0.0/8'}}), signal)) as {ok: boolean; probes: {verdict: string}[]}
      assert.equal(r.probes[0].verdict, 'blocked')
    })
  })

  it('a customer script runs as argv, never through a shell', async () => {
    const r = (await runDiagnostic('echo-args', deps(), signal)) as {exitCode: number; stdout: string}
    assert.equal(r.exitCode, 0)
    assert.equal(r.stdout, 'a; rm -rf / $(id)\n')
  })

  it('a non-zero exit is reported as data (exit code and stderr)', async () => {
    const r = (await runDiagnostic('failing', deps(), signal)) as {exitCode: number; stderr: string}
    assert.equal(r.exitCode, 3)
    assert.equal(r.stderr, 'bad\n')
  })

  it('a script that outlives timeoutSeconds is killed (TIMEOUT)', async () => {
    const started = Date.now()
    await assert.rejects(runDiagnostic('slow', deps(), signal), (e: JobFailure) => e.code === 'TIMEOUT')
    assert.ok(Date.now() - started < 5000)
  })

  it('bounds a script that never stops talking', async () => {
    const controller = new AbortController()
    const pending = runDiagnostic('chatty', deps(), controller.signal)
    setTimeout(() => controller.abort(), 300)
    const r = (await pending) as {stdout: string; stdoutTruncated: boolean}
    assert.equal(r.stdoutTruncated, true)
    assert.equal(r.stdout.length, 64 * 1024)
  })

  it('refuses a name that is not in the catalogue (UNKNOWN_DIAGNOSTIC, refused)', async () => {
    await assert.rejects(runDiagnostic('rm-rf', deps(), signal), (e: JobFailure) => e.code === 'UNKNOWN_DIAGNOSTIC' && e.refused)
  })

  it('agent.json refuses a script named like a built-in', () => {
    const r = AgentConfig.safeParse({version: 1, server: 'https://x.example', serial: 'S', diagnostics: {memory: {command: ['/bin/true']}}})
    assert.equal(r.success, false)
  })
})
