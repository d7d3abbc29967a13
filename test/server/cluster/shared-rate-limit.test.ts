import {strict as assert} from 'node:assert'
import type {FastifyInstance} from 'fastify'
import {buildApp} from '../../../src/server/app.js'
import {openDatabase} from '../../../src/server/db/connect.js'
import {ENROLL_PER_MINUTE} from '../../../src/server/routes/agent.js'
import {buildTestApp, call, type TestApp} from '../helpers/app.js'

const LIMIT = 6
const WINDOW_MS = 60_000

/** Counters use clock-aligned minutes: start well inside one so the whole test counts in it. */
async function awayFromWindowEdge(): Promise<void> {
  const left = WINDOW_MS - (Date.now() % WINDOW_MS)
  if (left < 5000) await new Promise((resolve) => setTimeout(resolve, left + 100))
}

describe('rate limit shared by two nodes on one PostgreSQL', function () {
  this.timeout(60_000)
  let t: TestApp
  let other: FastifyInstance

  before(async () => {
    t = await buildTestApp('postgres', {config: (c) => (c.limits.rateLimitPerMinute = LIMIT)})
    const opened = await openDatabase(t.database.url)
    other = await buildApp({config: {...t.config, cluster: {nodeId: 'node-b', peerAddress: null}}, database: opened, fastify: {logger: false}})
    await other.ready()
  })

  after(async () => {
    await other?.close()
    await t?.close()
  })

  it('refuses the request past the limit counted over both nodes', async () => {
    await awayFromWindowEdge()
    const ip = '127.0.0.77'
    const statuses: number[] = []
    // Alternating nodes: each sees only half the requests, so per-node counting would never refuse.
    for (let i = 0; i < LIMIT + 1; i++) statuses.push((await call(i % 2 === 0 ? t.app : other, 'GET', '/no-such-route', {ip})).statusCode)
    assert.deepEqual(statuses, [...Array.from({length: LIMIT}, () => 404), 429])
    // Another address has its own budget, on either node.
    assert.equal((await call(other, 'GET', '/no-such-route', {ip: '127.0.0.78'})).statusCode, 404)
  })

  it('counts a route with its own limit (enrollment) apart from the global budget, over both nodes', async () => {
    await awayFromWindowEdge()
    const ip = '127.0.0.79'
    // Global requests from this address first: they must not eat the enrollment budget (they did).
    for (let i = 0; i < LIMIT - 1; i++) assert.equal((await call(t.app, 'GET', '/no-such-route', {ip})).statusCode, 404)
    const enroll = (i: number) => call(i % 2 === 0 ? t.app : other, 'POST', '/agent/enroll', {ip, body: {token: 'x'.repeat(40), serial: 'SN-RL', csr: 'nope'}})
    const statuses: number[] = []
    for (let i = 0; i < ENROLL_PER_MINUTE + 1; i++) statuses.push((await enroll(i)).statusCode)
    assert.ok(statuses.slice(0, ENROLL_PER_MINUTE).every((s) => s !== 429), `enrollment limited early: ${statuses.join(',')}`)
    assert.equal(statuses.at(-1), 429, 'the enrollment limit is counted over both nodes')
    // And the global budget still has its last request left.
    assert.equal((await call(other, 'GET', '/no-such-route', {ip})).statusCode, 404)
  })
})
