#!/usr/bin/env node
import {applyRuntimeFlags} from '../dist/shared/runtime-flags.js'

applyRuntimeFlags(process.argv.slice(2))
// Imported after the flags, so that loading oclif and the commands already runs under them.
const {execute} = await import('@oclif/core')
await execute({dir: import.meta.url})
