import {strict as assert} from 'node:assert'
import fc from 'fast-check'
import {type Decoded, decodeAgentMessage, decodeServerMessage, encodeMessage} from '../../src/protocol/agent/codec.js'
import {AgentToServer, ErrorMessage, ServerToAgent} from '../../src/protocol/agent/messages.js'
import {findBadInput} from '../../src/shared/input-check.js'
import {fuzzParameters} from '../helpers/hostile.js'
import {frame} from './frame-arbitraries.js'

/**
 * Issue #9, the codec alone: whatever arrives (near-valid messages with hostile fields, any
 * JSON, text that is not JSON, bytes that are not UTF-8), decoding never throws and yields
 * either a message of the registry, which re-encodes to JSON that decodes to itself, or the
 * `error` to send back, which is itself a valid message for the peer: codes from the protocol,
 * well-formed text without NUL (the peer's decoder refuses anything else) and within the
 * schema's bounds. Cheap, so it runs a few thousand frames.
 */

/** Frames that once broke a property; replayed first on every run (fast-check `examples`). */
const REGRESSIONS: Array<[string | Buffer]> = [
  // Found with seed -470911739 (path "30:1:0:0:0:1"): JSON.parse's message quoted the lone surrogate back.
  ['\ud800'],
  // The same with NUL, raw and escaped (an unknown type is quoted), and a key naming the field.
  ['\u0000'],
  ['{"type":"x\\u0000","id":"q"}'],
  ['{"type":"event","eventId":"0b6f3a43-2f55-4c7c-9a3f-0c3c3b7a0c11","\\ud800":1,"n\\u0000":2}'],
  // refId cut to 128 code units in the middle of a surrogate pair.
  [`{"type":"teleport","id":"${'a'.repeat(127)}\u{1F600}"}`],
]

const DECODE_ERRORS = new Set(['MALFORMED', 'UNKNOWN_TYPE', 'INVALID_MESSAGE'])
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

type Schema = typeof AgentToServer | typeof ServerToAgent

/** The property for one direction: decode with `decode`; the answer goes back through `peer`. */
function checkDecoded<T>(decoded: Decoded<T>, schema: Schema, decode: (data: string) => Decoded<T>, peer: (data: string) => Decoded<unknown>): void {
  if (decoded.ok) {
    assert.ok(schema.safeParse(decoded.message).success, 'a decoded message fits its schema')
    assert.equal(findBadInput(decoded.message), null, 'a decoded message holds only well-formed text')
    const text = encodeMessage(decoded.message as AgentToServer)
    const again = decode(text)
    assert.ok(again.ok, `the re-encoded message decodes: ${text.slice(0, 300)}`)
    assert.equal(encodeMessage(again.message as AgentToServer), text, 'encoding is a fixed point')
    return
  }
  const {error, eventId} = decoded
  assert.equal(error.type, 'error')
  assert.ok(DECODE_ERRORS.has(error.code), `code ${error.code}`)
  assert.ok(ErrorMessage.safeParse(error).success, `the error fits ErrorMessage: ${JSON.stringify(error).slice(0, 300)}`)
  assert.deepEqual(findBadInput(error), null, `the error is well-formed text without NUL: ${JSON.stringify(error).slice(0, 300)}`)
  const sent = peer(encodeMessage(error))
  assert.ok(sent.ok, `the peer can decode the error: ${JSON.stringify(sent).slice(0, 300)}`)
  if (eventId !== undefined) assert.match(eventId, UUID)
}

function checkFrame(data: string | Buffer): void {
  checkDecoded(decodeAgentMessage(data), AgentToServer, decodeAgentMessage, decodeServerMessage)
  checkDecoded(decodeServerMessage(data), ServerToAgent, decodeServerMessage, decodeAgentMessage)
}

describe('agent protocol codec, fuzzed', function () {
  this.timeout(60_000)

  it('decodes any frame into a registry message or a well-formed error, never throwing', () => {
    fc.assert(fc.property(frame({known: ['SN-1']}), checkFrame), fuzzParameters(3000, 8000, REGRESSIONS))
  })

  it('an event frame with a UUID that fails to decode names its eventId for the refused ack', () => {
    const property = fc.property(fc.uuid(), frame(), (eventId, data) => {
      const text = typeof data === 'string' ? data : data.toString('utf8')
      // The same junk, wrapped in an event that names an id: never lost without an answer.
      const wrapped = `{"type":"event","eventId":${JSON.stringify(eventId)},"details":{"junk":${/^[[{"\d-]/.test(text) ? text : JSON.stringify(text)}}}`
      const decoded = decodeAgentMessage(wrapped)
      checkDecoded(decoded, AgentToServer, decodeAgentMessage, decodeServerMessage)
      if (!decoded.ok && decoded.error.code === 'INVALID_MESSAGE') assert.equal(decoded.eventId, eventId)
    })
    fc.assert(property, fuzzParameters(1000, 4000))
  })
})
