import type {OpenedDatabase} from './db/connect.js'
import type {ServerConfig} from './config.js'

/**
 * What every `tether server sso` command does around its one library call: read the data dir's
 * config, open and migrate its database, run, close.
 */
export async function withServerDatabase<T>(flags: {'data-dir'?: string; database?: string}, work: (opened: OpenedDatabase, config: ServerConfig) => Promise<T>): Promise<T> {
  const {defaultDataDir, readServerConfig} = await import('./config-store.js')
  const {defaultServerConfig} = await import('./config-defaults.js')
  const {migrateToLatest, openDatabase} = await import('./db/connect.js')
  const dataDir = flags['data-dir'] ?? defaultDataDir()
  const config = (await readServerConfig(dataDir)) ?? defaultServerConfig(dataDir)
  const opened = await openDatabase(flags.database ?? config.database)
  try {
    await migrateToLatest(opened)
    return await work(opened, config)
  } finally {
    await opened.close()
  }
}
