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
  // A tunnel client moves bytes, not Buffers that pile up: with the small young generation it
  // spends ~a quarter more CPU per GB in scavenges (bench/tunnel-throughput.ts), so it keeps V8's own.
  // So does the server: with thousands of agents connecting, each handshake's objects are still
  // alive at the next scavenge of a 1 MiB semi-space and get copied and promoted; accepting 19,000
  // agents took 1,807 scavenges (7.2 s) and 166 mark-compacts against 90 (0.9 s) and 106 with
  // V8's own sizing (bench/agent-fanin, issue #15), and its tunnel relaying 20% GC against 6%.
  // The price is up to ~30 MB more peak RSS while log bundles stream through (bench/logs-pull.ts).
  if (argv[0] !== 'tunnels' && argv[0] !== 'server') setFlagsFromString('--semi-space-growth-factor=1')
  setFlagsFromString('--liftoff-only')
}
