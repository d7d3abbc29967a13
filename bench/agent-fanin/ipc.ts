/**
 * Small helpers the agent benches share: asking a forked child over IPC, waiting, and printing
 * durations and sizes. Every wait is bounded.
 */
import type {ChildProcess} from 'node:child_process'

let nextId = 0

/** Sends {type, id} and resolves with the child's message carrying the same id. */
export async function ask(child: ChildProcess, type: string, extra: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<unknown> {
  const id = ++nextId
  child.send({type, id, ...extra})
  return nextMessage(child, (m) => (m as {id?: number}).id === id, timeoutMs)
}

export function nextMessage(child: ChildProcess, match: (m: {type?: string}) => boolean, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error('child did not answer in time')), timeoutMs)
    const onMessage = (m: {type?: string}): void => {
      if (match(m)) done(undefined, m)
    }
    const onExit = (code: number | null): void => done(new Error(`child exited (${code})`))
    const done = (error?: Error, value?: unknown): void => {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
      if (error) reject(error)
      else resolve(value)
    }
    child.on('message', onMessage)
    child.on('exit', onExit)
  })
}

export function sleep(msec: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, msec))
}

export function ms(value: number): string {
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(2)} s`
}

export function mb(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MB`
}

export const log = (text: string): void => console.log(`[${new Date().toISOString().slice(11, 23)}] ${text}`)
