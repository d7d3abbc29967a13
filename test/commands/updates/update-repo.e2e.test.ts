import {strict as assert} from 'node:assert'
import {mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {verifyPublishedRepo} from '../../../src/shared/tuf/index.js'
import {runTether} from '../../helpers/cli.js'

/** The release-machine commands as users run them: the built CLI in a temp directory, no server. */
describe('tether updates repo init / add / rotate-root (built CLI)', () => {
  let tmp: string
  before(async () => (tmp = await mkdtemp(join(tmpdir(), 'tether-updates-e2e-'))))
  after(() => rm(tmp, {recursive: true, force: true}))

  it('initialises, signs a package, rotates the root, and the result passes the server\'s publish check', async () => {
    const dir = join(tmp, 'repo')
    const init = await runTether(['updates', 'repo', 'init', '--dir', dir, '--threshold', '2', '--keys', '3', '--expires', '30d', '--json'])
    assert.equal(init.code, 0, init.stderr)
    const initResult = JSON.parse(init.stdout) as {rootVersion: number; keyFiles: string[]; onlineKeys: {source: string}}
    assert.equal(initResult.rootVersion, 1)
    assert.equal(initResult.onlineKeys.source, 'generated')
    for (const file of initResult.keyFiles) assert.equal((await stat(file)).mode & 0o777, 0o600, file)
    assert.equal((await stat(join(dir, 'keys'))).mode & 0o777, 0o700)

    await writeFile(join(tmp, 'analyzer-2.4.1.tgz'), 'release 2.4.1')
    const add = await runTether(['updates', 'add', '--dir', dir, join(tmp, 'analyzer-2.4.1.tgz'), '--version', '2.4.1', '--model', 'Analyzer X200', '--min-version', '2.0.0', '--install-hook', 'main'])
    assert.equal(add.code, 0, add.stderr)
    assert.match(add.stdout, /2\.4\.1\/analyzer-2\.4\.1\.tgz/)
    assert.match(add.stdout, /version 2, signed by 3 keys/)

    const rotate = await runTether(['updates', 'repo', 'rotate-root', '--dir', dir, '--new-keys', '3', '--json'])
    assert.equal(rotate.code, 0, rotate.stderr)
    assert.equal((JSON.parse(rotate.stdout) as {rootVersion: number}).rootVersion, 2)

    const json = async (name: string) => JSON.parse(await readFile(join(dir, 'metadata', name), 'utf8'))
    const repo = verifyPublishedRepo({trustedRoot: await json('1.root.json'), newRoots: [await json('2.root.json')], targets: await json('targets.json')})
    assert.deepEqual(repo.targetList[0].custom, {version: '2.4.1', models: ['Analyzer X200'], minVersion: '2.0.0', hooks: {install: 'main'}})
  })

  it('refuses bad input with one line naming the flag and exit 2, never a stack trace', async () => {
    const dir = join(tmp, 'repo2')
    assert.equal((await runTether(['updates', 'repo', 'init', '--dir', dir, '--threshold', '1', '--keys', '1'])).code, 0)
    await writeFile(join(tmp, 'p.tgz'), 'x')
    const cases: Array<[string[], RegExp]> = [
      [['updates', 'add', '--dir', dir, join(tmp, 'p.tgz'), '--version', '2.4', '--model', 'X'], /--version 2\.4: not a semantic version/],
      [['updates', 'add', '--dir', dir, join(tmp, 'missing.tgz'), '--version', '2.4.1', '--model', 'X'], /PACKAGE .*missing\.tgz: not found/],
      [['updates', 'add', '--dir', dir, join(tmp, 'p.tgz'), '--version', '2.4.1', '--model', 'X', '--expires', 'soon'], /--expires: "soon" is not a duration/],
      [['updates', 'repo', 'init', '--dir', join(tmp, 'repo3'), '--threshold', '3', '--keys', '2'], /--threshold 3: must be between 1 and the number of keys \(2\)/],
      [['updates', 'repo', 'init', '--dir', join(tmp, 'repo4'), '--online-keys', join(tmp, 'none.json')], /--online-keys .*none\.json: not found/],
    ]
    for (const [args, message] of cases) {
      const run = await runTether(args)
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`)
      assert.match(run.stderr, message)
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace')
    }
    assert.equal((await runTether(['updates', 'add', '--dir', dir, join(tmp, 'p.tgz'), '--version', '2.4.1', '--model', 'X'])).code, 0)
    const older = await runTether(['updates', 'add', '--dir', dir, join(tmp, 'p.tgz'), '--version', '2.4.0', '--model', 'X', '--json'])
    assert.equal(older.code, 2)
    assert.match((JSON.parse(older.stdout) as {error: {message: string}}).error.message, /not newer than 2\.4\.1/)
  })
})
