import {strict as assert} from 'node:assert'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import nock from 'nock'
import {DeviceAgent} from '../../src/agent/agent.js'
import {agentFiles, writeAgentConfig} from '../../src/agent/data-dir.js'
import {LocalAudit} from '../../src/agent/local-audit.js'
import {statusReport} from '../../src/agent/status-report.js'
import {checkpointSigner, generateCheckpointKeyPem} from '../../src/shared/checkpoint-signature.js'
import {FakeControlServer, type FakeConnection} from './helpers/fake-control-server.js'
import {runScriptedAgent, scriptedConfig} from './helpers/scripted-agent.js'
import {eventually} from './helpers/support-center.js'

const hash = (c: string): string => c.repeat(64)

/** The running agent as a witness of the server's audit chain, over a real mTLS WebSocket. */
describe('DeviceAgent keeps the server audit checkpoint and shows it in hello', function () {
  this.timeout(30_000)
  let dir: string
  let server: FakeControlServer
  let agent: DeviceAgent | undefined
  let running: Promise<void> | undefined
  const center = checkpointSigner(generateCheckpointKeyPem())

  before(() => nock.restore())
  after(() => nock.activate())
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-agent-witness-'))
    server = await FakeControlServer.start()
    server.checkpointKey = center.publicKey
  })
  afterEach(async () => {
    await agent?.stop()
    await running
    agent = undefined
    await server.stop()
    await rm(dir, {recursive: true, force: true})
  })

  async function startAgent(): Promise<void> {
    const config = scriptedConfig(server)
    const files = agentFiles(dir)
    await writeAgentConfig(files, config)
    ;({agent, running} = runScriptedAgent(server, dir, {config}))
    await server.until(() => agent?.state === 'connected', 'agent connected')
  }
  const audit = () => new LocalAudit(agentFiles(dir).audit).readAll()
  const hello = (conn: FakeConnection) => conn.received.find((m) => m.type === 'hello') as {witness?: unknown}
  const connection = async (n: number): Promise<FakeConnection> => {
    await server.until(() => server.connections.length >= n && agent?.state === 'connected' && hello(server.connections[n - 1]) !== undefined, `connection ${n}`)
    return server.connections[n - 1]
  }

  it('pins the key from the welcome, keeps a checkpoint that arrives in the same tick, and presents it after a reconnect', async () => {
    const cp = center.sign({seq: 42, hash: hash('a')})
    // welcome and checkpoint in one write: the agent's ws hands both over in one tick, before the
    // handshake's promise resolves, so the key must be taken from the welcome as it is dispatched.
    server.onHello = (conn) => server.sendTogether(conn, server.welcomeMessage(), {type: 'checkpoint', checkpoint: cp})
    await startAgent()
    const first = await connection(1)
    assert.equal(hello(first).witness, undefined, 'nothing witnessed before the first checkpoint')
    await eventually(async () => (await audit()).some((e) => e.action === 'audit.checkpoint.witnessed'), 'checkpoint witnessed')
    first.ws.terminate()
    const second = await connection(2)
    assert.deepEqual(hello(second).witness, cp)
    const report = await statusReport(dir)
    assert.deepEqual(report.witness, {seq: 42, hash: hash('a'), time: cp.time, keyId: center.publicKey.keyId, receivedAt: report.witness!.receivedAt})
    assert.deepEqual(report.checkpointKey, {keyId: center.publicKey.keyId, pinnedAt: report.checkpointKey!.pinnedAt, previousKeyId: null})
    // The same checkpoint on the new link (the server sends the latest after every welcome) adds nothing.
    assert.equal((await audit()).filter((e) => e.action === 'audit.checkpoint.witnessed').length, 1)
  })

  it('a server with another key: audited and re-pinned, its checkpoints then kept, the link stays up, the status says so', async () => {
    server.onHello = (conn) => {
      server.welcome(conn)
      conn.ws.send(JSON.stringify({type: 'checkpoint', checkpoint: center.sign({seq: 5, hash: hash('b')})}))
    }
    await startAgent()
    const first = await connection(1)
    await eventually(async () => (await audit()).some((e) => e.action === 'audit.checkpoint.witnessed'), 'checkpoint witnessed')
    const rogue = checkpointSigner(generateCheckpointKeyPem())
    server.checkpointKey = rogue.publicKey
    server.onHello = (conn) => {
      server.welcome(conn)
      conn.ws.send(JSON.stringify({type: 'checkpoint', checkpoint: rogue.sign({seq: 900, hash: hash('c')})}))
    }
    first.ws.terminate()
    const second = await connection(2)
    await eventually(async () => (await audit()).some((e) => e.action === 'audit.checkpoint.key-changed'), 'key change audited')
    second.ws.send(JSON.stringify({type: 'request', id: 'p', kind: 'ping'}))
    await server.until(() => second.received.some((m) => m.id === 'p'), 'still answering')
    assert.equal(agent!.state, 'connected')
    assert.equal(server.connections.length, 2)
    const changed = (await audit()).find((e) => e.action === 'audit.checkpoint.key-changed')!
    assert.deepEqual([changed.outcome, changed.details], ['failure', {pinnedKeyId: center.publicKey.keyId, offeredKeyId: rogue.publicKey.keyId}])
    await eventually(async () => (await statusReport(dir)).witness?.seq === 900, 'the checkpoint under the re-pinned key was witnessed')
    const report = await statusReport(dir)
    assert.deepEqual([report.checkpointKey!.keyId, report.checkpointKey!.previousKeyId], [rogue.publicKey.keyId, center.publicKey.keyId])
  })

  it('a checkpoint behind the witnessed one is recorded as a regression; the hello keeps the newer one', async () => {
    const newer = center.sign({seq: 20, hash: hash('d')})
    server.onHello = (conn) => {
      server.welcome(conn)
      conn.ws.send(JSON.stringify({type: 'checkpoint', checkpoint: newer}))
    }
    await startAgent()
    const first = await connection(1)
    await eventually(async () => (await audit()).some((e) => e.action === 'audit.checkpoint.witnessed'), 'checkpoint witnessed')
    first.ws.send(JSON.stringify({type: 'checkpoint', checkpoint: center.sign({seq: 12, hash: hash('e')})}))
    await eventually(async () => (await audit()).some((e) => e.action === 'audit.checkpoint.regressed'), 'regression audited')
    server.onHello = (conn) => server.welcome(conn)
    first.ws.terminate()
    assert.deepEqual(hello(await connection(2)).witness, newer)
  })
})
