import {strict as assert} from 'node:assert'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {runCommand} from '@oclif/test'

const VARS = ['TETHER_CONFIG_DIR', 'TETHER_TOKEN', 'TETHER_SERVER', 'TETHER_CA', 'TETHER_FINGERPRINT', 'TETHER_CREDENTIAL_STORE']

/**
 * For in-process command tests (@oclif/test runCommand): an empty temp config dir and no
 * TETHER_* session variables, restored afterwards. Returns a getter for the temp dir.
 */
export function useCleanCommandEnv(): () => string {
  let dir = ''
  const saved: Record<string, string | undefined> = {}
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-cmd-'))
    for (const v of VARS) {
      saved[v] = process.env[v]
      delete process.env[v]
    }
    process.env.TETHER_CONFIG_DIR = dir
    process.env.TETHER_CREDENTIAL_STORE = 'file'
  })
  after(async () => {
    for (const v of VARS) {
      if (saved[v] === undefined) delete process.env[v]
      else process.env[v] = saved[v]
    }
    await rm(dir, {recursive: true, force: true})
  })
  return () => dir
}

/** Runs a command with --json that must fail; returns its error document. */
export async function commandFailure(args: string[]): Promise<{exitCode: number; message: string; code: string}> {
  const {stdout, error} = await runCommand([...args, '--json'])
  assert.ok(error, `expected \`${args.join(' ')}\` to fail`)
  return (JSON.parse(stdout) as {error: {exitCode: number; message: string; code: string}}).error
}
