import {strict as assert} from 'node:assert'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {AgentConfig, agentFiles, writeAgentConfig} from '../../../src/agent/data-dir.js'
import {EventRecorder} from '../../../src/agent/events.js'
import {requestApproval} from '../../../src/agent/updates/approvals.js'
import {updateFiles} from '../../../src/agent/updates/paths.js'
import {runTether} from '../../helpers/cli.js'

/** `tether agent updates pending|approve|defer` as real processes (built dist) over a data dir the running agent would poll. */
describe('tether agent updates (e2e)', function () {
  this.timeout(60_000)
  let dir: string

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-agent-updates-cli-'))
    const files = agentFiles(dir)
    await writeAgentConfig(files, AgentConfig.parse({version: 1, server: 'https://support.example.invalid', serial: 'SN-1', updates: {allowed: true, requireApproval: true}}))
    for (const [jobId, version] of [['a1b2c3d4-one', '2.0.0'], ['e5f6a7b8-two', '2.1.0']]) {
      await requestApproval(updateFiles(files.updates).approvals, new EventRecorder(files), {jobId, deploymentId: 'dep-1', version, targetPath: `${version}/a.pkg`, length: 3 * 1048576, sha256: 'ab'.repeat(32), receivedAt: '2026-12-06T10:00:00.000Z'})
    }
  })
  afterEach(() => rm(dir, {recursive: true, force: true}))

  const tether = (...args: string[]) => runTether(['agent', 'updates', ...args, '--data-dir', dir])

  it('pending --json lists what waits, with the installed version; approve and defer decide by id prefix', async () => {
    const pending = await tether('pending', '--json')
    assert.equal(pending.code, 0, pending.stderr)
    const view = JSON.parse(pending.stdout) as {installedVersion: string | null; updates: Array<{jobId: string; version: string; state: string}>}
    assert.equal(view.installedVersion, null)
    assert.deepEqual(view.updates.map((u) => [u.jobId, u.version, u.state]).sort(), [['a1b2c3d4-one', '2.0.0', 'pending'], ['e5f6a7b8-two', '2.1.0', 'pending']])

    const approved = await tether('approve', 'a1b2', '--json')
    assert.equal(approved.code, 0, approved.stderr)
    assert.equal((JSON.parse(approved.stdout) as {state: string}).state, 'approved')
    const deferred = await tether('defer', 'e5f6')
    assert.equal(deferred.code, 0, deferred.stderr)
    assert.match(deferred.stdout, /state\s+deferred/)

    const after = JSON.parse((await tether('pending', '--json')).stdout) as {updates: unknown[]}
    assert.deepEqual(after.updates, [])
    assert.match((await tether('pending')).stdout, /No updates wait for a decision/)
  })

  it('an unknown id exits 5 with one line naming it; deciding twice exits 6', async () => {
    const unknown = await tether('approve', 'zzzz')
    assert.equal(unknown.code, 5)
    assert.match(unknown.stderr, /no update zzzz waits for a decision/)
    assert.doesNotMatch(unknown.stderr, /\bat .+\.js:\d+/)
    assert.equal((await tether('defer', 'a1b2')).code, 0)
    const twice = await tether('approve', 'a1b2')
    assert.equal(twice.code, 6)
    assert.match(twice.stderr, /already deferred/)
  })
})
