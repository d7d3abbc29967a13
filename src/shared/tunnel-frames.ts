import type {Socket} from 'node:net'
import {Transform, type TransformCallback} from 'node:stream'
import {z} from 'zod'

/**
 * Framing of the server → engineer direction of a tunnel stream, asked for by the CLI with this
 * header on the upgrade and confirmed by the server in its 101 (a client that does not ask gets
 * raw bytes). Why: through a TCP-mode balancer a node killed mid-stream reaches the CLI as a
 * clean FIN, and TLS gives Node no public way to tell a close_notify from a bare FIN. The node
 * that owns the stream ends it with an END frame saying why; a close without one is a lost stream.
 *
 * A frame is a 5-byte header (type, then the payload's length as uint32 big-endian) and the
 * payload: DATA frames carry the device's bytes, one END frame carries {reason, by?, message}
 * as JSON and is the last thing on the connection. engineer → server stays raw.
 */
export const FRAMING_HEADER = 'Tether-Tunnel-Framing'
export const FRAMING_VERSION = '1'

const HEADER_BYTES = 5
const DATA = 0
const END = 1
/** An END frame is a line of text; anything longer is not one of ours. */
const MAX_END_BYTES = 4096

export const EndFrame = z.object({
  /** A CloseReason of the server (src/server/tunnels/live.ts); unknown ones are shown as given. */
  reason: z.string().min(1).max(64),
  /** Who closed it, for closed-by-user. */
  by: z.string().max(256).optional(),
  message: z.string().max(1024),
})
export type EndFrame = z.infer<typeof EndFrame>

function header(type: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES)
  h[0] = type
  h.writeUInt32BE(length, 1)
  return h
}

export function encodeEnd(end: EndFrame): Buffer {
  const body = Buffer.from(JSON.stringify(end))
  return Buffer.concat([header(END, body.length), body])
}

/** How long the engineer's side may take to receive what is queued for it, END frame included. */
const END_DRAIN_MS = 10_000

/**
 * Writes `source`'s bytes to `dest` as DATA frames, with backpressure as pipe() gives it (a slow
 * reader pauses the source). The header and the payload go in one corked write: no copy in
 * JavaScript, and TLS seals them as one record (its writev joins the buffers natively).
 * `end(frame)` writes the END frame once and ends `dest` (destroyed if it does not drain in
 * time); later data is dropped, since nothing may follow an END frame.
 */
export class FrameWriter {
  private ended = false
  private waiting = false

  constructor(
    private readonly source: Socket,
    private readonly dest: Socket,
  ) {
    source.on('data', (chunk: Buffer) => this.data(chunk))
    dest.on('drain', () => {
      if (!this.waiting) return
      this.waiting = false
      if (!this.source.destroyed) this.source.resume()
    })
    // As pipe() does: a source paused explicitly (a leg held while the stream was set up) flows now.
    source.resume()
  }

  get isEnded(): boolean {
    return this.ended
  }

  private data(chunk: Buffer): void {
    if (this.ended || this.dest.destroyed) return
    this.dest.cork()
    this.dest.write(header(DATA, chunk.length))
    const ok = this.dest.write(chunk)
    this.dest.uncork()
    if (!ok) {
      this.waiting = true
      this.source.pause()
    }
  }

  end(frame: EndFrame): void {
    if (this.ended) return
    this.ended = true
    if (this.dest.destroyed || this.dest.writableEnded) return
    const timer = setTimeout(() => this.dest.destroy(), END_DRAIN_MS)
    timer.unref()
    this.dest.once('close', () => clearTimeout(timer))
    this.dest.end(encodeEnd(frame))
  }

  /** The source closed: END frame, then the destination goes once it is delivered (nothing more can flow). */
  endAndClose(frame: EndFrame): void {
    this.end(frame)
    if (this.dest.destroyed) return
    if (this.dest.writableFinished) this.dest.destroy()
    else this.dest.once('finish', () => this.dest.destroy())
  }
}

/** The END frame's absence, or a frame that breaks the format. */
export class FramingError extends Error {}

/**
 * The CLI's side: framed bytes in, the device's bytes out (payload slices, never copied), and
 * the END frame kept in `endFrame`. Ending without one is not an error here: the caller decides
 * (a lost stream, unless it hung up itself).
 */
export class FrameReader extends Transform {
  endFrame: EndFrame | null = null
  private head: Buffer = Buffer.alloc(0)
  /** Bytes of the current frame's payload still to come (a DATA frame's go straight through). */
  private remaining = 0
  private type = -1
  private endBody: Buffer[] = []

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.consume(chunk)
      callback()
    } catch (error) {
      callback(error as Error)
    }
  }

  private consume(chunk: Buffer): void {
    let at = 0
    while (at < chunk.length) {
      if (this.endFrame) throw new FramingError('bytes after the end-of-stream frame')
      if (this.type === -1) {
        const need = HEADER_BYTES - this.head.length
        const take = chunk.subarray(at, at + need)
        this.head = this.head.length === 0 && take.length === HEADER_BYTES ? take : Buffer.concat([this.head, take])
        at += take.length
        if (this.head.length < HEADER_BYTES) return
        this.type = this.head[0]
        this.remaining = this.head.readUInt32BE(1)
        this.head = Buffer.alloc(0)
        if (this.type !== DATA && this.type !== END) throw new FramingError(`unknown frame type ${this.type}`)
        if (this.type === END && this.remaining > MAX_END_BYTES) throw new FramingError(`end-of-stream frame of ${this.remaining} bytes`)
      }
      const piece = chunk.subarray(at, at + this.remaining)
      at += piece.length
      this.remaining -= piece.length
      if (this.type === DATA) {
        if (piece.length > 0) this.push(piece)
      } else {
        this.endBody.push(piece)
      }
      if (this.remaining === 0) {
        if (this.type === END) this.endFrame = parseEnd(Buffer.concat(this.endBody))
        this.type = -1
      }
    }
  }
}

function parseEnd(body: Buffer): EndFrame {
  let value: unknown
  try {
    value = JSON.parse(body.toString('utf8'))
  } catch {
    throw new FramingError('an end-of-stream frame that is not JSON')
  }
  const parsed = EndFrame.safeParse(value)
  if (!parsed.success) throw new FramingError(`an end-of-stream frame without its fields (${parsed.error.issues[0]?.message ?? 'invalid'})`)
  return parsed.data
}
