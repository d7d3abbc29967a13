import type {Socket} from 'node:net'
import type {TLSSocket} from 'node:tls'

/** The server answered the upgrade with an HTTP error; its JSON body's error fields, if any. */
export class UpgradeRefusedError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly layer: string | null,
  ) {
    super(message)
  }
}

const MAX_HEAD_BYTES = 16 * 1024

/**
 * Sends an HTTP/1.1 Upgrade request on an open (TLS) socket and reads the answer. On 101 the
 * socket carries raw bytes from here (bytes that came with the head are put back); anything
 * else rejects with UpgradeRefusedError carrying the server's code and message. Used by the
 * engineer's tunnel leg (src/client) and the agent's data leg (src/agent): one parser for both.
 */
export function upgradeSocket(socket: TLSSocket | Socket, request: {host: string; path: string; protocol: string; headers: Record<string, string>; timeoutMs: number}): Promise<{head: string}> {
  const lines = [`GET ${request.path} HTTP/1.1`, `Host: ${request.host}`, 'Connection: Upgrade', `Upgrade: ${request.protocol}`]
  for (const [name, value] of Object.entries(request.headers)) lines.push(`${name}: ${value}`)
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0)
    const timer = setTimeout(() => done(new UpgradeRefusedError(0, 'TIMEOUT', `no answer from the server within ${request.timeoutMs} ms`, 'network')), request.timeoutMs)
    let head = ''
    const done = (error?: Error, rest?: Buffer): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('error', onError)
      socket.off('end', onEnd)
      if (error) {
        socket.destroy()
        return reject(error)
      }
      // Paused until the caller pipes it: bytes that arrive before that must wait, not be dropped.
      socket.pause()
      if (rest && rest.length > 0) socket.unshift(rest)
      resolve({head})
    }
    const onError = (error: Error): void => done(error)
    const onEnd = (): void => done(refusal(buffered) ?? new UpgradeRefusedError(0, 'CLOSED', 'the server closed the connection without an answer', 'network'))
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk])
      const end = buffered.indexOf('\r\n\r\n')
      if (end === -1) {
        if (buffered.length > MAX_HEAD_BYTES) done(new UpgradeRefusedError(0, 'PROTOCOL', 'the server sent an oversized answer', 'network'))
        return
      }
      if (statusOf(buffered, end) === 101) {
        head = buffered.subarray(0, end).toString('latin1')
        return done(undefined, buffered.subarray(end + 4))
      }
      // An error answer: read its (small, Content-Length bounded) body until the server closes.
      socket.off('data', onData)
      socket.on('data', (more: Buffer) => {
        if (buffered.length < MAX_HEAD_BYTES) buffered = Buffer.concat([buffered, more])
      })
    }
    socket.on('data', onData)
    socket.on('error', onError)
    socket.on('end', onEnd)
    socket.write(`${lines.join('\r\n')}\r\n\r\n`)
  })
}

/** The status code of the HTTP answer whose head ends at `end` (0 when it is not one). */
function statusOf(buffered: Buffer, end: number): number {
  return Number(/^HTTP\/1\.[01] (\d{3})/.exec(buffered.subarray(0, end).toString('latin1'))?.[1] ?? 0)
}

/** The refusal in a buffered HTTP answer (head and body), or null when it is not one. */
function refusal(buffered: Buffer): UpgradeRefusedError | null {
  const end = buffered.indexOf('\r\n\r\n')
  if (end === -1) return null
  const status = statusOf(buffered, end)
  const body = buffered.subarray(end + 4).toString('utf8')
  try {
    const error = (JSON.parse(body) as {error?: {code?: string; message?: string; layer?: string}}).error
    if (error?.message) return new UpgradeRefusedError(status, error.code ?? `HTTP_${status}`, error.message, error.layer ?? null)
  } catch {
    // not JSON: described by the status alone
  }
  return new UpgradeRefusedError(status, `HTTP_${status}`, `the server answered HTTP ${status}${body.trim() ? `: ${body.trim().slice(0, 200)}` : ''}`, null)
}
