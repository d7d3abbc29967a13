import {strict as assert} from 'node:assert'
import {chmod, readdir, readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {type AgentUnderTest, enrollAgent} from '../agent/helpers/agent-process.js'
import {eventually, expectExit, json, SupportCenter} from '../agent/helpers/support-center.js'
import {runTether} from '../helpers/cli.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read loosely-typed CLI answers
type Loose = any

/**
 * The whole update path with real processes, as the README walks it: a release signed on a
 * "release machine" (its own directory, keys never leave it), published to a real server, rolled
 * out in stages to two real agents that install through their hooks; then what a compromised
 * server tries: a package whose bytes it swapped, and an older version it pushes again.
 */
describe('software updates end to end: sign, publish, roll out, install (e2e)', function () {
  this.timeout(240_000)
  let sc: SupportCenter
  const agents: AgentUnderTest[] = []
  let repo: string
  let installed: string

  const cli = async (args: string[], code = 0) => expectExit(await runTether(args), code)
  const admin = async (args: string[], code = 0) => expectExit(await sc.admin(args), code)

  before(async () => {
    sc = await SupportCenter.create()
    await sc.start()
    await sc.loginAdmin()
    repo = join(sc.dir, 'release-repo')
    // The release machine: the server's public online keys go in, nothing comes back out.
    const keysFile = join(sc.dir, 'online-keys.json')
    await writeFile(keysFile, expectExit(await runTether(['server', 'updates-keys', '--data-dir', join(sc.dir, 'data'), '--json']), 0).stdout)
    await cli(['updates', 'repo', 'init', '--dir', repo, '--threshold', '2', '--keys', '3', '--online-keys', keysFile])
    for (const version of ['1.0.0', '2.0.0', '2.1.0']) {
      const pkg = join(sc.dir, `analyzer-${version}.bin`)
      await writeFile(pkg, `analyzer firmware ${version}\n`.repeat(20_000))
      await cli(['updates', 'add', '--dir', repo, pkg, '--version', version, '--model', 'X200'])
    }
    await admin(['updates', 'publish', '--dir', repo, '--json'])

    installed = join(sc.dir, 'installed.log')
    const hook = join(sc.dir, 'install.sh')
    await writeFile(hook, `#!/bin/sh\necho "$TETHER_UPDATE_VERSION $(wc -c < "$1")" >> ${installed}\n`)
    await chmod(hook, 0o755)
    for (const serial of ['SN-UPD-1', 'SN-UPD-2']) {
      const agent = await enrollAgent(sc, serial, {dirName: serial, enrollArgs: ['--allow-updates', '--update-root', join(repo, 'metadata', '1.root.json')]})
      const config = JSON.parse(await readFile(join(agent.dataDir, 'agent.json'), 'utf8'))
      await agent.tune({updates: {...config.updates, install: [hook], healthCheck: ['/bin/true']}})
      agent.start()
      agents.push(agent)
    }
    for (const agent of agents) await eventually(async () => (await agent.status()).state === 'connected', 'agent connected')
  })

  after(async () => {
    for (const agent of agents) await agent.stop()
    await sc?.dispose()
  })

  const deployment = async (id: string): Promise<Loose> => json(await admin(['updates', 'status', id, '--json']))
  const settled = (id: string) => eventually(async () => {
    const d = await deployment(id)
    return ['completed', 'halted', 'aborted'].includes(d.status) ? d : undefined
  }, `deployment ${id} settled`, 90_000)

  it('publishes what the release machine signed, and rolls 2.0.0 out in two stages to both devices', async () => {
    const list: Loose = json(await admin(['updates', 'list', '--json']))
    assert.deepEqual(list.targets.map((t: Loose) => t.version).sort(), ['1.0.0', '2.0.0', '2.1.0'])
    const created: Loose = json(await admin(['updates', 'deploy', '--version', '2.0.0', '--model', 'X200', '--to', 'st-mary', '--stages', '50%,100%', '--stage-wait', '0', '--json']))
    const done = await settled(created.id)
    assert.equal(done.status, 'completed', JSON.stringify(done))
    assert.deepEqual(done.devices.map((d: Loose) => [d.serial, d.state]).sort(), [['SN-UPD-1', 'succeeded'], ['SN-UPD-2', 'succeeded']])
    assert.deepEqual(new Set(done.devices.map((d: Loose) => d.stage)), new Set([0, 1]), 'one device per stage')
    const lines = (await readFile(installed, 'utf8')).trim().split('\n')
    assert.deepEqual(lines, ['2.0.0 480000', '2.0.0 480000'], 'each device ran its install hook once with the verified package')
    await eventually(async () => (await sc.device('SN-UPD-1')).softwareVersion === '2.0.0' || undefined, 'installed version in the inventory')
  })

  it('a package whose bytes the server swapped is refused by every device, and the rollout halts by itself', async () => {
    const dir = join(sc.dir, 'data', 'updates', 'targets')
    const files = await readdir(dir)
    const list: Loose = json(await admin(['updates', 'list', '--json']))
    const target = list.targets.find((t: Loose) => t.version === '2.1.0')
    const stored = files.find((f) => f.startsWith(target.sha256.slice(0, 16)))
    assert.ok(stored, `the package is stored by its SHA-256 (${files.join(', ')})`)
    await writeFile(join(dir, stored), Buffer.alloc(target.length, 'malicious firmware\n'))
    const created: Loose = json(await admin(['updates', 'deploy', '--version', '2.1.0', '--model', 'X200', '--to', 'st-mary', '--stages', '100%', '--halt-after', '1', '--json']))
    const done = await settled(created.id)
    assert.equal(done.status, 'halted', JSON.stringify(done))
    const failed = done.devices.filter((d: Loose) => d.state === 'failed')
    assert.ok(failed.length >= 1)
    for (const d of failed) assert.equal(d.error.code, 'VERIFY_FAILED', JSON.stringify(d))
    assert.equal((await readFile(installed, 'utf8')).trim().split('\n').length, 2, 'nothing was installed')
  })

  it('an older, validly signed version pushed again is refused as not newer (rollback attack)', async () => {
    const created: Loose = json(await admin(['updates', 'deploy', '--version', '1.0.0', '--model', 'X200', '--to', 'st-mary', '--stages', '100%', '--json']))
    const done = await settled(created.id)
    for (const d of done.devices) assert.equal(d.error?.code, 'NOT_NEWER', JSON.stringify(d))
    assert.equal((await readFile(installed, 'utf8')).trim().split('\n').length, 2, 'nothing was installed')
    const audit = await admin(['audit', 'export', '--action', 'device.update.step'])
    const steps = audit.stdout.trim().split('\n').map((l) => JSON.parse(l).details.step)
    for (const step of ['downloaded', 'verified', 'installed', 'refused']) assert.ok(steps.includes(step), `device.update.step ${step} audited (${[...new Set(steps)].join(', ')})`)
  })
})
