import {TetherCommand} from '../../shared/command.js'
import {dataDirFlag, databaseFlag} from '../../server/cli-flags.js'

export interface RotateLogsKeyResult {
  previousKeyId: string
  newKeyId: string
  rewrapped: number
  retired: string[]
}

export default class ServerRotateLogsKey extends TetherCommand {
  static override description = `Rotate the master key that wraps the log bundles' data keys.

A new key file is written; each bundle's data key is re-wrapped with it. Bundle files are not re-encrypted or touched. The old key is kept (KEYFILE.<id>.old) until no bundle needs it, then deleted. Interrupted? Run it again. Not for TETHER_LOGS_MASTER_KEY (manage that key yourself).`
  static override examples = ['<%= config.bin %> server rotate-logs-key --data-dir /var/lib/tether', '<%= config.bin %> server rotate-logs-key --json']
  static override enableJsonFlag = true
  static override flags = {'data-dir': dataDirFlag, database: databaseFlag}

  async run(): Promise<RotateLogsKeyResult> {
    const {flags} = await this.parse(ServerRotateLogsKey)
    const {defaultDataDir, readServerConfig} = await import('../../server/config-store.js')
    const {defaultServerConfig} = await import('../../server/config-defaults.js')
    const {migrateToLatest, openDatabase} = await import('../../server/db/connect.js')
    const {rotateLogsKey} = await import('../../server/logs/rotate.js')
    const {AuditChain} = await import('../../server/audit/chain.js')
    const dataDir = flags['data-dir'] ?? defaultDataDir()
    const config = (await readServerConfig(dataDir)) ?? defaultServerConfig(dataDir)
    const opened = await openDatabase(flags.database ?? config.database)
    let result: RotateLogsKeyResult
    try {
      await migrateToLatest(opened)
      result = await rotateLogsKey(opened.db, new AuditChain(opened.db, opened.dialect), config.logs.masterKeyFile)
    } finally {
      await opened.close()
    }
    if (!this.jsonEnabled()) {
      this.log(`New logs master key ${result.newKeyId} (was ${result.previousKeyId}); ${result.rewrapped} data key(s) re-wrapped.`)
      if (result.retired.length > 0) this.log(`Retired: ${result.retired.join(', ')}`)
    }
    return result
  }
}
