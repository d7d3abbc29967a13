import {renderTable} from '../shared/output.js'
import {humanBytes} from './jobs-cli.js'
import type {FleetProgress, FleetResult} from './logs-fleet.js'

/**
 * One status line per device on stderr, redrawn in place (at most every 100 ms) while a fleet
 * command runs; nothing when stderr is not a terminal (cron, scripts), where only the summary
 * table and the exit code speak.
 */
export function terminalFleetProgress(stream: NodeJS.WriteStream = process.stderr): FleetProgress | undefined {
  if (!stream.isTTY) return undefined
  const lines = new Map<string, string>()
  let drawn = 0
  let timer: NodeJS.Timeout | undefined
  const width = () => Math.max(20, (stream.columns || 80) - 1)
  const draw = () => {
    timer = undefined
    const serialWidth = Math.max(...[...lines.keys()].map((s) => s.length))
    let out = drawn > 0 ? `\u001B[${drawn}A` : ''
    for (const [serial, text] of lines) out += `\r\u001B[2K${`${serial.padEnd(serialWidth)}  ${text}`.slice(0, width())}\n`
    drawn = lines.size
    stream.write(out)
  }
  return {
    start(serials) {
      for (const s of serials) lines.set(s, 'waiting')
      draw()
    },
    update(serial, text) {
      lines.set(serial, text)
      timer ??= setTimeout(draw, 100)
    },
    stop() {
      if (timer) clearTimeout(timer)
      draw()
    },
  }
}

export function fleetTable(result: FleetResult): string {
  const table = renderTable(
    ['Device', 'State', 'Size', 'Time', 'Bundle / file', 'Error'],
    result.devices.map((r) => [r.serial, r.state, r.size === null ? '-' : humanBytes(r.size), `${(r.elapsedMs / 1000).toFixed(1)} s`, r.file ?? r.bundleId ?? '-', r.error ?? '']),
    {align: ['left', 'left', 'right', 'right']},
  )
  return `${table}\n${result.succeeded} of ${result.total} devices succeeded.`
}
