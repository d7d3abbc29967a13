import {strict as assert} from 'node:assert'
import {mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {runCommand} from '@oclif/test'
import {AgentConfig, agentFiles, writeAgentConfig} from '../../../src/agent/data-dir.js'
import {Witness} from '../../../src/agent/witness.js'
import {checkpointSigner, generateCheckpointKeyPem} from '../../../src/shared/checkpoint-signature.js'

/** The local `tether agent ...` commands on an enrolled data dir (no server needed). */
describe('tether agent access / audit / status / install-service', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-agent-cmd-'))
    await writeAgentConfig(agentFiles(dir), AgentConfig.parse({version: 1, server: 'https://support.example.org:8443', serial: 'SN-CMD', allowedTunnelPorts: [22, 5900]}))
  })
  afterEach(async () => rm(dir, {recursive: true, force: true}))

  const run = async (args: string[]) => runCommand([...args, '--data-dir', dir])

  it('access show defaults to allow with the configured ports', async () => {
    const {stdout, error} = await run(['agent', 'access', 'show', '--json'])
    assert.equal(error, undefined)
    assert.deepEqual(JSON.parse(stdout), {mode: 'allow', until: null, changedAt: null, changedBy: null, allowedTunnelPorts: [22, 5900], acceptedJobKinds: ['diagnostics', 'logs'], pendingRequests: 0, activeGrants: 0})
  })

  it('access set writes policy.json (0600), audits locally and queues the change for the server', async () => {
    const {stdout, error} = await run(['agent', 'access', 'set', 'allow', '--until', '2h', '--json'])
    assert.equal(error, undefined)
    const view = JSON.parse(stdout)
    assert.equal(view.mode, 'allow')
    assert.ok(Date.parse(view.until) > Date.now() + 7_000_000)
    assert.equal((await stat(join(dir, 'policy.json'))).mode & 0o777, 0o600)
    await run(['agent', 'access', 'set', 'no-access'])
    const outbox = (await readFile(join(dir, 'outbox.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
    assert.deepEqual(outbox.map((e) => [e.action, e.details.to]), [['device.access-mode.changed', 'allow'], ['device.access-mode.changed', 'no-access']])
    const audit = JSON.parse((await run(['agent', 'audit', '--verify', '--json'])).stdout)
    assert.equal(audit.verify.ok, true)
    assert.deepEqual(audit.entries.map((e: {eventId: string}) => e.eventId), outbox.map((e) => e.eventId))
  })

  it('access set rejects --until with no-access and bad durations (exit 2)', async () => {
    const a = await run(['agent', 'access', 'set', 'no-access', '--until', '1h'])
    assert.equal(a.error?.oclif?.exit, 2)
    const b = await run(['agent', 'access', 'set', 'allow', '--until', 'soon'])
    assert.equal(b.error?.oclif?.exit, 2)
  })

  it('audit --verify exits 1 and names the line when the chain was edited', async () => {
    await run(['agent', 'access', 'set', 'no-access'])
    await run(['agent', 'access', 'set', 'allow'])
    const path = join(dir, 'audit.log')
    const lines = (await readFile(path, 'utf8')).split('\n')
    lines[0] = lines[0].replace('"no-access"', '"allow"')
    await writeFile(path, lines.join('\n'))
    const {stdout, error} = await run(['agent', 'audit', '--verify', '--json'])
    assert.equal(error?.oclif?.exit, 1)
    const doc = JSON.parse(stdout)
    assert.equal(doc.verify.ok, false)
    assert.equal(doc.verify.brokenAt, 1)
  })

  it('audit --since filters by time', async () => {
    await run(['agent', 'access', 'set', 'no-access'])
    const recent = JSON.parse((await run(['agent', 'audit', '--since', '1h', '--json'])).stdout)
    assert.equal(recent.entries.length, 1)
  })

  it('status: exit 1 and "stopped" when no agent runs', async () => {
    const {stdout, error} = await run(['agent', 'status', '--json'])
    assert.equal(error?.oclif?.exit, 1)
    const doc = JSON.parse(stdout)
    assert.equal(doc.state, 'stopped')
    assert.equal(doc.running, false)
    assert.equal(doc.server, 'https://support.example.org:8443')
    assert.deepEqual([doc.checkpointKey, doc.witness], [null, null])
  })

  it('status shows the pinned checkpoint key and the witnessed checkpoint, and says when the server changed its key', async () => {
    const center = checkpointSigner(generateCheckpointKeyPem())
    const witness = new Witness(agentFiles(dir), {info: () => undefined, warn: () => undefined})
    await witness.offerKey(center.publicKey)
    const cp = center.sign({seq: 7, hash: 'ab'.repeat(32)})
    await witness.receive(cp)
    const doc = JSON.parse((await run(['agent', 'status', '--json'])).stdout)
    assert.deepEqual(doc.witness, {seq: 7, hash: cp.hash, time: cp.time, keyId: center.publicKey.keyId, receivedAt: doc.witness.receivedAt})
    assert.deepEqual(doc.checkpointKey, {keyId: center.publicKey.keyId, pinnedAt: doc.checkpointKey.pinnedAt, previousKeyId: null})
    const human = (await run(['agent', 'status'])).stdout
    assert.match(human, new RegExp(`checkpoint key +pinned ${center.publicKey.keyId}`))
    assert.match(human, new RegExp(`audit witness +seq 7, hash abababababab…, signed ${cp.time} \\(key ${center.publicKey.keyId}\\)`))
    const other = checkpointSigner(generateCheckpointKeyPem())
    await witness.offerKey(other.publicKey)
    assert.equal(JSON.parse((await run(['agent', 'status', '--json'])).stdout).checkpointKey.previousKeyId, center.publicKey.keyId)
    assert.match((await run(['agent', 'status'])).stdout, new RegExp(`${other.publicKey.keyId} \\(pinned .*; the server changed keys, was ${center.publicKey.keyId}`))
  })

  it('commands on a dir without an enrolled agent say so (exit 2)', async () => {
    const {stderr, error} = await runCommand(['agent', 'access', 'show', '--data-dir', join(dir, 'nothing')])
    assert.equal(error?.oclif?.exit, 2)
    assert.match(stderr, /holds no enrolled agent/)
  })

  it('install-service writes a hardened unit', async () => {
    const out = join(dir, 'tether-agent.service')
    const {stdout, error} = await runCommand(['agent', 'install-service', '--data-dir', '/var/lib/tether-agent', '--output', out, '--json'])
    assert.equal(error, undefined)
    const doc = JSON.parse(stdout)
    const unit = await readFile(out, 'utf8')
    assert.equal(doc.unit, unit)
    for (const line of ['Restart=always', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'ReadWritePaths=/var/lib/tether-agent', 'PrivateTmp=yes', 'User=tether-agent']) {
      assert.ok(unit.includes(`\n${line}\n`), `unit lacks ${line}`)
    }
    assert.match(unit, /ExecStart=\S+node\S* \S+ agent start --data-dir \/var\/lib\/tether-agent/)
    assert.ok(doc.nextSteps.some((s: string) => s.includes('systemctl enable --now tether-agent.service')))
  })
})
