import {createServer, type Server} from 'node:https'
import type {AddressInfo} from 'node:net'
import type {TLSSocket} from 'node:tls'
import {WebSocketServer, type WebSocket} from 'ws'
import {testCa, type TestCa, type TestCert} from '../../checks/fixtures/certs.js'
import {MAX_FRAME_BYTES} from '../../../src/protocol/agent/index.js'
import type {CheckpointPublicKey} from '../../../src/protocol/audit-checkpoint.js'

export interface FakeConnection {
  ws: WebSocket
  /** Frames received from the agent, parsed. */
  received: Array<Record<string, unknown>>
  clientCertCn: string | null
}

/**
 * A scriptable control-channel server on a real HTTPS listener (127.0.0.1:0) with its own CA,
 * for agent unit tests: it can refuse the upgrade with a status, answer hello, send raw frames.
 */
export class FakeControlServer {
  readonly connections: FakeConnection[] = []
  /** Set to refuse the next upgrades with this HTTP status. */
  refuseWith: number | null = null
  /** Called when the agent's hello arrives; default answers welcome. */
  onHello: (conn: FakeConnection, hello: Record<string, unknown>) => void = (conn) => this.welcome(conn)
  heartbeatTimeoutMs = 60_000
  /** Sent in every welcome as `checkpointKey` when set (the server's audit checkpoint key). */
  checkpointKey: CheckpointPublicKey | undefined
  upgrades = 0
  /** Plain HTTPS requests on the same mTLS origin (e.g. the update routes); default 404. */
  onRequest: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void = (_req, res) => res.writeHead(404).end()
  private waiters: Array<() => void> = []

  private constructor(
    readonly ca: TestCa,
    readonly deviceCert: TestCert,
    private readonly server: Server,
    private readonly wss: WebSocketServer,
  ) {}

  static async start(options: {serverCert?: TestCert; ca?: TestCa} = {}): Promise<FakeControlServer> {
    const ca = options.ca ?? (await testCa('fake-center'))
    const serverCert = options.serverCert ?? (await ca.sign({cn: '127.0.0.1', ips: ['127.0.0.1']}))
    const deviceCert = await ca.sign({cn: 'SN-FAKE'})
    const server = createServer({key: serverCert.key, cert: serverCert.cert, ca: ca.cert, requestCert: true, rejectUnauthorized: false})
    const wss = new WebSocketServer({noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false})
    const fake = new FakeControlServer(ca, deviceCert, server, wss)
    server.on('request', (req, res) => fake.onRequest(req, res))
    server.on('upgrade', (req, socket, head) => {
      fake.upgrades++
      if (fake.refuseWith) {
        const body = JSON.stringify({error: {code: 'REVOKED', message: 'device revoked'}})
        socket.end(`HTTP/1.1 ${fake.refuseWith} Refused\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`)
        fake.wake()
        return
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        const peer = (socket as TLSSocket).getPeerCertificate()
        const conn: FakeConnection = {ws, received: [], clientCertCn: peer?.subject?.CN ? String(peer.subject.CN) : null}
        fake.connections.push(conn)
        ws.on('message', (data) => {
          const msg = JSON.parse(String(data)) as Record<string, unknown>
          conn.received.push(msg)
          if (msg.type === 'hello') fake.onHello(conn, msg)
          fake.wake()
        })
        ws.on('close', () => fake.wake())
        ws.on('error', () => fake.wake())
        fake.wake()
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return fake
  }

  get url(): URL {
    return new URL(`https://127.0.0.1:${(this.server.address() as AddressInfo).port}`)
  }

  welcome(conn: FakeConnection): void {
    conn.ws.send(JSON.stringify(this.welcomeMessage()))
  }

  /**
   * Sends messages in one write (one TLS record), so the agent's ws parses them in the same tick
   * and no promise continuation can run between them (ws emits synchronously by default).
   */
  sendTogether(conn: FakeConnection, ...messages: object[]): void {
    // ws has no public cork; its socket is the TLS socket the frames go out on.
    const socket = (conn.ws as unknown as {_socket: import('node:net').Socket})._socket
    socket.cork()
    for (const m of messages) conn.ws.send(JSON.stringify(m))
    process.nextTick(() => socket.uncork())
  }

  welcomeMessage(): object {
    return {type: 'welcome', protocolVersion: 1, serverTime: new Date().toISOString(), heartbeatIntervalMs: 25_000, heartbeatTimeoutMs: this.heartbeatTimeoutMs, ...(this.checkpointKey ? {checkpointKey: this.checkpointKey} : {})}
  }

  /** Resolves when pred() holds (checked after every event), or rejects after timeoutMs. */
  async until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`fake server: timed out waiting for ${what}`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50)
        this.waiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
  }

  async stop(): Promise<void> {
    for (const c of this.connections) c.ws.terminate()
    this.wss.close()
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w()
  }
}
