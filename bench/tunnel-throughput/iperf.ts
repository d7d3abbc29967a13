import {type ChildProcess, spawn} from 'node:child_process'

/** An iperf3 server on loopback: the device's service. Serves one test after another. */
export async function startIperfServer(port: number): Promise<ChildProcess> {
  // --forceflush: its "Server listening" line reaches a pipe at once.
  const child = spawn('iperf3', ['-s', '-B', '127.0.0.1', '-p', String(port), '--forceflush'], {stdio: ['ignore', 'pipe', 'pipe']})
  await new Promise<void>((resolve, reject) => {
    let seen = ''
    const timer = setTimeout(() => {
      child.kill()
      reject(new Error(`iperf3 -s did not start: ${seen}`))
    }, 10_000)
    child.stdout!.on('data', (d: Buffer) => {
      seen += d
      if (/Server listening/.test(seen)) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code) => reject(new Error(`iperf3 -s exited (${code}): ${seen}`)))
  })
  child.stdout!.resume()
  child.stderr!.resume()
  return child
}

export interface IperfResult {
  gbps: number
  bytes: number
  retransmits: number
}

/**
 * One iperf3 client run to 127.0.0.1:port (-t seconds, -P streams, -R for server → client),
 * killed if it outlives the test by 30 s. Figures are the receiver's.
 */
export function runIperf(port: number, opts: {seconds: number; parallel: number; reverse: boolean}): Promise<IperfResult> {
  const args = ['-c', '127.0.0.1', '-p', String(port), '-t', String(opts.seconds), '-P', String(opts.parallel), '-J', ...(opts.reverse ? ['-R'] : [])]
  return new Promise((resolve, reject) => {
    const child = spawn('iperf3', args, {stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), (opts.seconds + 30) * 1000)
    child.on('close', (code) => {
      clearTimeout(timer)
      try {
        const doc = JSON.parse(out) as {error?: string; end?: {sum_received?: {bits_per_second: number; bytes: number}; sum_sent?: {retransmits?: number}}}
        if (doc.error || !doc.end?.sum_received) throw new Error(doc.error ?? 'no summary')
        resolve({gbps: doc.end.sum_received.bits_per_second / 1e9, bytes: doc.end.sum_received.bytes, retransmits: doc.end.sum_sent?.retransmits ?? 0})
      } catch (error) {
        reject(new Error(`iperf3 ${args.join(' ')} (exit ${code}): ${(error as Error).message} ${err.slice(0, 300)}`))
      }
    })
  })
}
