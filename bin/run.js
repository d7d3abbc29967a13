#!/usr/bin/env node
import {setFlagsFromString} from 'node:v8'

// Memory (bench/logs-pull.ts: peak RSS per process, target < 150 MB). Set before any work, as
// these flags are read when the heap grows and when wasm is compiled, not only at startup:
// - V8 grows the young generation to 2 x 16 MiB as soon as module loading keeps objects alive,
//   and our streams' Buffers (1 MiB tar reads, 8 MiB upload chunks, 1 MiB segments) then wait
//   for a scavenge of that space as external memory: up to ~50 MB of dead Buffers. Keeping the
//   initial 2 x 1 MiB collects them every few MB (cheap: stream chunks don't survive).
// - The only wasm here is undici's llhttp; TurboFan re-compiling its 33 KB parser function once
//   it gets hot costs ~30 MB of compiler memory for 200 ms, while Liftoff code parses a
//   response's headers just as well (a body is passed on per chunk, not per byte).
setFlagsFromString('--semi-space-growth-factor=1')
setFlagsFromString('--liftoff-only')

// Imported after the flags, so that loading oclif and the commands already runs under them.
const {execute} = await import('@oclif/core')
await execute({dir: import.meta.url})
