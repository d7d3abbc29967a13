import {type ChildProcess, execFile, spawn} from 'node:child_process'
import {mkdir, writeFile} from 'node:fs/promises'
import {createServer} from 'node:net'
import {userInfo} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'

const run = promisify(execFile)

/** A free loopback port (bound and released; good enough for a test peer started right after). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as {port: number}).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

/**
 * A real OpenSSH server on 127.0.0.1 with throwaway host and user keys (never the system
 * service, never another address), and the argv of an `ssh` client that trusts only this test.
 */
export class TestSshd {
  child?: ChildProcess
  log = ''

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async start(dir: string): Promise<TestSshd> {
    await mkdir(dir, {recursive: true})
    await mkdir('/run/sshd', {recursive: true}).catch(() => undefined) // privilege separation dir
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')])
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'user_key')])
    const {readFile} = await import('node:fs/promises')
    await writeFile(join(dir, 'authorized_keys'), await readFile(join(dir, 'user_key.pub')), {mode: 0o600})
    const sshd = new TestSshd(dir, await freePort())
    const config = [
      `Port ${sshd.port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      'LogLevel ERROR',
    ]
    await writeFile(join(dir, 'sshd_config'), `${config.join('\n')}\n`)
    sshd.child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], {stdio: ['ignore', 'pipe', 'pipe']})
    sshd.child.stderr?.on('data', (d) => (sshd.log += d))
    await sshd.waitListening()
    return sshd
  }

  /** ssh argv (without the command): keys of this test only, no known_hosts, the given ProxyCommand. */
  sshArgs(proxyCommand: string): string[] {
    return [
      '-F', '/dev/null', '-i', join(this.dir, 'user_key'), '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
      '-o', `ProxyCommand=${proxyCommand}`, `${userInfo().username}@device`,
    ]
  }

  async stop(): Promise<void> {
    this.child?.kill('SIGTERM')
  }

  private async waitListening(): Promise<void> {
    const {connect} = await import('node:net')
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect(this.port, '127.0.0.1', () => {
          s.destroy()
          resolve(true)
        })
        s.on('error', () => resolve(false))
      })
      if (ok) return
      if (this.child?.exitCode !== null) throw new Error(`sshd exited: ${this.log}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`sshd did not listen on 127.0.0.1:${this.port}: ${this.log}`)
  }
}
