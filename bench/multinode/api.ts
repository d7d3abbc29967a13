/**
 * bench/multinode's engineer: a user with TOTP already enrolled (written to the database before
 * the nodes start, which seal the secret at start), logged in through a node's API once, and an
 * API token made with that session for everything after. Calls go to one node's port directly
 * (not through the balancer) over a kept-alive connection per node: a job is requested on the
 * node the case names, and the handshake is not what is measured.
 */
import {Secret, TOTP} from 'otpauth'
import {Agent, request} from 'undici'
import {openDatabase} from '../../src/server/db/connect.js'
import {insertUser, prepareUser} from '../../src/server/users/service.js'

export const BENCH_USER = 'bench'

/** Inserts the bench's admin with a known TOTP secret; returns the secret (base32). */
export async function insertBenchUser(databaseUrl: string, password: string): Promise<string> {
  const secret = new Secret({size: 20}).base32
  const opened = await openDatabase(databaseUrl)
  try {
    const user = await insertUser(opened.db, await prepareUser({username: BENCH_USER, role: 'admin', password}))
    await opened.db.updateTable('users').set({mfa_secret: secret, mfa_enabled: 1}).where('id', '=', user.id).execute()
  } finally {
    await opened.close()
  }
  return secret
}

export class Api {
  private token = ''
  private readonly agents = new Map<number, Agent>()

  constructor(private readonly ca: string) {}

  /** Password + TOTP on `port`, then an API token (30 days) for the rest of the run. */
  async login(port: number, password: string, totpSecret: string): Promise<string> {
    const totp = new TOTP({issuer: 'Tether', label: BENCH_USER, algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(totpSecret)})
    const login = await this.call(port, 'POST', '/auth/login', {username: BENCH_USER, password, totp: totp.generate()}, 200)
    this.token = login.accessToken as string
    const created = await this.call(port, 'POST', '/tokens', {name: 'bench-multinode'}, 201)
    this.token = created.token as string
    return this.token
  }

  /** One API call on node `port`; a status other than `expect` throws with the body. */
  async call(port: number, method: 'GET' | 'POST', path: string, body?: unknown, expect = 200): Promise<Record<string, unknown>> {
    let agent = this.agents.get(port)
    if (!agent) {
      agent = new Agent({connect: {ca: this.ca, servername: 'localhost'}, keepAliveTimeout: 60_000, connections: 4})
      this.agents.set(port, agent)
    }
    const res = await request(`https://127.0.0.1:${port}/api/v1${path}`, {
      method,
      dispatcher: agent,
      headers: {...(this.token ? {authorization: `Bearer ${this.token}`} : {}), ...(body === undefined ? {} : {'content-type': 'application/json'})},
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    })
    const text = await res.body.text()
    if (res.statusCode !== expect) throw new Error(`${method} ${path} on port ${port}: ${res.statusCode} ${text.slice(0, 300)}`)
    return text ? (JSON.parse(text) as Record<string, unknown>) : {}
  }

  async close(): Promise<void> {
    for (const a of this.agents.values()) await a.close()
  }
}
