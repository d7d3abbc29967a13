import {mkdir} from 'node:fs/promises'
import {dirname, resolve} from 'node:path'
import {writeFileAtomic} from '../shared/atomic-file.js'
import {UsageError} from '../shared/errors.js'
import {renderUnit} from './systemd-unit.js'

/** The data dir a system service uses when none is given (docs/agent.md). */
export const SERVICE_DATA_DIR = '/var/lib/tether-agent'

export interface InstallServiceResult {
  path: string | null
  unit: string
  dataDir: string
  user: string
  nextSteps: string[]
}

export async function installService(options: {dataDir?: string; user: string; output: string; binPath: string}): Promise<InstallServiceResult> {
  if (!/^[a-z_][a-z0-9_-]*\$?$/i.test(options.user)) throw new UsageError(`--user: "${options.user}" is not a valid user name`)
  const dataDir = resolve(options.dataDir ?? SERVICE_DATA_DIR)
  if (/\s/.test(dataDir) || /\s/.test(options.binPath)) throw new UsageError('--data-dir: paths with spaces are not supported in the unit')
  const unit = renderUnit({execStart: `${process.execPath} ${resolve(options.binPath)}`, dataDir, user: options.user})
  const name = options.output === '-' ? 'tether-agent.service' : options.output.split('/').pop()!
  const nextSteps = [
    `sudo useradd --system --home-dir ${dataDir} --shell /usr/sbin/nologin ${options.user}   # once`,
    `sudo install -d -m 0700 -o ${options.user} ${dataDir}`,
    `sudo -u ${options.user} tether agent enroll --data-dir ${dataDir} --server URL --token TOKEN --ca server-ca.pem`,
    'sudo systemctl daemon-reload',
    `sudo systemctl enable --now ${name}`,
    `tether agent status --data-dir ${dataDir}   # journalctl -u ${name.replace(/\.service$/, '')} -f for the logs`,
  ]
  if (options.output === '-') return {path: null, unit, dataDir, user: options.user, nextSteps}
  const path = resolve(options.output)
  try {
    await mkdir(dirname(path), {recursive: true})
    await writeFileAtomic(path, unit, 0o644)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new UsageError(`--output: cannot write ${path}: ${code ?? (error as Error).message}`, {cause: error, suggestions: code === 'EACCES' ? ['Run with sudo, or pass --output ./tether-agent.service and copy it yourself.'] : []})
  }
  return {path, unit, dataDir, user: options.user, nextSteps}
}
