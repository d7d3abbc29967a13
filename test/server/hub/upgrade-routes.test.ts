import {strict as assert} from 'node:assert'
import {createServer, request, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import pino from 'pino'
import {AgentConnection, IllegalConnectionTransition} from '../../../src/server/hub/connection.js'
import {UpgradeRouter} from '../../../src/server/hub/upgrade-routes.js'

/** Sends an upgrade request; resolves with the status and body, or 101 and the params echoed. */
function upgrade(port: number, path: string): Promise<{status: number; body: string}> {
  return new Promise((resolve, reject) => {
    const req = request({host: '127.0.0.1', port, path, headers: {connection: 'upgrade', upgrade: 'test'}})
    req.on('upgrade', (res, socket, head: Buffer) => {
      let body = head.toString()
      socket.on('data', (d: Buffer) => (body += d.toString()))
      socket.on('end', () => resolve({status: res.statusCode ?? 0, body}))
    })
    req.on('response', (res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d.toString()))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body}))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('upgrade routing table', () => {
  let server: Server
  let router: UpgradeRouter
  let port: number

  before(async () => {
    router = new UpgradeRouter(pino({level: 'silent'}))
    const answer = (text: string) => (_req: unknown, socket: import('node:stream').Duplex) => {
      socket.end(`HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: test\r\n\r\n${text}`)
    }
    router.add('control', '/api/v1/agent/connect', answer('control'))
    router.add('data', '/api/v1/agent/tunnels/:streamId', (req, socket, head, params) => answer(`data ${params.streamId}`)(req, socket))
    router.add('broken', '/broken', () => {
      throw new Error('boom')
    })
    server = createServer()
    router.attach(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  })
  after(() => server.close())

  it('dispatches exact paths and :params to their handler', async () => {
    assert.deepEqual(await upgrade(port, '/api/v1/agent/connect'), {status: 101, body: 'control'})
    assert.deepEqual(await upgrade(port, '/api/v1/agent/tunnels/s%201?x=1'), {status: 101, body: 'data s 1'})
  })

  it('answers 404 naming the path for unknown paths, empty params and malformed escapes', async () => {
    for (const path of ['/nope', '/api/v1/agent/tunnels/', '/api/v1/agent/tunnels/%E0%A4%A', '/api/v1/agent/connect/extra']) {
      const answer = await upgrade(port, path)
      assert.equal(answer.status, 404, path)
      assert.match(answer.body, /no upgrade endpoint at/)
    }
  })

  it('a handler that throws gives 500 without internals, and a path registered twice is refused', async () => {
    const answer = await upgrade(port, '/broken')
    assert.equal(answer.status, 500)
    assert.doesNotMatch(answer.body, /boom/)
    assert.throws(() => router.add('again', '/api/v1/agent/connect', () => undefined), /registered twice/)
  })

  it('refuses every upgrade with 503 once closing', async () => {
    router.close()
    const answer = await upgrade(port, '/api/v1/agent/connect')
    assert.equal(answer.status, 503)
    assert.match(answer.body, /SHUTTING_DOWN/)
  })
})

describe('agent connection states (server side)', () => {
  const fakeWs = {readyState: 3, OPEN: 1} as unknown as import('ws').WebSocket

  it('goes awaiting-hello → ready → closing → closed and refuses illegal moves', () => {
    const c = new AgentConnection(fakeWs, 'SN-1', 'c1', Date.now())
    assert.equal(c.state, 'awaiting-hello')
    assert.equal(c.ready, false)
    c.becomeReady(1)
    assert.equal(c.ready, true)
    assert.equal(c.protocolVersion, 1)
    assert.throws(() => c.becomeReady(1), IllegalConnectionTransition)
    assert.equal(c.beginClose(), true)
    assert.equal(c.beginClose(), false, 'a second close does nothing')
    assert.equal(c.ready, false)
    c.markClosed('test')
    assert.equal(c.state, 'closed')
    assert.throws(() => c.becomeReady(1), /closed → ready/)
  })

  it('fails requests in flight when it closes, and refuses new ones', async () => {
    const c = new AgentConnection(fakeWs, 'SN-2', 'c1', Date.now())
    c.markClosed('gone')
    await assert.rejects(c.request({type: 'request', id: 'r1', kind: 'ping'}, 1000), /not connected/)
  })
})
