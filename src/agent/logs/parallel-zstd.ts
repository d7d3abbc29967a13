import {createRequire} from 'node:module'
import {availableParallelism} from 'node:os'
import {Transform, type TransformCallback} from 'node:stream'
import {pathToFileURL} from 'node:url'
import {Worker} from 'node:worker_threads'

export interface ParallelZstdOptions {
  level: number
  /** Input bytes per zstd frame. */
  blockBytes?: number
  /** Compression threads; default one per core. */
  threads?: number
}

interface Reply {
  seq: number
  frame?: ArrayBuffer
  error?: string
  block: ArrayBuffer
}

/**
 * zstd on every core: the input is cut into blocks, each compressed as its own zstd frame on a
 * worker thread (zstd-worker.ts), and the frames are emitted in order. Concatenated frames are
 * one valid zstd stream (RFC 8878 §3.1: zstd -d, tar --zstd and libarchive read them), the same
 * trick as the gzip members the agent wrote before (tar.gz bundles). zstd-napi's calls are synchronous, and the
 * library is built without zstd's own threads, hence the workers: each owns a compression
 * context, and blocks travel to it and back by transfer, never copied. At level 1 the window
 * is 512 KiB, so 2 MiB blocks lose well under 1% of ratio against one frame.
 */
export class ParallelZstd extends Transform {
  private readonly blockBytes: number
  private readonly level: number
  private readonly workers: Worker[] = []
  /** Frames in input order: each resolves when its worker answered. */
  private readonly inFlight: Array<Promise<Buffer>> = []
  private readonly waiting = new Map<number, {resolve: (b: Buffer) => void; reject: (e: Error) => void}>()
  private readonly spare: ArrayBuffer[] = []
  private block: ArrayBuffer | null = null
  private view: Buffer | null = null
  private filled = 0
  private seq = 0
  private readonly threads: number

  constructor(options: ParallelZstdOptions) {
    super()
    this.blockBytes = options.blockBytes ?? 2 * 1024 * 1024
    // zstd clamps a level out of range silently: a typo in agent.json should not pass unnoticed.
    if (!Number.isInteger(options.level) || options.level < 1 || options.level > 19) throw new RangeError(`zstd level ${options.level} is not an integer from 1 to 19`)
    this.level = options.level
    this.threads = Math.max(1, options.threads ?? availableParallelism())
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let at = 0
    try {
      while (at < chunk.length) {
        if (!this.block) {
          this.block = this.spare.pop() ?? new ArrayBuffer(this.blockBytes)
          this.view = Buffer.from(this.block)
        }
        const take = Math.min(this.blockBytes - this.filled, chunk.length - at)
        // A copy: the producer may reuse the buffers it handed us once _transform returns.
        chunk.copy(this.view!, this.filled, at, at + take)
        this.filled += take
        at += take
        if (this.filled === this.blockBytes) this.dispatch()
      }
    } catch (error) {
      done(error as Error)
      return
    }
    // Backpressure: one block per thread compressing and one queued behind, so a thread never
    // waits while the main thread fills the next block; more would only hold memory.
    this.emitUntil(this.threads).then(() => done(), done)
  }

  override _flush(done: TransformCallback): void {
    // An empty input still yields one (empty) frame: the output is always a valid zstd stream.
    try {
      if (this.filled > 0 || this.seq === 0) this.dispatch()
    } catch (error) {
      done(error as Error)
      return
    }
    this.emitUntil(0).then(
      () => {
        this.stopWorkers()
        done()
      },
      (error: Error) => {
        this.stopWorkers()
        done(error)
      },
    )
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.stopWorkers()
    for (const w of this.waiting.values()) w.reject(error ?? new Error('compression stopped'))
    this.waiting.clear()
    callback(error)
  }

  private dispatch(): void {
    const block = this.block ?? new ArrayBuffer(0)
    const length = this.filled
    this.block = null
    this.view = null
    this.filled = 0
    const seq = this.seq++
    const worker = this.worker(seq % this.threads)
    const frame = new Promise<Buffer>((resolve, reject) => this.waiting.set(seq, {resolve, reject}))
    // Settled by emitUntil in order; this keeps a failure from counting as unhandled meanwhile.
    frame.catch(() => undefined)
    this.inFlight.push(frame)
    worker.postMessage({seq, block, length, level: this.level}, [block])
  }

  private worker(index: number): Worker {
    let w = this.workers[index]
    if (w) return w
    w = startWorker()
    w.unref()
    w.on('message', (reply: Reply) => {
      const waiter = this.waiting.get(reply.seq)
      this.waiting.delete(reply.seq)
      if (reply.block.byteLength === this.blockBytes) this.spare.push(reply.block)
      if (reply.error !== undefined || !reply.frame) waiter?.reject(new Error(`zstd compression failed: ${reply.error ?? 'no output'}`))
      else waiter?.resolve(Buffer.from(reply.frame))
    })
    w.on('error', (error) => this.destroy(error))
    this.workers[index] = w
    return w
  }

  private stopWorkers(): void {
    for (const w of this.workers.splice(0)) void w.terminate()
  }

  private async emitUntil(pending: number): Promise<void> {
    while (this.inFlight.length > pending) {
      const frame = await this.inFlight.shift()!
      if (!this.destroyed) this.push(frame)
    }
  }
}

/**
 * The worker's module next to this one. From source (tests, benches under tsx) the worker
 * first registers tsx's loader itself: Node 20 does not apply `--import` to worker threads.
 */
function startWorker(): Worker {
  const here = import.meta.url
  // The thread only passes ArrayBuffers (outside the V8 heap) to zstd: a small heap is plenty,
  // and the default one cost ~5 MB of RSS per thread on a device that counts its memory.
  const resourceLimits = {maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16}
  if (!here.endsWith('.ts')) return new Worker(new URL('zstd-worker.js', here), {resourceLimits})
  const loader = pathToFileURL(createRequire(here).resolve('tsx/esm/api')).href
  const worker = new URL('zstd-worker.ts', here).href
  return new Worker(`import(${JSON.stringify(loader)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(worker)}) })`, {eval: true, resourceLimits: {...resourceLimits, maxOldGenerationSizeMb: 64}})
}
