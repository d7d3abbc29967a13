import {strict as assert} from 'node:assert'
import {randomUUID} from 'node:crypto'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {agentFiles} from '../../src/agent/data-dir.js'
import {EventRecorder} from '../../src/agent/events.js'
import {Outbox, type OutboxEvent} from '../../src/agent/outbox.js'

/** A server event the registry accepts (device-events.ts); `n` tells them apart. */
const modeChange = (n: number) => ({action: 'device.access-mode.changed', outcome: 'success', actor: `local:user${n}`, details: {from: 'allow', to: 'no-access'}}) as const

const event = (n: number): OutboxEvent => ({eventId: randomUUID(), time: new Date().toISOString(), action: 'test.event', outcome: 'success', details: {n}})

describe('agent Outbox', () => {
  let dir: string
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'tether-outbox-'))))
  afterEach(async () => rm(dir, {recursive: true, force: true}))

  it('keeps events across a restart (a new Outbox on the same file) until they are acked', async () => {
    const path = join(dir, 'outbox.jsonl')
    const a = new Outbox(path)
    const events = [event(1), event(2), event(3)]
    for (const e of events) await a.enqueue(e)
    const b = new Outbox(path)
    assert.deepEqual(await b.pending(), events)
    assert.equal(await b.ack([events[0].eventId, events[2].eventId]), 2)
    assert.deepEqual(await new Outbox(path).pending(), [events[1]])
  })

  it('ids make it idempotent: the same event is queued once, an ack twice removes nothing more', async () => {
    const box = new Outbox(join(dir, 'outbox.jsonl'))
    const e = event(1)
    await box.enqueue(e)
    await box.enqueue(e)
    assert.equal((await box.pending()).length, 1)
    assert.equal(await box.ack([e.eventId]), 1)
    assert.equal(await box.ack([e.eventId]), 0)
  })

  it('is bounded: when full the oldest events are dropped and the count is returned', async () => {
    const box = new Outbox(join(dir, 'outbox.jsonl'), 3)
    const events = [1, 2, 3, 4, 5].map(event)
    const dropped: number[] = []
    for (const e of events) dropped.push((await box.enqueue(e)).dropped)
    assert.deepEqual(dropped, [0, 0, 0, 1, 1])
    assert.deepEqual((await box.pending()).map((e) => e.details.n), [3, 4, 5])
  })

  it('EventRecorder writes the local audit always and the outbox only for server events, with the same eventId', async () => {
    const files = agentFiles(dir)
    const rec = new EventRecorder(files, 2)
    const local = await rec.record({action: 'session.accepted', outcome: 'success', actor: 'server'}, {forServer: false})
    const shared = await rec.record(
      {action: 'device.session.refused', outcome: 'denied', actor: 'server', details: {requestId: 'r1', target: 'tunnel', mode: 'no-access', code: 'REFUSED_BY_DEVICE', reason: 'the device is in no-access mode'}},
      {forServer: true},
    )
    assert.equal(local.eventId, undefined)
    const pending = await rec.outbox.pending()
    assert.equal(pending.length, 1)
    assert.equal(pending[0].eventId, shared.eventId)
    // Overflow is recorded in the local audit.
    await rec.record(modeChange(1), {forServer: true})
    await rec.record(modeChange(2), {forServer: true})
    const actions = (await rec.audit.readAll()).map((e) => e.action)
    assert.ok(actions.includes('agent.outbox.dropped'))
    assert.equal((await rec.audit.verify()).ok, true)
    await rec.ack([pending[0].eventId])
    assert.equal((await rec.outbox.pending()).length, 2)
  })

  it('concurrent writers (agent and CLI) keep the chain linear thanks to the data lock', async () => {
    const files = agentFiles(dir)
    const writers = [new EventRecorder(files), new EventRecorder(files)]
    await Promise.all(Array.from({length: 20}, (_, i) => writers[i % 2].record(i % 3 === 0 ? modeChange(i) : {action: `w${i}`, outcome: 'success', actor: 'x'}, {forServer: i % 3 === 0})))
    const audit = writers[0].audit
    assert.deepEqual(await audit.verify(), {ok: true, entries: 20})
    assert.equal((await writers[0].outbox.pending()).length, 7)
  })
})
