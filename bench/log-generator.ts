import {createWriteStream} from 'node:fs'
import {mkdir} from 'node:fs/promises'
import {join} from 'node:path'

/**
 * Generated device logs for benchmarks. `realistic`: lines as an analyser writes them (ISO time,
 * level, component, one of a few dozen message templates with varying numbers, sample ids and
 * hex ids, now and then a multi-line stack trace), from a seeded generator so every run makes
 * the same bytes. `incompressible`: the same line frame around 96 random bytes in base64, a
 * worst case that gzip -1 only shrinks to ~60%.
 */
export type LogKind = 'realistic' | 'incompressible'

const LEVELS = ['INFO', 'INFO', 'INFO', 'INFO', 'DEBUG', 'DEBUG', 'WARN', 'ERROR'] as const
const COMPONENTS = ['analyzer.pump', 'analyzer.optics', 'sampler', 'reagent.mgr', 'qc', 'lis.bridge', 'net', 'ui.session', 'scheduler', 'thermal'] as const
type Rng = () => number
const TEMPLATES: Array<(r: Rng, n: number) => string> = [
  (r) => `flow=${(r() * 40).toFixed(2)} mL/min pressure=${(95 + r() * 10).toFixed(1)} kPa`,
  (r) => `sample S-${String(Math.floor(r() * 1e6)).padStart(7, '0')} aspirated volume=${(r() * 200).toFixed(1)}uL probe=${1 + Math.floor(r() * 4)}`,
  (r) => `cuvette ${Math.floor(r() * 512)} absorbance ${(r() * 3).toFixed(4)} at ${[340, 405, 505, 546, 570, 660][Math.floor(r() * 6)]}nm`,
  (r) => `reagent lot R${Math.floor(r() * 90000 + 10000)} remaining ${Math.floor(r() * 100)}% onboard ${Math.floor(r() * 28)}d`,
  (r) => `QC level ${1 + Math.floor(r() * 3)} result ${(r() * 10).toFixed(3)} mmol/L within limits (${(r() * 2).toFixed(2)} SD)`,
  (r) => `HL7 ORU^R01 sent msgId=${Math.floor(r() * 0xffffffff).toString(16)} ack=AA in ${Math.floor(r() * 400)} ms`,
  (r) => `connection to lis.example.local:2575 ${r() < 0.9 ? 'ok' : 'timed out, retrying'} (${Math.floor(r() * 30)} queued)`,
  (r) => `user session ${Math.floor(r() * 0xffffff).toString(16)} operator=tech${Math.floor(r() * 40)} action=${['login', 'logout', 'rerun', 'release'][Math.floor(r() * 4)]}`,
  (r) => `temperature incubator=${(36.5 + r()).toFixed(2)}C reagent=${(4 + r() * 3).toFixed(2)}C ambient=${(20 + r() * 6).toFixed(1)}C`,
  (r) => `job ${Math.floor(r() * 1e5)} state ${['queued', 'running', 'done'][Math.floor(r() * 3)]} rack=${Math.floor(r() * 60)} pos=${Math.floor(r() * 10)}`,
  (r) => `motor axis=${'XYZ'[Math.floor(r() * 3)]} move ${Math.floor(r() * 20000)} steps in ${Math.floor(r() * 900)} ms current=${(r() * 2).toFixed(2)}A`,
  (r) => `checksum ${Math.floor(r() * 0xffffffff).toString(16).padStart(8, '0')}${Math.floor(r() * 0xffffffff).toString(16).padStart(8, '0')} verified for block ${Math.floor(r() * 4096)}`,
]
const TRACE = ['    at Analyzer.aspirate (analyzer/pump.js:412:11)', '    at Scheduler.step (scheduler/index.js:88:5)', '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)']

/** Mulberry32: small, fast, seeded. */
function seeded(seed: number): Rng {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function realisticLine(r: Rng, file: number, n: number, ms: number): string {
  const ts = new Date(Date.UTC(2026, 10, 22) + ms).toISOString()
  const level = LEVELS[Math.floor(r() * LEVELS.length)]!
  const line = `${ts} ${level.padEnd(5)} [${COMPONENTS[Math.floor(r() * COMPONENTS.length)]}] dev${file} #${n} ${TEMPLATES[Math.floor(r() * TEMPLATES.length)]!(r, n)}\n`
  return level === 'ERROR' && r() < 0.2 ? `${line}Error: ${['pressure out of range', 'probe crash detected', 'LIS timeout'][Math.floor(r() * 3)]}\n${TRACE.join('\n')}\n` : line
}

function incompressibleLine(r: Rng, file: number, n: number, ms: number): string {
  const bytes = Buffer.allocUnsafe(96)
  for (let i = 0; i < 96; i += 4) bytes.writeUInt32LE(Math.floor(r() * 4294967296), i)
  return `${new Date(Date.UTC(2026, 10, 22) + ms).toISOString()} analyzer[${file}] seq=${n} ${bytes.toString('base64')}\n`
}

/** Writes `totalBytes` (about) of logs as `files` files named device-N.log in `dir`. */
export async function generateLogs(dir: string, totalBytes: number, files: number, kind: LogKind = 'realistic'): Promise<void> {
  await mkdir(dir, {recursive: true})
  const perFile = Math.ceil(totalBytes / files)
  const line = kind === 'realistic' ? realisticLine : incompressibleLine
  for (let f = 0; f < files; f++) {
    const r = seeded(f + 1)
    const out = createWriteStream(join(dir, `device-${f}.log`))
    let size = 0
    let n = 0
    let ms = 0
    while (size < perFile) {
      const lines: string[] = []
      for (let i = 0; i < 512; i++) {
        ms += Math.floor(r() * 50)
        lines.push(line(r, f, n++, ms))
      }
      const chunk = lines.join('')
      size += Buffer.byteLength(chunk)
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()))
    }
    await new Promise<void>((resolve) => out.end(() => resolve()))
  }
}
