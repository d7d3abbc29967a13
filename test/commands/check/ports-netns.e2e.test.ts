import {strict as assert} from 'node:assert'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {CheckPortsResult} from '../../../src/checks/check-ports.js'
import {waitForOutput} from '../../helpers/cli.js'
import {testCa} from '../../checks/fixtures/certs.js'
import {LISTENER_SCRIPT, createNetns, dropTcp, netnsUnavailable, rejectUnreachable, type Netns} from '../../checks/fixtures/netns.js'
import {runCheck} from './run.js'

const VIRTUALCARE_HOSTS = [
  'subversion.assembla.com', 'supportserver.radimetrics.com', 'uksupportserver.radimetrics.com', 'medrad.axeda.com', 'ghsj1.axeda.com',
  'ghsom1.axeda.com', 'Gas-aus.axeda.com', 'ghjap1.axeda.com', 'ghuk1.axeda.com',
]
const VIRTUALCARE_PORTS = [[443, 80], [443, 80, 8080], [443, 80, 8080], ...Array.from({length: 6}, () => [443, 17001, 17002])]

describe('tether check ports in a network namespace (open, closed, filtered, unreachable)', function () {
  this.timeout(60_000)
  let ns: Netns | undefined
  let dir: string | undefined

  before(async function () {
    const why = netnsUnavailable()
    if (why) {
      console.warn(`      skipped: ${why}`)
      this.skip()
    }
    ns = createNetns('tether-check')
    dir = await mkdtemp(join(tmpdir(), 'tether-check-netns-'))
  })

  after(async () => {
    ns?.destroy()
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  async function listen(specs: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
    const child = ns!.spawn(process.execPath, ['-e', LISTENER_SCRIPT, ...specs], env)
    await waitForOutput(child, /READY/, 10_000)
  }

  it('recognises each state, and the adaptive wait ends well before --timeout', async () => {
    await listen(['127.0.1.1:7001'])
    dropTcp(ns!, '127.0.1.1', 7003)
    rejectUnreachable(ns!, '127.0.1.2', 7004)
    const file = join(dir!, 'states.json')
    await writeFile(file, JSON.stringify({endpoints: [{ip: '127.0.1.1', ports: [7001, 7002, 7003]}, {ip: '127.0.1.2', ports: [7004]}]}))

    const r = await runCheck(['check', 'ports', '--file', file, '--timeout', '8s', '--json'], {netns: ns!.name})
    assert.equal(r.code, 1, r.stderr)
    const doc = JSON.parse(r.stdout) as CheckPortsResult
    assert.deepEqual(doc.probes.map((p) => [p.address, p.port, p.tcp.status]), [
      ['127.0.1.1', 7001, 'open'],
      ['127.0.1.1', 7002, 'closed'],
      ['127.0.1.1', 7003, 'filtered'],
      ['127.0.1.2', 7004, 'unreachable'],
    ])
    const filtered = doc.probes[2].tcp
    assert.ok(filtered.waitedMs! < 2000, `adaptive wait was ${filtered.waitedMs}ms`)
    assert.equal(filtered.attempts, 2, 'one retransmission before calling it filtered')
    assert.ok(r.ms < 6000, `whole run took ${r.ms}ms with --timeout 8s`)
    assert.deepEqual(doc.probes.map((p) => p.verdict), ['pass', 'fail', 'fail', 'fail'])
  })

  it('waits the full --timeout with --no-adaptive', async () => {
    const file = join(dir!, 'filtered.json')
    await writeFile(file, JSON.stringify({endpoints: [{ip: '127.0.1.1', ports: [7001, 7003]}]}))
    const r = await runCheck(['check', 'ports', '--file', file, '--timeout', '1500ms', '--no-adaptive', '--json'], {netns: ns!.name})
    const doc = JSON.parse(r.stdout) as CheckPortsResult
    assert.equal(doc.probes[1].tcp.status, 'filtered')
    assert.ok(doc.probes[1].tcp.waitedMs! >= 1450, `waited ${doc.probes[1].tcp.waitedMs}ms`)
  })

  it('runs the virtualcare profile --mapped to loopback listeners and gives the expected table', async () => {
    const ca = await testCa('VirtualCare Test CA')
    const leaf = await ca.sign({cn: 'virtualcare.test', dns: VIRTUALCARE_HOSTS})
    await writeFile(join(dir!, 'leaf.pem'), leaf.cert)
    await writeFile(join(dir!, 'leaf.key'), leaf.key)
    await writeFile(join(dir!, 'ca.pem'), ca.cert)
    const addr = (i: number): string => `127.0.2.${i + 1}`
    // Everything listens except: Gas-aus 17002 (dropped: filtered), ghjap1 17001 and ghuk1 443 (nothing: closed).
    const specs = VIRTUALCARE_HOSTS.flatMap((h, i) =>
      VIRTUALCARE_PORTS[i]
        .filter((port) => !(h === 'ghjap1.axeda.com' && port === 17001) && !(h === 'ghuk1.axeda.com' && port === 443) && !(h === 'Gas-aus.axeda.com' && port === 17002))
        .map((port) => `${port === 443 ? 'tls:' : ''}${addr(i)}:${port}`),
    )
    await listen(specs, {...process.env, TLS_CERT: join(dir!, 'leaf.pem'), TLS_KEY: join(dir!, 'leaf.key')})
    dropTcp(ns!, addr(6), 17002)
    const map = VIRTUALCARE_HOSTS.flatMap((h, i) => ['--map', `${h}=${addr(i)}`])
    const base = ['check', 'ports', '--profile', 'virtualcare', ...map, '--ca', join(dir!, 'ca.pem'), '--timeout', '5s']

    const r = await runCheck([...base, '--json'], {netns: ns!.name})
    assert.equal(r.code, 1, r.stderr)
    const doc = JSON.parse(r.stdout) as CheckPortsResult
    const expected = VIRTUALCARE_HOSTS.flatMap((h, i) =>
      VIRTUALCARE_PORTS[i].map((port) => {
        const tcp = h === 'Gas-aus.axeda.com' && port === 17002 ? 'filtered' : (h === 'ghjap1.axeda.com' && port === 17001) || (h === 'ghuk1.axeda.com' && port === 443) ? 'closed' : 'open'
        return [h, port, addr(i), tcp, port === 443 && tcp === 'open' ? 'ok' : null, tcp === 'open' ? 'pass' : 'fail']
      }),
    )
    assert.equal(expected.length, 26)
    assert.deepEqual(doc.probes.map((p) => [p.host, p.port, p.address, p.tcp.status, p.tls?.status ?? null, p.verdict]), expected)
    assert.deepEqual(doc.summary, {total: 26, passed: 23, warned: 0, failed: 3, blocked: 0, optionalFailed: 0, skipped: 0})

    const report = join(dir!, 'ticket.md')
    const human = await runCheck([...base, '--report', report], {netns: ns!.name})
    assert.equal(human.code, 1)
    assert.equal(human.stdout.split('\n').filter((l) => /^│ \S/.test(l)).length, 27, 'header + 26 rows')
    assert.match(human.stderr, /26 probes of "virtualcare" .*: 23 pass, 0 warn, 3 fail\./)
    const {readFile} = await import('node:fs/promises')
    const md = await readFile(report, 'utf8')
    assert.match(md, /^# tether check ports: virtualcare/)
    assert.equal(md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| Host')).length, 26)
    assert.match(md, /\| Gas-aus\.axeda\.com \| 17002 \| 127\.0\.2\.7 \(map\) \| mapped 127\.0\.2\.7 \| filtered/)
  })
})
