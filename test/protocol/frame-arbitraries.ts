import fc from 'fast-check'
import type {ZodType} from 'zod'
import {DEVICE_EVENT_ACTIONS, DEVICE_EVENTS} from '../../src/protocol/agent/device-events.js'
import {AgentToServer, ServerToAgent} from '../../src/protocol/agent/messages.js'
import {RAW_NUMBERS, hostileJsonText, hostileValue, withRawNumber} from '../helpers/hostile.js'
import {fromSchema} from '../helpers/zod-arbitrary.js'

/**
 * Control-channel frames for the fuzz suites (frames.fuzz.test.ts, test/server/fuzz/hub.fuzz.test.ts):
 * near-valid messages of every type in the registry (messages.ts, read through its zod schemas
 * so a new message type is fuzzed without being listed), events of the device-event registry
 * with mostly valid details, arbitrary JSON, non-JSON text and binary.
 */
export interface FrameContext {
  /** Strings worth using where a field wants one: the connection's serial, ids of real jobs. */
  known?: readonly string[]
}

const optionsOf = (union: ZodType): ZodType[] => (union as unknown as {options: ZodType[]}).options

/** A message of one of the agent's types, each field valid or (sometimes) hostile. */
export function agentMessage(ctx: FrameContext = {}): fc.Arbitrary<unknown> {
  return fc.oneof(...optionsOf(AgentToServer).map((o) => fromSchema(o, {known: ctx.known, hostility: 12})))
}

export function serverMessage(ctx: FrameContext = {}): fc.Arbitrary<unknown> {
  return fc.oneof(...optionsOf(ServerToAgent).map((o) => fromSchema(o, {known: ctx.known, hostility: 12})))
}

/**
 * An `event` whose action is in the registry and whose details follow that action's schema
 * (sometimes with a hostile field): EventMessage's own schema only says "a record", so without
 * this nearly every fuzzed event would be refused before the interesting part.
 */
export function registryEvent(ctx: FrameContext = {}): fc.Arbitrary<unknown> {
  return fc.constantFrom(...DEVICE_EVENT_ACTIONS).chain((action) =>
    fc.record({
      type: fc.constant('event'),
      eventId: fc.uuid(),
      time: fc.date({noInvalidDate: true}).map((d) => d.toISOString()),
      action: fc.constant(action),
      outcome: fc.constantFrom('success', 'failure', 'denied'),
      details: fromSchema(DEVICE_EVENTS[action], {known: ctx.known, hostility: 10}),
    }),
  )
}

/** What a peer might put on the wire: mostly near-valid messages, the rest anything at all. */
export function frame(ctx: FrameContext = {}, options: {binary?: boolean} = {}): fc.Arbitrary<string | Buffer> {
  const text: Array<fc.WeightedArbitrary<string | Buffer>> = [
    {weight: 10, arbitrary: agentMessage(ctx).map((m) => JSON.stringify(m))},
    {weight: 4, arbitrary: registryEvent(ctx).map((m) => JSON.stringify(m))},
    // Near-valid, with a number no double holds (1e400 is Infinity once parsed).
    {weight: 2, arbitrary: fc.tuple(agentMessage(ctx), fc.constantFrom(...RAW_NUMBERS)).map(([m, token]) => withRawNumber(JSON.stringify(m), token))},
    {weight: 1, arbitrary: serverMessage(ctx).map((m) => JSON.stringify(m))},
    {weight: 2, arbitrary: hostileValue.map((v) => JSON.stringify(v))},
    {weight: 2, arbitrary: hostileJsonText},
    {weight: 1, arbitrary: fc.jsonValue({maxDepth: 4}).map((v) => JSON.stringify(v))},
  ]
  if (options.binary ?? true) text.push({weight: 1, arbitrary: fc.uint8Array({maxLength: 64}).map((b) => Buffer.from(b))})
  return fc.oneof(...text)
}
