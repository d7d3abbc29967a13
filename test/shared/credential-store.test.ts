import {strict as assert} from 'node:assert'
import {spawn, spawnSync} from 'node:child_process'
import {mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {CredentialStore} from '../../src/shared/credential-store.js'
import type {KeytarLike} from '../../src/shared/credential-store-keytar.js'
import {ExitCode, TetherError} from '../../src/shared/errors.js'
import {ROOT} from '../helpers/cli.js'

const SERVER = 'https://127.0.0.1:8443'
const session = (n = 1) => ({server: SERVER, username: 'alice', accessToken: `a${n}`, refreshToken: `r${n}`, ca: 'PEM', savedAt: '2026-01-01T00:00:00.000Z'})

function memoryKeytar(): KeytarLike & {items: Map<string, string>} {
  const items = new Map<string, string>()
  return {
    items,
    getPassword: async (s, a) => items.get(`${s}|${a}`) ?? null,
    setPassword: async (s, a, p) => void items.set(`${s}|${a}`, p),
    deletePassword: async (s, a) => items.delete(`${s}|${a}`),
  }
}
const brokenKeytar = async (): Promise<KeytarLike> => ({
  getPassword: async () => {
    throw new Error('Cannot autolaunch D-Bus without X11 $DISPLAY')
  },
  setPassword: async () => {
    throw new Error('Cannot autolaunch D-Bus without X11 $DISPLAY')
  },
  deletePassword: async () => {
    throw new Error('Cannot autolaunch D-Bus without X11 $DISPLAY')
  },
})

describe('CredentialStore', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-cred-'))
  })
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('falls back to a 0600 file when the keychain fails, and says so', async () => {
    const store = new CredentialStore({dir, prefer: 'auto', keytar: brokenKeytar})
    const where = await store.save(session())
    assert.equal(where.store, 'file')
    assert.match(where.location, /credentials\.json \(0600; no OS keychain available\)/)
    assert.equal((await stat(join(dir, 'credentials.json'))).mode & 0o777, 0o600)
    const settings = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'))
    assert.equal(settings.currentServer, SERVER)
    assert.equal(settings.servers[SERVER].store, 'file')
    assert.equal(JSON.stringify(settings).includes('r1'), false, 'no token in config.json')
    const loaded = await store.load()
    assert.equal(loaded?.session.refreshToken, 'r1')
    assert.equal(loaded?.where.store, 'file')
  })

  it('falls back to the file when keytar cannot be loaded at all', async () => {
    const store = new CredentialStore({dir, prefer: 'auto', keytar: async () => new Error('Cannot find module keytar')})
    assert.equal((await store.save(session())).store, 'file')
  })

  it('uses the keychain when it works and keeps no file copy', async () => {
    const fileStore = new CredentialStore({dir, prefer: 'file'})
    await fileStore.save(session(1))
    const keytar = memoryKeytar()
    const store = new CredentialStore({dir, prefer: 'auto', keytar: async () => keytar})
    const where = await store.save(session(2))
    assert.deepEqual(where, {store: 'keychain', location: 'the OS keychain'})
    assert.equal(JSON.parse(keytar.items.get(`tether|${SERVER}`)!).refreshToken, 'r2')
    const file = JSON.parse(await readFile(join(dir, 'credentials.json'), 'utf8'))
    assert.deepEqual(file.sessions, {})
    assert.equal((await store.load())?.session.refreshToken, 'r2')
    await store.remove(SERVER)
    assert.equal(keytar.items.size, 0)
    assert.equal(await store.load(), null)
  })

  it('TETHER_CREDENTIAL_STORE=file never touches the keychain', async () => {
    let called = false
    const store = new CredentialStore({dir, prefer: 'file', keytar: async () => ((called = true), memoryKeytar())})
    assert.equal((await store.save(session())).store, 'file')
    assert.equal(called, false)
  })

  it('TETHER_CREDENTIAL_STORE=keychain fails clearly without a keychain', async () => {
    const store = new CredentialStore({dir, prefer: 'keychain', keytar: brokenKeytar})
    await assert.rejects(store.save(session()), (e: TetherError) => e.exitCode === ExitCode.UNAVAILABLE && /OS keychain is not available/.test(e.message))
  })

  it('reads the preference from the environment and rejects bad values', () => {
    const old = process.env.TETHER_CREDENTIAL_STORE
    process.env.TETHER_CREDENTIAL_STORE = 'vault'
    try {
      assert.throws(() => new CredentialStore({dir}), /TETHER_CREDENTIAL_STORE/)
    } finally {
      if (old === undefined) delete process.env.TETHER_CREDENTIAL_STORE
      else process.env.TETHER_CREDENTIAL_STORE = old
    }
  })

  it('reports a corrupt credentials file as a usage error', async () => {
    const store = new CredentialStore({dir, prefer: 'file'})
    await store.save(session())
    await writeFile(join(dir, 'credentials.json'), '{nope')
    await assert.rejects(store.load(), (e: TetherError) => e.exitCode === ExitCode.USAGE)
  })

  it('remove forgets the server and the current selection', async () => {
    const store = new CredentialStore({dir, prefer: 'file'})
    await store.save(session())
    assert.deepEqual(await store.remove(SERVER), {removed: true})
    assert.equal(await store.load(), null)
    assert.equal((await store.settings()).currentServer, undefined)
    assert.deepEqual(await store.remove(SERVER), {removed: false})
  })

  describe('real OS keychain (gnome-keyring under dbus-run-session)', function () {
    const missing = ['dbus-run-session', 'gnome-keyring-daemon'].filter((bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0)

    it('stores, reads and deletes a session with keytar', async function () {
      if (missing.length) this.skip() // reason: `${missing.join(', ')} not installed`
      const script = join(ROOT, 'test/shared/credential-store-keychain-script.ts')
      const shell = `echo -n test-pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec node --import tsx '${script}' '${dir}'`
      const out = await new Promise<{code: number | null; stdout: string; stderr: string}>((resolve, reject) => {
        // A throw-away HOME: the keyring file is created there, never in the real home.
        const home = join(dir, 'home')
        const env = {...process.env, HOME: home, XDG_DATA_HOME: join(home, '.local/share'), XDG_RUNTIME_DIR: home, TETHER_CREDENTIAL_STORE: ''}
        const child = spawn('dbus-run-session', ['--', 'sh', '-c', `mkdir -p '${home}' && chmod 700 '${home}'; ${shell}`], {cwd: ROOT, env})
        let stdout = ''
        let stderr = ''
        child.stdout.on('data', (d) => (stdout += d))
        child.stderr.on('data', (d) => (stderr += d))
        const timer = setTimeout(() => child.kill('SIGKILL'), 45_000)
        child.on('error', reject)
        child.on('close', (code) => {
          clearTimeout(timer)
          resolve({code, stdout, stderr})
        })
      })
      assert.equal(out.code, 0, out.stderr)
      const seen = JSON.parse(out.stdout.trim().split('\n').pop()!)
      assert.deepEqual(seen.saved, {store: 'keychain', location: 'the OS keychain'})
      assert.equal(seen.where, 'keychain')
      assert.equal(seen.loadedToken, 'r1')
      assert.equal(seen.raw, 'a1', 'the secret is in the keyring under service "tether"')
      assert.equal(seen.fileExists, false, 'no credentials.json when the keychain works')
      assert.equal(seen.afterRemove, null)
      assert.equal(seen.rawAfter, null)
    })
  })
})
