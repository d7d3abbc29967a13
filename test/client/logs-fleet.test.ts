import {strict as assert} from 'node:assert'
import {MockAgent} from 'undici'
import {ApiClient} from '../../src/client/api-client.js'
import {fleetExit, fleetFilter} from '../../src/client/fleet-flags.js'
import {JobsApi} from '../../src/client/jobs-api.js'
import {type FleetResult, type FleetRow, mapLimit, selectDevices} from '../../src/client/logs-fleet.js'
import {ExitCode, type TetherError} from '../../src/shared/errors.js'

const ORIGIN = 'https://tether.test:8443'

const device = (serial: string, over: Record<string, unknown> = {}) => ({
  serial, model: 'X200', customer: 'st-mary', site: 'icu', labels: {room: '3'} as Record<string, string>, createdAt: '2026-11-01T00:00:00.000Z', enrolledAt: '2026-11-01T00:00:00.000Z',
  revokedAt: null, online: true, lastSeenAt: null, inventory: null, eventsRefused: 0, ...over,
})

describe('fleet selection and exit codes (client library)', () => {
  let agent: MockAgent
  let api: JobsApi
  beforeEach(() => {
    agent = new MockAgent()
    agent.disableNetConnect()
    api = new JobsApi(new ApiClient({server: ORIGIN, accessToken: 't', dispatcher: agent}))
  })
  afterEach(async () => agent.close())

  it('asks the server for the customer, site and first label, and applies every label, the model, enrolled and not revoked', async () => {
    const devices = [
      device('SN-3'),
      device('SN-1'),
      device('SN-OTHER-ROOM', {labels: {room: '3', wing: 'b'}}),
      device('SN-Y9', {model: 'Y9'}),
      device('SN-NEW', {enrolledAt: null}),
      device('SN-GONE', {revokedAt: '2026-11-02T00:00:00.000Z'}),
    ]
    devices[0].labels = {room: '3', wing: 'a'}
    devices[1].labels = {room: '3', wing: 'a'}
    agent.get(ORIGIN).intercept({path: '/api/v1/devices?customer=st-mary&site=icu&label=room%3D3', method: 'GET'}).reply(200, {devices})
    const picked = await selectDevices(api, {customer: 'st-mary', site: 'icu', labels: ['room=3', 'wing=a'], model: 'X200'})
    assert.deepEqual(picked.map((d) => d.serial), ['SN-1', 'SN-3'])
  })

  it('--customer with a serial, or a label without =, is a usage error; no --customer is one device', () => {
    assert.equal(fleetFilter('SN-1', {}), null)
    assert.throws(() => fleetFilter('SN-1', {customer: 'st-mary'}), (e: TetherError) => e.exitCode === ExitCode.USAGE)
    assert.throws(() => fleetFilter(undefined, {customer: 'st-mary', label: ['room']}), (e: TetherError) => e.exitCode === ExitCode.USAGE && /key=value/.test(e.message))
  })

  it('exit 0 only when every device succeeded; 8 for accepted and still running without --wait; 1 otherwise', () => {
    const row = (serial: string, state: FleetRow['state']): FleetRow => ({serial, state, jobId: 'j', bundleId: null, size: null, file: null, elapsedMs: 1, error: null})
    const result = (...rows: FleetRow[]): FleetResult => ({devices: rows, total: rows.length, succeeded: rows.filter((r) => r.state === 'succeeded').length})
    const exit = (r: FleetResult, waited: boolean) => {
      try {
        fleetExit(r, waited)
        return 0
      } catch (error) {
        return (error as TetherError).exitCode
      }
    }
    assert.equal(exit(result(row('a', 'succeeded'), row('b', 'succeeded')), true), 0)
    assert.equal(exit(result(row('a', 'succeeded'), row('b', 'offline')), true), ExitCode.FAILED)
    assert.equal(exit(result(row('a', 'queued'), row('b', 'offline')), false), ExitCode.PENDING)
    assert.equal(exit(result(row('a', 'queued'), row('b', 'error')), false), ExitCode.FAILED)
    assert.equal(exit(result(), true), ExitCode.FAILED)
  })

  it('mapLimit keeps the order and never runs more than the limit at once', async () => {
    let running = 0
    let peak = 0
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
      peak = Math.max(peak, ++running)
      await new Promise((r) => setTimeout(r, n * 5))
      running--
      return n * 10
    })
    assert.deepEqual(out, [50, 10, 40, 20, 30])
    assert.equal(peak, 2)
  })
})
