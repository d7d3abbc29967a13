import {strict as assert} from 'node:assert'
import {readdir, readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {ERROR_CODES, errorCodeEntry, ExitCode, TetherError} from '../../src/shared/errors.js'

const SRC = join(import.meta.dirname, '..', '..', 'src')

// Codes that are not TetherError codes: wire-protocol refusals between agent and server (answered
// on the WebSocket, never as HTTP), errno-style codes of Node errors, and job failure reasons.
const NOT_ERROR_CODES = new Set(['BUSY', 'KIND_NOT_ALLOWED', 'UNKNOWN_ACTION', 'INVALID_DETAILS', 'ETIMEOUT', 'ETIMEDOUT', 'ERR_TETHER_PIN_MISMATCH'])

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, {withFileTypes: true, recursive: true})
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => join(e.parentPath, e.name))
}

describe('ERROR_CODES: one table of codes, HTTP statuses and exit codes', () => {
  it('gives every code an HTTP status and a documented exit code', () => {
    const exitCodes = new Set<number>(Object.values(ExitCode))
    for (const [code, entry] of Object.entries(ERROR_CODES)) {
      assert.ok(Number.isInteger(entry.status) && entry.status >= 200 && entry.status <= 599, `${code}: status ${entry.status}`)
      assert.ok(exitCodes.has(entry.exitCode), `${code}: exit code ${entry.exitCode} is not in ExitCode`)
    }
  })

  it('declares every error code the sources use', async () => {
    const used = new Set<string>()
    for (const file of await sourceFiles(SRC)) {
      const text = await readFile(file, 'utf8')
      for (const m of text.matchAll(/\bcode: '([A-Z][A-Z0-9_]+)'/g)) used.add(m[1])
      // ResultWithExitCode(message, result, exitCode, 'CODE') and sendError(reply, status, 'CODE', …)
      for (const m of text.matchAll(/ExitCode\.[A-Z_]+, '([A-Z][A-Z0-9_]+)'\)/g)) used.add(m[1])
      for (const m of text.matchAll(/sendError\(reply, \d+, '([A-Z][A-Z0-9_]+)'/g)) used.add(m[1])
    }
    assert.ok(used.size > 20, `the scan found only ${used.size} codes: the patterns no longer match the sources`)
    const missing = [...used].filter((code) => !NOT_ERROR_CODES.has(code) && errorCodeEntry(code) === undefined)
    assert.deepEqual(missing, [], `add these codes to ERROR_CODES in src/shared/errors.ts: ${missing.join(', ')}`)
  })

  it('takes a TetherError\'s exit code from the table when none is given', () => {
    assert.equal(new TetherError('gone', {code: 'TOKEN_EXPIRED'}).exitCode, ExitCode.AUTH)
    assert.equal(new TetherError('busy', {code: 'DEVICE_BUSY'}).exitCode, ExitCode.UNAVAILABLE)
    assert.equal(new TetherError('odd', {code: 'NOT_IN_THE_TABLE'}).exitCode, ExitCode.FAILED)
    assert.equal(errorCodeEntry('toString'), undefined)
  })
})
