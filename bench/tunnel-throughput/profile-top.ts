/**
 * The functions with the most self time in a V8 .cpuprofile, and the share of (garbage
 * collector) and (idle): where a process of the tunnel bench spends its CPU.
 *
 *   node --import tsx bench/tunnel-throughput/profile-top.ts FILE.cpuprofile [N=25]
 */
import {readFile} from 'node:fs/promises'

interface Node {
  id: number
  callFrame: {functionName: string; url: string; lineNumber: number}
}
const [file, count = '25'] = process.argv.slice(2)
const profile = JSON.parse(await readFile(file, 'utf8')) as {nodes: Node[]; samples: number[]; timeDeltas: number[]}
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const self = new Map<string, number>()
let total = 0
profile.samples.forEach((id, i) => {
  const n = byId.get(id)!
  const where = n.callFrame.url ? `${n.callFrame.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${n.callFrame.lineNumber + 1}` : ''
  const key = `${n.callFrame.functionName || '(anonymous)'} ${where}`.trim()
  const dt = profile.timeDeltas[i] ?? 0
  self.set(key, (self.get(key) ?? 0) + dt)
  total += dt
})
const idle = self.get('(idle)') ?? 0
console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled, ${((total - idle) / 1e6).toFixed(1)} s busy`)
for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(count))) {
  console.log(`${((100 * us) / (total - idle)).toFixed(1).padStart(5)}% of busy  ${(us / 1e6).toFixed(2).padStart(6)} s  ${key}`)
}
