import {strict as assert} from 'node:assert'
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {MockAgent} from 'undici'
import {ApiClient} from '../../src/client/api-client.js'
import {JobsApi} from '../../src/client/jobs-api.js'
import {escapes} from '../../src/client/logs-extract.js'
import {pullBundle} from '../../src/client/logs-pull.js'
import {ExitCode, type TetherError} from '../../src/shared/errors.js'

const run = promisify(execFile)
const ORIGIN = 'https://tether.test:8443'
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

/**
 * `logs pull --extract DIR`: real archives made by the system tar and zstd (and, for hostile
 * entries, Python's tarfile, which writes whatever path it is given), served by a mock server.
 */
describe('logs pull --extract', () => {
  let agent: MockAgent
  let api: JobsApi
  let dir: string

  beforeEach(async () => {
    agent = new MockAgent()
    agent.disableNetConnect()
    api = new JobsApi(new ApiClient({server: ORIGIN, accessToken: 't', dispatcher: agent}))
    dir = await mkdtemp(join(tmpdir(), 'tether-extract-'))
  })
  afterEach(async () => {
    await agent.close()
    await rm(dir, {recursive: true, force: true})
  })

  const serve = (body: Buffer, format: 'tar.gz' | 'tar.zst', digest = sha(body)) => {
    const bundle = {id: 'b1', serial: 'SN-1', customer: 'acme', size: body.length, sha256: digest, format, region: 'eu', createdAt: '2026-11-22T10:00:00.000Z', initiator: 'user', requestedBy: 'a', jobId: null, since: null}
    const pool = agent.get(ORIGIN)
    pool.intercept({path: '/api/v1/logs/b1', method: 'GET'}).reply(200, bundle)
    pool.intercept({path: '/api/v1/logs/b1/content', method: 'GET'}).reply(200, body, {headers: {'x-content-sha256': digest}})
  }

  /** A tree of logs with a link inside it, packed by the system tar. */
  const archive = async (flag: '--zstd' | '--gzip'): Promise<Buffer> => {
    const src = join(dir, 'src')
    await mkdir(join(src, 'var/log/device'), {recursive: true})
    await writeFile(join(src, 'var/log/device/a.log'), 'alpha\n'.repeat(10_000))
    await writeFile(join(src, 'var/log/device/b.log'), 'bravo\n')
    await run('ln', ['-s', 'a.log', join(src, 'var/log/device/current.log')])
    await run('tar', [flag, '-cf', join(dir, 'x'), '-C', src, 'var'])
    return readFile(join(dir, 'x'))
  }

  for (const [format, flag] of [['tar.zst', '--zstd'], ['tar.gz', '--gzip']] as const) {
    it(`unpacks a ${format} bundle into a new directory, links inside it kept`, async () => {
      serve(await archive(flag), format)
      const out = join(dir, 'out')
      const r = await pullBundle(api, 'b1', {extract: out})
      assert.equal(r.extractedTo, out)
      assert.equal(r.file, null)
      assert.equal(await readFile(join(out, 'var/log/device/a.log'), 'utf8'), 'alpha\n'.repeat(10_000))
      assert.equal(await readlink(join(out, 'var/log/device/current.log')), 'a.log')
      assert.deepEqual((await readdir(dir)).sort(), ['out', 'src', 'x'], 'no staging directory left')
    })
  }

  it('refuses a DIR that exists (exit 2) before downloading', async () => {
    serve(await archive('--zstd'), 'tar.zst')
    await mkdir(join(dir, 'out'))
    await assert.rejects(pullBundle(api, 'b1', {extract: join(dir, 'out')}), (e: TetherError) => e.exitCode === ExitCode.USAGE && /already exists/.test(e.message))
  })

  it('a checksum mismatch leaves no directory', async () => {
    serve(await archive('--zstd'), 'tar.zst', '0'.repeat(64))
    await assert.rejects(pullBundle(api, 'b1', {extract: join(dir, 'out')}), (e: TetherError) => e.code === 'CHECKSUM_MISMATCH')
    assert.deepEqual((await readdir(dir)).sort(), ['src', 'x'])
  })

  const hostile: Array<[string, string]> = [
    ['../evil.txt as a file', "add('../evil.txt', b'x')"],
    ['an absolute path', "add('/tmp/tether-evil-abs.txt', b'x')"],
    ['a symlink to an absolute path', "link('var/l', '/etc')"],
    ['a symlink climbing out', "link('var/log/l', '../../../outside')"],
    ['a hard link out', "link('var/h', '../outside', hard=True)"],
  ]
  for (const [what, line] of hostile) {
    it(`refuses ${what}: exit 1, nothing kept inside or outside`, async () => {
      const py = `
import io, tarfile, sys
t = tarfile.open(sys.argv[1], 'w')
def add(name, data):
    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
def link(name, target, hard=False):
    i = tarfile.TarInfo(name); i.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE; i.linkname = target; t.addfile(i)
add('var/log/ok.log', b'fine')
${line}
add('var/log/after.log', b'after')
t.close()
`
      await run('python3', ['-c', py, join(dir, 'h.tar')])
      await run('zstd', ['-q', '-f', join(dir, 'h.tar'), '-o', join(dir, 'h.tar.zst')])
      serve(await readFile(join(dir, 'h.tar.zst')), 'tar.zst')
      const work = join(dir, 'work')
      await mkdir(work)
      await assert.rejects(pullBundle(api, 'b1', {extract: join(work, 'out')}), (e: TetherError) => e.exitCode === ExitCode.FAILED && e.code === 'UNSAFE_ENTRY')
      assert.deepEqual(await readdir(work), [], 'neither DIR nor its staging directory')
      assert.deepEqual((await readdir(dir)).sort(), ['h.tar', 'h.tar.zst', 'work'])
    })
  }

  it('escapes(): what stays inside and what does not', () => {
    assert.equal(escapes('var/log/a.log', 'File'), null)
    assert.equal(escapes('var/log/cur', 'SymbolicLink', 'a.log'), null)
    assert.equal(escapes('var/log/cur', 'SymbolicLink', '../x/a.log'), null)
    assert.match(escapes('var/log/cur', 'SymbolicLink', '../../../x') ?? '', /links out/)
    assert.match(escapes('a/../../b', 'File') ?? '', /climbs out/)
    assert.match(escapes('dev/sda', 'BlockDevice') ?? '', /BlockDevice/)
    assert.match(escapes('C:/x', 'File') ?? '', /absolute/)
  })
})
