import type {Socket} from 'node:net'
import {type EndFrame, FrameWriter} from './tunnel-frames.js'

/**
 * Bytes each way and the last time any moved (idle timeout, `tunnels list`). `toDevice` counts
 * what flows from the engineer's side towards the device's side, wherever the splice runs.
 */
export interface StreamCounters {
  toDevice: number
  fromDevice: number
  lastActivity: number
}

export type SpliceEnd = 'finished' | 'engineer-gone' | 'device-gone'

/**
 * The engineer's leg asked for framing (tunnel-frames.ts): device → engineer goes as DATA frames,
 * and the END frame `endFrame` describes is written when the device's side ends, however it ends.
 */
export interface SpliceFraming {
  endFrame: (end: SpliceEnd) => EndFrame
}

/**
 * Joins two connections byte for byte: on the server the engineer's leg and the device's data
 * leg; on the agent the data leg (the engineer's side) and the target. pipe() gives backpressure
 * end to end (a slow reader pauses the other side; nothing buffers without bound), and ends
 * the other side's writable half when one side ends, so a half-close (ssh's EOF on stdin)
 * passes through while the other direction keeps flowing. An error or abrupt close of either
 * side destroys both. Returns a function that cuts the stream at once. With `framing`, the
 * engineer's side is told how the stream ended (END frame), then ended, never just destroyed.
 */
export function splice(engineer: Socket, device: Socket, counters: StreamCounters, onEnd: (end: SpliceEnd) => void, framing?: SpliceFraming): (reason?: Error) => void {
  for (const socket of [engineer, device]) {
    socket.allowHalfOpen = true
    socket.setNoDelay(true)
  }
  let ended = false
  const finish = (end: SpliceEnd): void => {
    if (ended) return
    ended = true
    onEnd(end)
  }
  engineer.on('data', (chunk: Buffer) => {
    counters.toDevice += chunk.length
    counters.lastActivity = Date.now()
  })
  device.on('data', (chunk: Buffer) => {
    counters.fromDevice += chunk.length
    counters.lastActivity = Date.now()
  })
  engineer.pipe(device)
  const framer = framing ? new FrameWriter(device, engineer) : null
  if (framer) device.once('end', () => framer.end(framing!.endFrame('finished')))
  else device.pipe(engineer)
  // Errors are expected (a peer resets); 'close' follows and ends the stream.
  engineer.on('error', () => undefined)
  device.on('error', () => undefined)
  // A side that said EOF before it closed ended the stream normally (ssh exits once the remote
  // command is done, often before our last bytes drain); one that vanished without EOF is gone.
  engineer.on('close', () => {
    closeAfter(engineer, device)
    finish(engineer.readableEnded ? 'finished' : 'engineer-gone')
  })
  device.on('close', () => {
    const end: SpliceEnd = device.readableEnded ? 'finished' : 'device-gone'
    // The END frame ends the engineer's side gracefully (bounded drain in FrameWriter).
    if (framer) framer.endAndClose(framing!.endFrame(end))
    else closeAfter(device, engineer)
    finish(end)
  })
  return (reason?: Error) => {
    // Framed: the device's side goes, and its close writes the END frame to the engineer.
    if (!framer) engineer.destroy(reason)
    device.destroy(reason)
  }
}

/** How long the side left over may take to deliver what is still buffered for it. */
const DRAIN_TIMEOUT_MS = 10_000

/**
 * The other side of a connection that closed. After a clean end (EOF, then close) the bytes
 * still queued for the other side are delivered before it closes: destroying it at once drops
 * them, and the last bytes of a transfer go missing whenever the reader is slower (a relay hop,
 * a slow link). After a vanished side, the other goes at once.
 */
export function closeAfter(closed: Socket, other: Socket): void {
  if (other.destroyed) return
  if (!closed.readableEnded || other.writableFinished) {
    other.destroy()
    return
  }
  const timer = setTimeout(() => other.destroy(), DRAIN_TIMEOUT_MS)
  timer.unref()
  other.once('finish', () => other.destroy())
  other.once('close', () => clearTimeout(timer))
  other.end()
}
