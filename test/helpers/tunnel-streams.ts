import {type ChildProcess, spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {createServer, type Server, type Socket} from 'node:net'
import {BIN, testEnv} from './cli.js'
import {eventually} from './eventually.js'

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** A TCP service on the "device" side of a tunnel (127.0.0.1, any port). */
export async function target(onConnection: (socket: Socket) => void): Promise<{server: Server; port: number}> {
  const server = createServer({allowHalfOpen: true}, (s) => {
    // A reset from the agent ends a connection; it is not an error of the test.
    s.on('error', () => s.destroy())
    onConnection(s)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {server, port: (server.address() as {port: number}).port}
}

/** Echoes what it reads. */
export const echoTarget = () => target((s) => s.pipe(s))

/** Answers the SHA-256 of the first `size` bytes it reads. */
export const hashSink = (size: number) =>
  target((s) => {
    const hash = createHash('sha256')
    let n = 0
    s.on('data', (d: Buffer) => {
      const take = d.subarray(0, size - n)
      hash.update(take)
      n += take.length
      if (n === size && take.length > 0) s.end(hash.digest('hex'))
    })
  })

/** `tether tunnels connect SERIAL --port PORT`: stdin in, stdout out. */
export function tunnelConnect(env: Record<string, string | undefined>, serial: string, port: number): ChildProcess {
  return spawn(process.execPath, [BIN, 'tunnels', 'connect', serial, '--port', String(port), '--reason', 'INC-3N'], {env: testEnv(env), stdio: ['pipe', 'pipe', 'pipe']})
}

/** Sends `input` through a tunnel, reads until `until` says the answer is complete, says EOF and waits for the command's end. */
export function transfer(child: ChildProcess, input: Buffer, until: (out: Buffer) => boolean): Promise<{code: number | null; out: Buffer; stderr: string}> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let stderr = ''
    let ended = false
    child.stdout!.on('data', (d: Buffer) => {
      chunks.push(d)
      size += d.length
      if (!ended && until(Buffer.concat(chunks, size))) {
        ended = true
        child.stdin!.end()
      }
    })
    child.stderr!.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({code, out: Buffer.concat(chunks), stderr}))
    if (input.length > 0) child.stdin!.write(input)
  })
}

/** A tunnel kept busy (64 KiB every 5 ms towards an echo service) until it ends; resolves once bytes flow. */
export async function liveTunnel(child: ChildProcess): Promise<{ended: Promise<{code: number | null; stderr: string}>; stop: () => void}> {
  let echoed = 0
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => (echoed += d.length))
  child.stderr!.on('data', (d) => (stderr += d))
  child.stdin!.on('error', () => undefined)
  const ended = new Promise<{code: number | null; stderr: string}>((resolve) => child.on('close', (code) => resolve({code, stderr})))
  const chunk = randomBytes(64 * 1024)
  const pump = setInterval(() => child.stdin!.writable && child.stdin!.write(chunk), 5)
  ended.finally(() => clearInterval(pump))
  await eventually(async () => echoed > 1024 * 1024 || child.exitCode !== null, 'tunnel stream live', 60_000, 100)
  return {ended, stop: () => clearInterval(pump)}
}
