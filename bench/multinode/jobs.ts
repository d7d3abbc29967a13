/**
 * Job dispatch latency across nodes: a diagnostic job requested through node X's API for a
 * simulated agent that node Y holds (presence says which), timed from just before the POST
 * until the agent has the `job` message (reported by the agent process with its arrival time:
 * one machine, one clock), and until the job reads `succeeded` through node X's API again (the
 * agent answers at once). Cross-node (X ≠ Y: the job travels by NOTIFY to Y) and same-node
 * (X = Y: pushed by the node that stored it) alternate, so a change in load hits both.
 */
import type {AgentFleet} from '../agent-fanin/fleet.js'
import {sleep} from '../agent-fanin/ipc.js'
import type {Api} from './api.js'

export interface DispatchSamples {
  /** POST → the agent has the job (ms). */
  received: number[]
  /** POST → `succeeded` visible on the requesting node (ms; polled every 5 ms). */
  done: number[]
}

export interface DispatchPlan {
  /** Node ids with their API ports, in order. */
  nodes: Array<{id: string; port: number}>
  /** Serials each node holds (live leases). */
  holders: Map<string, string[]>
  /** Samples per case (cross and same), after a few untimed ones. */
  count: number
  limitMs: number
}

const now = (): number => performance.timeOrigin + performance.now()

export async function measureDispatch(api: Api, fleet: AgentFleet, plan: DispatchPlan): Promise<{cross: DispatchSamples; same: DispatchSamples; lost: number}> {
  const waiting = new Map<string, (at: number) => void>()
  fleet.onMessage((m) => {
    if (m.type === 'job') waiting.get(m.serial as string)?.(m.at as number)
  })
  const unused = new Map([...plan.holders].map(([node, serials]) => [node, [...serials]]))
  const result = {cross: {received: [], done: []} as DispatchSamples, same: {received: [], done: []} as DispatchSamples, lost: 0}
  const warmup = 2 * plan.nodes.length
  const deadline = Date.now() + plan.limitMs
  for (let i = 0; i < warmup + 2 * plan.count && Date.now() < deadline; i++) {
    const cross = i % 2 === 0
    const holder = plan.nodes[Math.floor(i / 2) % plan.nodes.length]
    // Cross: each of the other nodes in turn asks for the holder's device.
    const others = plan.nodes.filter((n) => n.id !== holder.id)
    const requester = cross ? others[Math.floor(i / (2 * plan.nodes.length)) % others.length] : holder
    const serial = unused.get(holder.id)?.shift()
    if (!serial) continue
    const arrived = new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), 10_000)
      waiting.set(serial, (at) => {
        clearTimeout(timer)
        resolve(at)
      })
    })
    const t0 = now()
    const job = await api.call(requester.port, 'POST', `/devices/${serial}/diagnostics`, {name: 'uptime-load'}, 202)
    const at = await arrived
    waiting.delete(serial)
    if (at === null) {
      result.lost++
      continue
    }
    let doneAt: number | null = null
    for (let poll = 0; poll < 1000; poll++) {
      const view = await api.call(requester.port, 'GET', `/jobs/${job.id as string}`)
      if (view.status === 'succeeded') {
        doneAt = now()
        break
      }
      await sleep(5)
    }
    if (i < warmup) continue
    const into = cross ? result.cross : result.same
    into.received.push(at - t0)
    if (doneAt !== null) into.done.push(doneAt - t0)
  }
  return result
}
