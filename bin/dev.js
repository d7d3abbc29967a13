#!/usr/bin/env -S node --import tsx
// Runs the TypeScript sources directly (no build step); for development only.
import {applyRuntimeFlags} from '../src/shared/runtime-flags.ts'

applyRuntimeFlags(process.argv.slice(2))
const {execute} = await import('@oclif/core')
await execute({development: true, dir: import.meta.url})
