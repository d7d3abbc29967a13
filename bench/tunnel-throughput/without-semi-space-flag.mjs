/**
 * Preloaded with NODE_OPTIONS=--import for an A/B of one runtime flag without touching src/:
 * bin/run.js calls v8.setFlagsFromString('--semi-space-growth-factor=1') (src/shared/runtime-flags.ts,
 * for peak RSS while logs stream); this drops that one call and lets every other flag through.
 */
import {syncBuiltinESMExports} from 'node:module'
import v8 from 'node:v8'

const setFlagsFromString = v8.setFlagsFromString
v8.setFlagsFromString = (flags) => {
  if (flags.trim() === '--semi-space-growth-factor=1') return
  setFlagsFromString(flags)
}
// bin/run.js imports the named export: update the ESM view of node:v8 too.
syncBuiltinESMExports()
