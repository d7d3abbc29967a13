import {parentPort} from 'node:worker_threads'
import zstd from 'zstd-napi/binding.js'

/**
 * One compression thread of ParallelZstd: each message is a block (transferred, not copied),
 * answered with one complete zstd frame and the block itself handed back for reuse. The
 * context and the output buffer live as long as the thread, so a block costs no allocation
 * beyond its frame. The frame carries its content size and a checksum (zstd -d and tar --zstd
 * check it).
 */
interface Job {
  seq: number
  block: ArrayBuffer
  length: number
  level: number
}

const cctx = new zstd.CCtx()
let level = Number.NaN
let out = new Uint8Array(0)

parentPort?.on('message', (job: Job) => {
  try {
    if (job.level !== level) {
      cctx.setParameter(zstd.CParameter.compressionLevel, job.level)
      cctx.setParameter(zstd.CParameter.checksumFlag, 1)
      level = job.level
    }
    const bound = zstd.compressBound(job.length)
    if (out.length < bound) out = new Uint8Array(bound)
    const n = cctx.compress2(out, new Uint8Array(job.block, 0, job.length))
    const frame = out.slice(0, n).buffer
    parentPort!.postMessage({seq: job.seq, frame, block: job.block}, [frame, job.block])
  } catch (error) {
    parentPort!.postMessage({seq: job.seq, error: (error as Error).message, block: job.block}, [job.block])
  }
})
