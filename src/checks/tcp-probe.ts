import {connect, type Socket} from 'node:net'
import {ADAPTIVE_ATTEMPTS, type RttTracker} from './scheduler.js'

export type TcpStatus = 'open' | 'closed' | 'filtered' | 'unreachable' | 'error' | 'blocked' | 'skipped'

/** The TCP column. `ms` is the connect (or refusal) time of the answering attempt. */
export interface TcpResult {
  status: TcpStatus
  ms: number | null
  /** How long an unanswered probe waited in total before it was called filtered. */
  waitedMs?: number
  attempts?: number
  error?: string
}

export interface TcpProbeOptions {
  tracker: RttTracker
  /** Hand the connected socket to the caller (for TLS) instead of closing it. */
  keepSocket?: boolean
}

const round = (ms: number): number => Math.round(ms * 10) / 10

/**
 * One TCP connect to address:port, classified as open (SYN-ACK), closed (RST), unreachable
 * (ICMP host/net unreachable) or filtered (no answer by the adaptive deadline).
 */
export function probeTcp(address: string, port: number, options: TcpProbeOptions): Promise<{result: TcpResult; socket?: Socket}> {
  const {tracker} = options
  return new Promise((resolve) => {
    const start = performance.now()
    const hardEnd = start + tracker.timeoutMs
    const sockets: Socket[] = []
    let attemptStart = start
    let attempts = 0
    let settled = false
    let timer: NodeJS.Timeout | undefined

    const finish = (result: TcpResult, keep?: Socket): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      unsubscribe()
      for (const s of sockets) if (s !== keep) s.destroy()
      resolve({result: {...result, attempts}, ...(keep ? {socket: keep} : {})})
    }

    const schedule = (): void => {
      if (settled) return
      clearTimeout(timer)
      const end = Math.min(hardEnd, attemptStart + tracker.waitFor(address))
      timer = setTimeout(onDeadline, Math.max(0, end - performance.now()))
    }

    const onDeadline = (): void => {
      const now = performance.now()
      if (attempts < ADAPTIVE_ATTEMPTS && now < hardEnd - 1) launch()
      else finish({status: 'filtered', ms: null, waitedMs: Math.round(now - start)})
    }

    const launch = (): void => {
      attempts++
      const began = performance.now()
      attemptStart = began
      const socket = connect({host: address, port, autoSelectFamily: false})
      sockets.push(socket)
      socket.once('connect', () => {
        const ms = performance.now() - began
        tracker.record(address, ms)
        if (options.keepSocket) finish({status: 'open', ms: round(ms)}, socket)
        else finish({status: 'open', ms: round(ms)})
      })
      socket.on('error', (error: NodeJS.ErrnoException) => {
        if (settled) return
        const ms = performance.now() - began
        switch (error.code) {
          case 'ECONNREFUSED':
            tracker.record(address, ms)
            return finish({status: 'closed', ms: round(ms)})
          case 'EHOSTUNREACH':
          case 'ENETUNREACH':
            tracker.record(address, ms)
            return finish({status: 'unreachable', ms: round(ms), error: error.code})
          case 'ETIMEDOUT':
            return finish({status: 'filtered', ms: null, waitedMs: Math.round(ms), error: error.code})
          default:
            return finish({status: 'error', ms: round(ms), error: error.code ?? error.message})
        }
      })
      schedule()
    }

    const unsubscribe = tracker.subscribe(schedule)
    launch()
  })
}
