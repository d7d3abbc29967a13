import type {TunnelView} from '../protocol/api/tunnels.js'
import {renderTable} from '../shared/output.js'
import type {TableView} from '../shared/table.js'
import {humanBytes} from './jobs-cli.js'
import {openApi} from './session.js'
import {TunnelDialer, type OpenedStream, type StreamRequest} from './tunnel-dial.js'
import {deliver} from './tunnel-end.js'
import {parseListen, TunnelListener, type ListenerStats} from './tunnel-listener.js'

/** One stream with the active session (`tunnels connect`). */
export async function openStream(request: StreamRequest): Promise<OpenedStream> {
  const {api, session} = await openApi()
  try {
    return await new TunnelDialer(api.client, session.trust).open(request)
  } finally {
    await api.client.close()
  }
}

/**
 * stdin → stream → stdout, with half-close passed through: EOF on stdin ends our sending side
 * only, and the command ends when the device's side has ended too (ssh's `cat > f` works).
 * How it ended decides the exit (tunnel-end.ts): the server's END frame with a reason other than
 * `finished` rejects naming it; a stream that ends without one (the server node carrying it was
 * killed: a reset, or a FIN through a TCP balancer) rejects with TUNNEL_LOST. Our own hang-up
 * (SIGHUP, SIGTERM, SIGINT, stdout closed) is a normal end.
 */
export async function pipeStdio(stream: Pick<OpenedStream, 'socket' | 'framed'>): Promise<void> {
  const {socket} = stream
  let hungUp = false
  // OpenSSH ends its ProxyCommand with SIGHUP when the session is over: say EOF to the server
  // (the stream then ends as finished, not as a vanished engineer), then go.
  const hangUp = (): void => {
    hungUp = true
    socket.end()
    setTimeout(() => socket.destroy(), 1000).unref()
  }
  for (const signal of ['SIGHUP', 'SIGTERM', 'SIGINT'] as const) process.once(signal, hangUp)
  // ssh closing our stdout (EPIPE) is the same goodbye, not a crash.
  process.stdout.on('error', hangUp)
  process.stdin.pipe(socket)
  socket.once('close', () => {
    process.stdin.unpipe(socket)
    process.stdin.destroy()
  })
  const outcome = await deliver(socket, stream.framed, process.stdout, () => hungUp, false)
  if (!outcome.ok) throw outcome.error
}

/** `tunnels open`: serves until SIGINT/SIGTERM, with a live line on a terminal. */
export async function serveUntilSignal(request: StreamRequest, listenText: string | undefined, say: (line: string) => void): Promise<{listen: string; device: string; target: string; stats: ListenerStats}> {
  const address = parseListen(listenText)
  const {api, session} = await openApi()
  const live = process.stderr.isTTY === true
  let failuresSaid = 0
  const line = (): void => {
    const s = listener.stats
    if (!live) {
      // No terminal (a script, a service): each failed stream gets a line of its own instead.
      if (s.failed > failuresSaid && s.lastError) say(`stream failed (${s.failed} of ${s.total}): ${s.lastError}`)
      failuresSaid = s.failed
      return
    }
    process.stderr.write(`\r\x1b[2K${s.active} active, ${s.total} total${s.failed ? `, ${s.failed} failed` : ''} · ↑ ${humanBytes(s.bytesToDevice)} ↓ ${humanBytes(s.bytesFromDevice)}${s.lastError ? ` · last error: ${s.lastError}` : ''}`)
  }
  const listener: TunnelListener = new TunnelListener(new TunnelDialer(api.client, session.trust), request, () => line())
  try {
    const bound = await listener.listen(address)
    const listen = bound.host.includes(':') ? `[${bound.host}]:${bound.port}` : `${bound.host}:${bound.port}`
    const target = `${request.host ?? 'device'}:${request.port}`
    say(`Forwarding ${listen} → ${request.serial} ${target}. Ctrl-C to stop.`)
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
    if (live) process.stderr.write('\n')
    await listener.close()
    const s = listener.stats
    say(`Stopped: ${s.total} stream(s), ${s.failed} failed · ↑ ${humanBytes(s.bytesToDevice)} ↓ ${humanBytes(s.bytesFromDevice)}`)
    return {listen, device: request.serial, target, stats: listener.stats}
  } finally {
    await api.client.close()
  }
}

export function tunnelsTable(tunnels: TunnelView[], view: TableView = {}): string {
  return renderTable(
    ['ID', 'USER', 'DEVICE', 'TARGET', 'REASON', 'SINCE', 'TO DEVICE', 'FROM DEVICE', 'NODE'],
    tunnels.map((t) => [t.id, t.user, t.device, t.target, t.reason ?? '', t.since, humanBytes(t.bytesToDevice), humanBytes(t.bytesFromDevice), t.node]),
    view,
  )
}
