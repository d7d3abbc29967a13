import {setFlagsFromString} from 'node:v8'

/**
 * V8 settings for every `tether` process (bin/run.js sets them before oclif loads; the agent
 * fan-in bench's server process too). They work when set at run time because V8 reads them when
 * the heap grows and when wasm is compiled. Peak RSS is the reason (bench/logs-pull.ts: < 150
 * MB per process while 1 GiB of logs goes through):
 * - V8 grows the young generation to 2 x 16 MiB as soon as module loading keeps objects alive,
 *   and the streams' Buffers (tar reads, gzip blocks, upload chunks, 1 MiB segments) then wait
 *   for a scavenge of that space as external memory: up to ~50 MB of dead Buffers. Keeping the
 *   initial 2 x 1 MiB collects them every few MB (cheap: stream chunks don't survive).
 * - The only wasm here is undici's llhttp; TurboFan re-compiling its parser once it gets hot
 *   costs ~30 MB of compiler memory for 200 ms, while Liftoff code parses headers just as well
 *   (a body is handed on per chunk, not per byte).
 */
export function applyRuntimeFlags(argv: readonly string[] = []): void {
  for (const flag of runtimeFlags(argv, process.execArgv, process.env.NODE_OPTIONS ?? '')) setFlagsFromString(flag)
}

/** The V8 flags for a `tether` command line (argv without node and the script). */
export function runtimeFlags(argv: readonly string[], execArgv: readonly string[], nodeOptions: string): string[] {
  const flags: string[] = []
  // A tunnel client moves bytes, not Buffers that pile up: with the small young generation it
  // spends ~a quarter more CPU per GB in scavenges (bench/tunnel-throughput.ts), so it keeps V8's own.
  // An operator's own young-generation setting wins: a server holding many thousands of agents
  // accepts them with ~25% less CPU with V8's own sizing (each handshake's objects outlive a
  // scavenge of 1 MiB semi-spaces and get promoted: 1,807 scavenges and 166 mark-compacts against
  // 90 and 106 accepting 19,000, bench/agent-fanin), at ~30 MB more peak RSS while log bundles
  // stream (server 184 MB against 150-155 MB in bench/logs-pull.ts): docs/operations.md "Heap".
  const ownYoungGeneration = [...execArgv, nodeOptions].some((flag) => /--(max-|min-)?semi-space-(size|growth-factor)/.test(flag))
  if (argv[0] !== 'tunnels' && !ownYoungGeneration) flags.push('--semi-space-growth-factor=1')
  flags.push('--liftoff-only')
  return flags
}
