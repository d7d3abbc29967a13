import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {readFile, writeFile} from 'node:fs/promises'
import {connect} from 'node:net'
import {join} from 'node:path'
import {ROOT} from './cli.js'

export function haveHaproxy(): boolean {
  try {
    execFileSync('haproxy', ['-v'], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
}

/** The documented example hosts, in order: node-1 is 10.0.0.11:8443 and so on. */
const DOC_NODE = (i: number): string => `10.0.0.1${i}:8443`

export interface HaproxyTarget {
  /** The balancer's port on 127.0.0.1. */
  port: number
  /** The nodes' ports on 127.0.0.1, node-1 first. */
  nodes: number[]
  caFile: string
}

/**
 * The HAProxy configuration of docs/operations.md ("### HAProxy"), taken from the page itself so
 * that the tests run what operators copy. Only what differs per installation is substituted:
 * the bind address, the nodes' addresses and the CA file path (the `use-server` lines that steer
 * data legs name node ids, node-1… here as in the docs, and stay as written); and `maxconn`, which the docs size
 * for a production host (60,000 needs ~120,000 file descriptors: more than a test process gets).
 * A substitution that no longer finds its text throws: the docs changed, the test must follow.
 */
export async function haproxyConfigFromDocs(target: HaproxyTarget): Promise<string> {
  const page = await readFile(join(ROOT, 'docs', 'operations.md'), 'utf8')
  const section = page.slice(page.indexOf('### HAProxy'))
  const block = /```haproxy\n([\s\S]*?)```/.exec(section)?.[1]
  if (!block) throw new Error('docs/operations.md: no ```haproxy block under "### HAProxy"')
  let cfg = block
  const replace = (from: string | RegExp, to: string): void => {
    const next = cfg.replace(from, to)
    if (next === cfg) throw new Error(`docs/operations.md haproxy block: ${String(from)} not found`)
    cfg = next
  }
  replace(/^(\s*)bind :443$/m, `$1bind 127.0.0.1:${target.port}`)
  replace(/^(\s*)maxconn \d+$/m, '$1maxconn 4000')
  replace('/etc/haproxy/tether-ca.crt', target.caFile)
  const servers = [...cfg.matchAll(/^\s*server (\S+) (\S+)$/gm)]
  if (servers.length !== target.nodes.length) throw new Error(`docs/operations.md haproxy block: ${servers.length} server lines, the test runs ${target.nodes.length} nodes`)
  target.nodes.forEach((port, i) => replace(` node-${i + 1} ${DOC_NODE(i + 1)}`, ` node-${i + 1} 127.0.0.1:${port}`))
  // The data-leg steering lines name the servers by node id: the test's nodes are node-1…node-N too.
  const steering = [...cfg.matchAll(/^\s*use-server (\S+) if \{ req\.ssl_sni -i (\S+) \}$/gm)].map((m) => `${m[1]} ${m[2]}`)
  const expected = target.nodes.map((_, i) => `node-${i + 1} node-${i + 1}.tether-node.invalid`)
  if (steering.join('\n') !== expected.join('\n')) throw new Error(`docs/operations.md haproxy block: use-server lines ${JSON.stringify(steering)}, the test expects ${JSON.stringify(expected)}`)
  return cfg
}

export interface ServerStats {
  /** UP, DOWN, or a transition (`UP 1/2`). */
  status: string
  /** Connections open now. */
  current: number
  /** Connections since start. */
  total: number
}

/** A real haproxy (master-worker, in the foreground) with its master CLI on a unix socket, for the stats. */
export class Haproxy {
  private constructor(
    readonly child: ChildProcess,
    private readonly socket: string,
    private output: {text: string},
  ) {}

  static async start(dir: string, cfg: string): Promise<Haproxy> {
    const file = join(dir, 'haproxy.cfg')
    await writeFile(file, cfg)
    const socket = join(dir, 'haproxy-master.sock')
    const child = spawn('haproxy', ['-W', '-db', '-f', file, '-S', socket], {stdio: ['ignore', 'pipe', 'pipe']})
    const output = {text: ''}
    child.stdout!.on('data', (d) => (output.text += d))
    child.stderr!.on('data', (d) => (output.text += d))
    return new Haproxy(child, socket, output)
  }

  get log(): string {
    return this.output.text
  }

  /** `show stat` of the worker, per server of backend `nodes`. */
  async stats(): Promise<Record<string, ServerStats>> {
    const text = await new Promise<string>((resolve, reject) => {
      const s = connect(this.socket)
      let data = ''
      const timer = setTimeout(() => s.destroy(new Error(`haproxy master CLI did not answer; so far: ${data}`)), 5000)
      s.on('data', (d) => {
        data += d
        // The answer ends with an empty line; the master CLI keeps the connection open.
        if (data.endsWith('\n\n')) s.end()
      })
      s.on('close', () => (clearTimeout(timer), resolve(data)))
      s.on('error', reject)
      s.write('@1 show stat\n')
    })
    const [header, ...rows] = text.trim().split('\n')
    const cols = header.replace(/^# /, '').split(',')
    const at = (row: string[], name: string): string => row[cols.indexOf(name)]
    const out: Record<string, ServerStats> = {}
    for (const row of rows.map((r) => r.split(','))) {
      if (at(row, 'pxname') !== 'nodes' || ['BACKEND', 'FRONTEND'].includes(at(row, 'svname'))) continue
      out[at(row, 'svname')] = {status: at(row, 'status'), current: Number(at(row, 'scur')), total: Number(at(row, 'stot'))}
    }
    return out
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
}
