import {Writable} from 'node:stream'
import {paint} from '../shared/output.js'

const LEVELS: Record<number, string> = {10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL'}
// pino's own fields, shown in the line's head or not at all.
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'reqId'])

/**
 * pino's JSON lines made readable for a person at a terminal: "21:04:05 INFO  msg key=value".
 * Only used when stdout is a TTY; anything that reads stdout otherwise gets the JSON lines.
 */
export function prettyLogStream(out: NodeJS.WriteStream = process.stdout): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim()) out.write(`${prettyLine(line, out)}\n`)
      }
      done()
    },
  })
}

export function prettyLine(line: string, out: NodeJS.WriteStream = process.stdout): string {
  let entry: Record<string, unknown>
  try {
    entry = JSON.parse(line) as Record<string, unknown>
  } catch {
    return line // not pino's JSON: shown as it came
  }
  const time = typeof entry.time === 'number' ? new Date(entry.time).toTimeString().slice(0, 8) : ''
  const level = LEVELS[Number(entry.level)] ?? String(entry.level)
  const style = Number(entry.level) >= 50 ? 'red' : Number(entry.level) >= 40 ? 'yellow' : 'dim'
  const rest = Object.entries(entry)
    .filter(([key]) => !HIDDEN.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
  return [paint('dim', time, out), paint(style, level.padEnd(5), out), String(entry.msg ?? ''), ...rest].join(' ').trim()
}
