import {strict as assert} from 'node:assert'
import {randomUUID} from 'node:crypto'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {KEEP_DECIDED, MAX_PENDING, readAccessFile, writeAccessFile, type StoredAccessRequest} from '../../src/agent/access-file.js'
import {decideAccessRequest, listAccessRequests, receiveAccessRequest, sweepAccessRequests} from '../../src/agent/access-requests.js'
import {agentFiles, type AgentFiles} from '../../src/agent/data-dir.js'
import {EventRecorder} from '../../src/agent/events.js'
import {activeGrant} from '../../src/agent/grants.js'
import {RequestTable, ping} from '../../src/agent/handlers.js'
import {handleAccessRequest} from '../../src/agent/access-requests.js'
import type {HandlerContext} from '../../src/agent/handlers.js'

/** The agent's request table with the access.request entry as the agent registers it. */
const accessTable = (ctx: HandlerContext): RequestTable =>
  new RequestTable({ping, 'tunnel.open': async () => ({ok: false}), 'access.request': (request) => handleAccessRequest(request.params, ctx)})
import {LocalAudit} from '../../src/agent/local-audit.js'
import {checkDeviceEvent, type AccessRequestParams} from '../../src/protocol/agent/index.js'
import {ConflictError, NotFoundError, UsageError} from '../../src/shared/errors.js'

const T0 = Date.parse('2026-11-29T10:00:00Z')
const HOUR = 3_600_000

