/**
 * bench/multinode's load balancer: a real haproxy running the configuration shipped in
 * docs/operations.md ("HAProxy"), read from the docs at run time so the bench measures what
 * operators deploy. Only addresses, the CA file, the health-check name and (when the machine's
 * open-file cap is below what `maxconn` needs) maxconn are changed; each change must apply, so a
 * drift of the docs stops the bench instead of silently measuring something else.
 *
 * Two more frontends steer connections to one chosen node (a backend whose other servers are
 * in maintenance, switched through haproxy's runtime API): the device's and the engineer's
 * tunnel legs land where a case wants them, still through haproxy in TCP passthrough.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {readFile, writeFile} from 'node:fs/promises'
import {connect} from 'node:net'
import {join} from 'node:path'
import {ROOT} from '../../test/helpers/cli.js'
import {sleep} from '../agent-fanin/ipc.js'

export const STEERED = ['device', 'engineer'] as const
export type Steered = (typeof STEERED)[number]

export interface BalancerLayout {
  port: number
  steer: Record<Steered, number>
  nodes: Array<{id: string; port: number}>
  caFile: string
  /** Open files haproxy may have (its needs are about 2 per connection). */
  fileLimit: number
}

/** The ```haproxy block of docs/operations.md. */
export async function docsConfig(): Promise<string> {
  const docs = await readFile(join(ROOT, 'docs', 'operations.md'), 'utf8')
  const block = /```haproxy\n([\s\S]*?)```/.exec(docs)
  if (!block) throw new Error('docs/operations.md has no ```haproxy block')
  return block[1]
}

export function benchConfig(docs: string, layout: BalancerLayout, socket: string): {text: string; changes: string[]} {
  const changes: string[] = []
  let text = docs
  const edit = (pattern: RegExp, by: string, why: string): void => {
    if (!pattern.test(text)) throw new Error(`the docs' haproxy config changed: no match for ${pattern} (${why})`)
    text = text.replace(pattern, by)
    changes.push(why)
  }
  const fit = Math.floor((layout.fileLimit - 200) / 2)
  const docsMax = Number(/^\s*maxconn (\d+)/m.exec(text)?.[1] ?? 0)
  if (docsMax > fit) edit(/^(\s*)maxconn \d+/m, `$1maxconn ${fit}`, `maxconn ${docsMax} → ${fit}: haproxy needs ~2 open files per connection and this machine caps a process at ${layout.fileLimit}`)
  edit(/^global\n/m, `global\n  stats socket ${socket} mode 600 level admin\n`, 'a runtime API socket (steering)')
  edit(/^(\s*)bind :443$/m, `$1bind 127.0.0.1:${layout.port}`, 'bind on loopback')
  edit(/\/etc\/haproxy\/tether-ca\.crt/g, layout.caFile, 'CA file of the data dir')
  edit(/support\.example\.org/g, 'localhost', 'the certificate name: localhost')
  const servers = /^\s*server node-\d+ [\d.]+:\d+\n?/gm
  if ((text.match(servers) ?? []).length !== layout.nodes.length) throw new Error(`the docs' haproxy config no longer lists ${layout.nodes.length} servers`)
  let i = 0
  text = text.replace(servers, () => {
    const n = layout.nodes[i++]
    return `  server ${n.id} 127.0.0.1:${n.port}\n`
  })
  changes.push('server addresses on loopback')
  // The data-leg steering lines (use-server per node id) stay as written: they must name the bench's nodes.
  const steering = [...text.matchAll(/^\s*use-server (\S+) if \{ req\.ssl_sni -i (\S+) \}$/gm)]
  const ids = layout.nodes.map((n) => n.id)
  if (steering.length !== ids.length || steering.some((m, k) => m[1] !== ids[k] || m[2] !== `${ids[k]}.tether-node.invalid`)) {
    throw new Error(`the docs' haproxy config no longer steers data legs to nodes ${ids.join(', ')} (use-server lines: ${steering.map((m) => m[0].trim()).join('; ') || 'none'})`)
  }
  for (const name of STEERED) {
    text += [`\nfrontend steer-${name}`, `  bind 127.0.0.1:${layout.steer[name]}`, `  default_backend steer-${name}`, `backend steer-${name}`, ...layout.nodes.map((n, k) => `  server ${n.id} 127.0.0.1:${n.port}${k === 0 ? '' : ' disabled'}`), ''].join('\n')
  }
  return {text, changes}
}

export class Haproxy {
  private output = ''

  private constructor(
    readonly child: ChildProcess,
    private readonly socket: string,
    private readonly nodeIds: string[],
  ) {}

  static async start(dir: string, layout: BalancerLayout): Promise<{haproxy: Haproxy; changes: string[]}> {
    const socket = join(dir, 'haproxy.sock')
    const {text, changes} = benchConfig(await docsConfig(), layout, socket)
    const file = join(dir, 'haproxy.cfg')
    await writeFile(file, text)
    const child = spawn('haproxy', ['-db', '-f', file], {stdio: ['ignore', 'pipe', 'pipe']})
    const haproxy = new Haproxy(child, socket, layout.nodes.map((n) => n.id))
    const keep = (d: Buffer): void => {
      haproxy.output = (haproxy.output + d.toString()).slice(-16_384)
    }
    child.stdout!.on('data', keep)
    child.stderr!.on('data', keep)
    // Up once the runtime API answers and the health checks (/readyz over TLS) passed on every node.
    const deadline = Date.now() + 30_000
    for (;;) {
      if (child.exitCode !== null) throw new Error(`haproxy exited (${child.exitCode}): ${haproxy.output}`)
      const up = await haproxy.statusOf('nodes').catch(() => new Map<string, string>())
      if ([...up.values()].filter((s) => s === 'UP').length === layout.nodes.length) break
      if (Date.now() > deadline) throw new Error(`haproxy: not every node passed its health check in 30 s: ${JSON.stringify([...up])} ${haproxy.output}`)
      await sleep(200)
    }
    return {haproxy, changes}
  }

  /** One runtime API command; resolves with haproxy's answer. */
  command(line: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = connect(this.socket)
      let out = ''
      const timer = setTimeout(() => s.destroy(new Error(`haproxy runtime API: no answer to "${line}"`)), 5000)
      s.on('data', (d) => (out += d))
      s.on('error', reject)
      s.on('close', () => {
        clearTimeout(timer)
        resolve(out)
      })
      s.end(`${line}\n`)
    })
  }

  /** Per server of `backend`: the status column of `show stat`. */
  async statusOf(backend: string): Promise<Map<string, string>> {
    return new Map((await this.stat(backend)).map((r) => [r.svname, r.status]))
  }

  /** Per server of `backend`: sessions since start (`stot`). */
  async sessionsOf(backend: string): Promise<Map<string, number>> {
    return new Map((await this.stat(backend)).map((r) => [r.svname, Number(r.stot)]))
  }

  /** New connections on the steered frontend `name` go to node `index` only. */
  async steer(name: Steered, index: number): Promise<void> {
    await this.command(`enable server steer-${name}/${this.nodeIds[index]}`)
    for (const [k, id] of this.nodeIds.entries()) if (k !== index) await this.command(`disable server steer-${name}/${id}`)
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }

  private async stat(backend: string): Promise<Array<Record<string, string>>> {
    const [header, ...rows] = (await this.command('show stat')).trim().split('\n')
    const names = header.replace(/^# /, '').split(',')
    return rows
      .map((line) => Object.fromEntries(line.split(',').map((v, i) => [names[i], v])))
      .filter((r) => r.pxname === backend && r.svname !== 'BACKEND' && r.svname !== 'FRONTEND')
  }
}
