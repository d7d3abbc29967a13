import type {z} from 'zod'
import {describeBadInput, findBadInput, storableText} from '../../shared/input-check.js'
import {
  AgentToServer,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSIONS,
  ProtocolErrorCodes,
  ServerToAgent,
  type ErrorMessage,
} from './messages.js'

/** The message types each side may send, read off the unions themselves (a new message cannot be left out). */
const typesOf = (union: typeof AgentToServer | typeof ServerToAgent): Set<string> => new Set([...(union._zod.propValues.type ?? [])].map(String))
const AGENT_TYPES = typesOf(AgentToServer)
const SERVER_TYPES = typesOf(ServerToAgent)

/**
 * The outcome of decoding one frame: the message, or the `error` to send back. A frame that
 * was an `event` with a usable eventId also carries it: the receiver acknowledges it with
 * `refused`, because an event that is never acknowledged is resent forever.
 */
export type Decoded<T> = {ok: true; message: T} | {ok: false; error: ErrorMessage; eventId?: string}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Decodes a frame sent by an agent. Never throws: malformed JSON, a missing or unknown `type`,
 * and a known type with invalid fields each come back as an `error` message to reply with.
 */
export function decodeAgentMessage(data: string | Buffer): Decoded<AgentToServer> {
  return decode(data, AGENT_TYPES, AgentToServer)
}

/** Decodes a frame sent by the server; same rules as decodeAgentMessage. */
export function decodeServerMessage(data: string | Buffer): Decoded<ServerToAgent> {
  return decode(data, SERVER_TYPES, ServerToAgent)
}

/** Serialises a message; the schemas keep every message far below MAX_FRAME_BYTES. */
export function encodeMessage(message: AgentToServer | ServerToAgent): string {
  return JSON.stringify(message)
}

/** The highest version both sides speak, or null when there is none. */
export function negotiateVersion(offered: readonly number[], supported: readonly number[] = PROTOCOL_VERSIONS): number | null {
  let best: number | null = null
  for (const v of offered) if (supported.includes(v) && (best === null || v > best)) best = v
  return best
}

function decode<T>(data: string | Buffer, types: Set<string>, schema: z.ZodType<T>): Decoded<T> {
  const text = typeof data === 'string' ? data : data.toString('utf8')
  if (Buffer.byteLength(text) > MAX_FRAME_BYTES) return fail(ProtocolErrorCodes.malformed, `frame larger than ${MAX_FRAME_BYTES} bytes`)
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    return fail(ProtocolErrorCodes.malformed, `not JSON: ${(error as Error).message}`.slice(0, 200))
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail(ProtocolErrorCodes.malformed, 'a message is a JSON object')
  const obj = raw as Record<string, unknown>
  const refId = typeof obj.id === 'string' && storableText(obj.id) === obj.id ? obj.id.slice(0, 128) : undefined
  if (typeof obj.type !== 'string') return fail(ProtocolErrorCodes.malformed, 'missing "type"', refId)
  if (!types.has(obj.type)) return fail(ProtocolErrorCodes.unknownType, `unknown message type "${obj.type.slice(0, 64)}"`, refId)
  const eventId = obj.type === 'event' && typeof obj.eventId === 'string' && UUID.test(obj.eventId) ? obj.eventId : undefined
  // Text the server would store differently than it hashed it, or absurd nesting: refused by name.
  const bad = findBadInput(obj)
  if (bad) return {...fail(ProtocolErrorCodes.invalid, `invalid "${obj.type}" message: ${describeBadInput(bad, '').message}`.slice(0, 1000), refId), ...(eventId ? {eventId} : {})}
  const parsed = schema.safeParse(obj)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue?.path.join('.') || '(message)'
    return {...fail(ProtocolErrorCodes.invalid, `invalid "${obj.type}" message: ${where}: ${issue?.message ?? 'invalid'}`.slice(0, 1000), refId), ...(eventId ? {eventId} : {})}
  }
  return {ok: true, message: parsed.data}
}

/**
 * The error to send back. Its text quotes the frame (JSON.parse's message, a type, a key), and
 * cutting it to length can split a surrogate pair: it is made storable text here, in one place,
 * because the peer decodes an `error` like any message and refuses a lone surrogate or NUL.
 */
function fail(code: string, message: string, refId?: string): {ok: false; error: ErrorMessage} {
  const error: ErrorMessage = {type: 'error', code, message: storableText(message.slice(0, 1024))}
  if (refId !== undefined) error.refId = storableText(refId)
  return {ok: false, error}
}
