/**
 * bench/agent-fanin's server process: a real `startServer` (HTTPS + hub) on a data dir made by
 * the parent, steered over IPC: `stats` (RSS after GC, connected agents), `broadcast` (a ping
 * request to every agent). Run with --expose-gc so RSS is measured after a collection.
 */
import {writeFileSync} from 'node:fs'
import {Session} from 'node:inspector'
import {startServer} from '../../src/server/server.js'
import {applyRuntimeFlags} from '../../src/shared/runtime-flags.js'

// As in bin/run.js, unless the run compares without them.
if (process.env.TETHER_BENCH_NO_FLAGS !== '1') applyRuntimeFlags()
const [dataDir, portText] = process.argv.slice(2)
const server = await startServer({dataDir, host: '127.0.0.1', port: Number(portText), logLevel: 'warn', shutdownTimeoutMs: 5000})

type Command = {type: 'stats' | 'broadcast' | 'stop' | 'profile-start' | 'profile-stop'; id: number; file?: string}
const inspector = new Session()


async function rssAfterGc(): Promise<number> {
  const gc = (globalThis as {gc?: () => void}).gc
  for (let i = 0; i < 3; i++) {
    gc?.()
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return process.memoryUsage().rss
}

process.on('message', (raw) => {
  const command = raw as Command
  const reply = (body: Record<string, unknown>): void => {
    process.send?.({id: command.id, ...body})
  }
  if (command.type === 'stats') {
    void rssAfterGc().then((rss) => reply({rss, connected: server.app.hub.size}))
  } else if (command.type === 'broadcast') {
    void server.app.hub.broadcastPing(10_000).then((result) => reply({...result}))
  } else if (command.type === 'profile-start') {
    // A CPU profile of one phase only (the initial fan-in), where --cpu-prof would cover it all.
    inspector.connect()
    inspector.post('Profiler.enable', () => inspector.post('Profiler.start', () => reply({started: true})))
  } else if (command.type === 'profile-stop') {
    inspector.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(command.file!, JSON.stringify(result.profile))
      inspector.disconnect()
      reply({written: !error})
    })
  } else if (command.type === 'stop') {
    void server.stop().then(() => {
      reply({stopped: true})
      process.exit(0)
    })
  }
})
process.send?.({type: 'ready', port: server.port})
