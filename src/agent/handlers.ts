import type {RequestMessage} from '../protocol/agent/index.js'
import {ProtocolErrorCodes} from '../protocol/agent/index.js'
import type {AgentFiles} from './data-dir.js'
import type {EventRecorder} from './events.js'
import type {RequestHandler, ResponseBody} from './session.js'

/** What a request handler may use: the data dir, the recorder (both audits), the clock. */
export interface HandlerContext {
  files: AgentFiles
  recorder: EventRecorder
  now: () => number
}

/** Answers one request kind; registered in the agent's table. */
export type KindHandler<K extends RequestMessage['kind']> = (request: Extract<RequestMessage, {kind: K}>) => Promise<ResponseBody>

export type RequestHandlers = {[K in RequestMessage['kind']]: KindHandler<K>}

/**
 * What the agent does for a request: one handler per kind (frp's message table in spirit), so
 * a feature registers its entry and nothing here branches on a kind. Policy is not here: the
 * handlers that reach into the device (tunnel.open) ask the customer's policy first, in their
 * own module (tunnels/decide.ts).
 */
export class RequestTable implements RequestHandler {
  constructor(private readonly handlers: RequestHandlers) {}

  async handle(request: RequestMessage): Promise<ResponseBody> {
    const handler = (this.handlers as Record<string, KindHandler<RequestMessage['kind']> | undefined>)[request.kind]
    if (!handler) return {ok: false, error: {code: ProtocolErrorCodes.unknownKind, message: `unknown request kind "${request.kind}"`}}
    return handler(request as never)
  }
}

/** Answered by every agent: the fan-in benchmark's broadcast and liveness checks. */
export const ping: KindHandler<'ping'> = async () => ({ok: true, result: {pong: true}})
