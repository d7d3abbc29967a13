import {homedir} from 'node:os'
import {join} from 'node:path'

/** Where the admin CLI keeps its settings and (without a keychain) its credentials. */
export function configDir(): string {
  if (process.env.TETHER_CONFIG_DIR) return process.env.TETHER_CONFIG_DIR
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), '.config')
  return join(base, 'tether')
}

/** Package root, for data files shipped with the tool (profiles/). Works from src/ and dist/. */
export function packageRoot(): string {
  return new URL('../../', import.meta.url).pathname
}
