import {strict as assert} from 'node:assert'
import {ManualClock} from '../../src/agent/clock.js'
import {ConnectionStateMachine, IllegalTransitionError, type StateChange} from '../../src/agent/connection-state.js'

describe('agent ConnectionStateMachine', () => {
  it('walks initial → connecting → connected → waiting → connecting → closed, stamping each change with the injected clock', () => {
    const clock = new ManualClock()
    const m = new ConnectionStateMachine(clock)
    const seen: StateChange[] = []
    m.onChange((c) => seen.push(c))
    m.transition('connecting')
    clock.advance(150)
    m.transition('connected')
    clock.advance(60_000)
    m.transition('waiting', 'retry in 800ms')
    clock.advance(800)
    m.transition('connecting')
    m.transition('closed', 'stopping')
    assert.deepEqual(seen.map((c) => `${c.from}>${c.to}`), ['initial>connecting', 'connecting>connected', 'connected>waiting', 'waiting>connecting', 'connecting>closed'])
    assert.equal(seen[1].at - seen[0].at, 150)
    assert.equal(seen[2].reason, 'retry in 800ms')
    assert.equal(m.enteredAt, clock.now())
  })

  it('refuses illegal transitions and stays where it was', () => {
    const m = new ConnectionStateMachine(new ManualClock())
    assert.throws(() => m.transition('connected'), IllegalTransitionError)
    assert.equal(m.state, 'initial')
    m.transition('connecting')
    assert.throws(() => m.transition('connecting'), IllegalTransitionError)
    m.transition('revoked')
    assert.throws(() => m.transition('connected'), IllegalTransitionError)
    m.transition('connecting')
    m.transition('closed')
    for (const to of ['initial', 'connecting', 'connected', 'waiting', 'revoked', 'closed'] as const) assert.equal(m.can(to), false)
  })
})

describe('ManualClock', () => {
  it('fires due timers in order and only when advanced', () => {
    const clock = new ManualClock()
    const fired: string[] = []
    clock.setTimeout(() => fired.push('b'), 200)
    clock.setTimeout(() => fired.push('a'), 100)
    const c = clock.setTimeout(() => fired.push('c'), 150)
    clock.clearTimeout(c)
    clock.advance(99)
    assert.deepEqual(fired, [])
    clock.advance(200)
    assert.deepEqual(fired, ['a', 'b'])
  })
})