describe('agent: access requests and grants', () => {
  let dir: string
  let files: AgentFiles
  let recorder: EventRecorder
  const config = {allowedTunnelPorts: [22, 5900]}

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-access-'))
    files = agentFiles(dir)
    recorder = new EventRecorder(files)
  })
  afterEach(async () => rm(dir, {recursive: true, force: true}))

  const params = (extra: Partial<AccessRequestParams> = {}): AccessRequestParams => ({
    requestId: randomUUID(),
    user: 'eng',
    reason: 'INC-4711',
    ports: [5900],
    durationSeconds: 2 * 3600,
    requestedAt: new Date(T0).toISOString(),
    expiresAt: new Date(T0 + HOUR).toISOString(),
    ...extra,
  })
  const approve = (id: string, options: {forMs?: number; now?: number} = {}) => decideAccessRequest(files, recorder, id, 'approved', {actor: 'local:nurse', config, now: T0, ...options})
  const audit = () => new LocalAudit(files.audit).readAll()

  it('stores a delivered request once, however often the server sends it, and answers over the request handler', async () => {
    const p = params()
    const handler = accessTable({files, recorder, now: () => T0})
    const first = await handler.handle({type: 'request', id: 'r1', kind: 'access.request', params: p})
    const again = await handler.handle({type: 'request', id: 'r2', kind: 'access.request', params: p})
    assert.deepEqual([first, again], [{ok: true, result: {state: 'pending'}}, {ok: true, result: {state: 'pending'}}])
    const stored = await listAccessRequests(files, recorder, T0)
    assert.equal(stored.length, 1)
    assert.deepEqual((await audit()).map((e) => [e.action, e.actor, e.details.requestId]), [['access.requested', 'server', p.requestId]])
    assert.deepEqual(await recorder.outbox.pending(), [], 'receiving is local only: the server audited the request itself')
  })

  it('an approval is a grant for that engineer and those ports until it ends; the decision goes to the server', async () => {
    const p = params()
    await receiveAccessRequest(files, recorder, p, T0)
    assert.equal(await activeGrant(files, 'eng', 5900, T0), null, 'pending grants nothing')
    const approved = await approve(p.requestId.slice(0, 6), {forMs: HOUR})
    assert.deepEqual([approved.state, approved.until, approved.decidedBy], ['approved', new Date(T0 + HOUR).toISOString(), 'local:nurse'])
    assert.deepEqual(await activeGrant(files, 'eng', 5900, T0 + 1000), {
      requestId: p.requestId,
      user: 'eng',
      ports: [5900],
      until: new Date(T0 + HOUR).toISOString(),
      reason: 'INC-4711',
      approvedBy: 'local:nurse',
    })
    assert.equal(await activeGrant(files, 'eng', 22, T0 + 1000), null)
    assert.equal(await activeGrant(files, 'other', 5900, T0 + 1000), null)
    assert.equal(await activeGrant(files, 'eng', 5900, T0 + HOUR), null)
    const [event] = await recorder.outbox.pending()
    assert.equal(event.action, 'device.access.decided')
    assert.deepEqual(event.details, {requestId: p.requestId, decision: 'approved', user: 'eng', ports: [5900], until: new Date(T0 + HOUR).toISOString(), actor: 'local:nurse'})
    assert.ok(checkDeviceEvent(event.action, event.details).ok)
  })

  it('without ports asked, an approval grants the ports the device allows; with none allowed it is refused', async () => {
    const p = params({ports: []})
    await receiveAccessRequest(files, recorder, p, T0)
    await assert.rejects(
      decideAccessRequest(files, recorder, p.requestId, 'approved', {actor: 'local:nurse', config: {allowedTunnelPorts: []}, now: T0}),
      (e: Error) => e instanceof UsageError && /names no ports and this device allows none/.test(e.message),
    )
    assert.deepEqual((await approve(p.requestId)).ports, [22, 5900])
  })

  it('guards every decision by state, and refuses a grant longer than asked', async () => {
    const p = params()
    await receiveAccessRequest(files, recorder, p, T0)
    await assert.rejects(approve(p.requestId, {forMs: 3 * HOUR}), (e: Error) => e instanceof UsageError && e.message === '--for: eng asked for 2h; a grant can be shorter, not longer')
    await assert.rejects(decideAccessRequest(files, recorder, p.requestId, 'revoked', {actor: 'local:nurse', config, now: T0}), (e: Error) => e instanceof ConflictError && /still pending/.test(e.message))
    await decideAccessRequest(files, recorder, p.requestId, 'denied', {actor: 'local:nurse', config, now: T0})
    await assert.rejects(approve(p.requestId), (e: Error) => e instanceof ConflictError && /already denied/.test(e.message))
    await assert.rejects(approve('zzz'), NotFoundError)
    assert.deepEqual((await recorder.outbox.pending()).map((e) => e.details.decision), ['denied'], 'refused decisions record nothing')
  })

  it('an id prefix must be unique and at least 4 characters', async () => {
    const a = params({requestId: 'aaaa1111-0000-4000-8000-000000000001'})
    const b = params({requestId: 'aaaa2222-0000-4000-8000-000000000002'})
    await receiveAccessRequest(files, recorder, a, T0)
    await receiveAccessRequest(files, recorder, b, T0)
    await assert.rejects(approve('aaaa'), (e: Error) => e instanceof UsageError && /matches 2 requests/.test(e.message))
    await assert.rejects(approve('aaa'), NotFoundError)
    assert.equal((await approve('AAAA2')).id, b.requestId)
  })

  it('revoking ends the grant at once; expiry (undecided, and of a grant) is found by the sweep and reported', async () => {
    const revoked = params()
    const short = params()
    const undecided = params({expiresAt: new Date(T0 + 1000).toISOString()})
    for (const p of [revoked, short, undecided]) await receiveAccessRequest(files, recorder, p, T0)
    await approve(revoked.requestId)
    await approve(short.requestId, {forMs: 2000})
    await decideAccessRequest(files, recorder, revoked.requestId, 'revoked', {actor: 'local:nurse', config, now: T0 + 500})
    assert.equal((await activeGrant(files, 'eng', 5900, T0 + 600))?.requestId, short.requestId)
    assert.equal(await sweepAccessRequests(files, recorder, T0 + 999), 0)
    assert.equal(await sweepAccessRequests(files, recorder, T0 + 2000), 2)
    assert.equal(await sweepAccessRequests(files, recorder, T0 + 3000), 0, 'expired once')
    const states = Object.fromEntries((await listAccessRequests(files, recorder, T0 + 3000)).map((r) => [r.id, r.state]))
    assert.deepEqual(states, {[revoked.requestId]: 'revoked', [short.requestId]: 'expired', [undecided.requestId]: 'expired'})
    const decisions = (await recorder.outbox.pending()).map((e) => [e.details.requestId, e.details.decision, e.details.actor].join(' '))
    assert.deepEqual(decisions.slice(0, 3), [`${revoked.requestId} approved local:nurse`, `${short.requestId} approved local:nurse`, `${revoked.requestId} revoked local:nurse`])
    assert.deepEqual(decisions.slice(3).sort(), [`${undecided.requestId} expired agent`, `${short.requestId} expired agent`].sort())
    assert.equal(await activeGrant(files, 'eng', 5900, T0 + 1000), null)
  })

  it('a damaged file grants nothing, is reported by the commands and never overwritten', async () => {
    const p = params()
    await receiveAccessRequest(files, recorder, p, T0)
    await approve(p.requestId)
    await writeFile(files.accessRequests, '{"version":1,"requests":[{"id":')
    assert.equal(await activeGrant(files, 'eng', 5900, T0 + 1000), null)
    await assert.rejects(listAccessRequests(files, recorder, T0), (e: Error) => e instanceof UsageError && e.message.startsWith(`${files.accessRequests} is damaged: not JSON`))
    await assert.rejects(receiveAccessRequest(files, recorder, params(), T0), /is damaged/)
    const answer = await accessTable({files, recorder, now: () => T0}).handle({type: 'request', id: 'r9', kind: 'access.request', params: params()})
    assert.deepEqual([answer.ok, answer.error?.code], [false, 'REFUSED_BY_DEVICE'])
    assert.match(answer.error?.message ?? '', /access-requests\.json is damaged \(not JSON/)
    assert.equal(await readFile(files.accessRequests, 'utf8'), '{"version":1,"requests":[{"id":')
  })

  it('is bounded: undecided requests beyond MAX_PENDING are refused, decided ones beyond KEEP_DECIDED are dropped oldest first', async () => {
    const at = (i: number) => new Date(T0 + i * 1000).toISOString()
    const entry = (i: number, state: StoredAccessRequest['state']): StoredAccessRequest => ({
      ...params(),
      id: randomUUID(),
      ports: [22],
      receivedAt: at(i),
      expiresAt: new Date(T0 + 100 * HOUR).toISOString(),
      state,
      decidedAt: state === 'pending' ? null : at(i),
      decidedBy: state === 'pending' ? null : 'local:nurse',
      until: null,
    })
    const decided = Array.from({length: KEEP_DECIDED + 10}, (_, i) => entry(i, 'denied'))
    await writeAccessFile(files.accessRequests, [...decided, ...Array.from({length: MAX_PENDING}, (_, i) => entry(1000 + i, 'pending'))], T0)
    const read = await readAccessFile(files.accessRequests)
    assert.ok(read.ok)
    assert.equal(read.requests.filter((r) => r.state === 'pending').length, MAX_PENDING)
    const kept = read.requests.filter((r) => r.state === 'denied').map((r) => r.id)
    assert.deepEqual(kept, decided.slice(10).reverse().map((r) => r.id))
    await assert.rejects(receiveAccessRequest(files, recorder, params(), T0), new RegExp(`already holds ${MAX_PENDING} undecided access requests`))
  })
})
