import {strict as assert} from 'node:assert'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {DEFAULT_POLICY, effectiveMode, newPolicy, readPolicy, writePolicy} from '../../src/agent/policy.js'
import {UsageError} from '../../src/shared/errors.js'

const T0 = Date.parse('2026-05-01T10:00:00Z')

describe('agent policy', () => {
  let dir: string
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'tether-policy-'))))
  afterEach(async () => rm(dir, {recursive: true, force: true}))

  it('a temporary allow expires on its own: allow before `until`, no-access from `until` on', () => {
    const policy = newPolicy('allow', 2 * 3_600_000, 'local:test', T0)
    assert.equal(policy.until, '2026-05-01T12:00:00.000Z')
    assert.deepEqual(effectiveMode(policy, T0 + 3_600_000), {mode: 'allow', until: '2026-05-01T12:00:00.000Z', expired: false})
    assert.deepEqual(effectiveMode(policy, T0 + 2 * 3_600_000), {mode: 'no-access', until: null, expired: true})
    assert.equal(effectiveMode(policy, T0 + 3 * 3_600_000).mode, 'no-access')
  })

  it('--until is only for allow', () => {
    assert.throws(() => newPolicy('no-access', 1000, 'x', T0), UsageError)
  })

  it('reads the default when there is no file, round-trips a written one, and fails closed on garbage', async () => {
    const path = join(dir, 'policy.json')
    assert.deepEqual(await readPolicy(path), DEFAULT_POLICY)
    const policy = newPolicy('no-access', undefined, 'local:alice', T0)
    await writePolicy(path, policy)
    assert.deepEqual(await readPolicy(path), policy)
    assert.match(await readFile(path, 'utf8'), /"mode": "no-access"/)
    await writeFile(path, '{"mode": "sure"')
    assert.equal((await readPolicy(path)).mode, 'no-access')
  })
})
