import {Flags} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import {dataDirFlag} from '../../server/cli-flags.js'
import type {CopyInstallationResult} from '../../server/copy-installation.js'

export default class ServerCopyDatabase extends TetherCommand {
  static override description = `Copy a stopped server's database and stored blobs into an empty PostgreSQL database, to grow from one node to several.

Every row is copied in one transaction (all or nothing), so the audit chain arrives whole and is verified on the target; log bundles and update packages kept in local directories are copied into the database's blob store (still encrypted as stored). The source is not changed. Then start the nodes with --database postgres://… and storage.blobs "postgres" (docs/operations.md, "From one node to three").`
  static override examples = [
    '<%= config.bin %> server copy-database --data-dir /var/lib/tether --to postgres://tether@db.internal/tether',
    '<%= config.bin %> server copy-database --to postgres://tether@127.0.0.1/tether --json',
  ]
  static override enableJsonFlag = true
  static override flags = {
    'data-dir': dataDirFlag,
    database: Flags.string({description: 'The database to copy from. Default: the data dir\'s (DATA_DIR/tether.db).', helpValue: 'URL'}),
    to: Flags.string({description: 'The empty PostgreSQL database to copy into: postgres://USER:PASS@HOST/DB.', required: true, helpValue: 'URL'}),
  }

  async run(): Promise<CopyInstallationResult> {
    const {flags} = await this.parse(ServerCopyDatabase)
    const {defaultDataDir, readServerConfig} = await import('../../server/config-store.js')
    const {defaultServerConfig} = await import('../../server/config-defaults.js')
    const {openDatabase} = await import('../../server/db/connect.js')
    const {copyInstallation} = await import('../../server/copy-installation.js')
    const {userInfo} = await import('node:os')
    const dataDir = flags['data-dir'] ?? defaultDataDir()
    const config = (await readServerConfig(dataDir)) ?? defaultServerConfig(dataDir)
    const url = flags.database ?? config.database
    const source = await openDatabase(url)
    let result: CopyInstallationResult
    try {
      result = await copyInstallation(config, {...source, url}, flags.to, `${userInfo().username} (tether server copy-database)`)
    } finally {
      await source.close()
    }
    if (!this.jsonEnabled()) {
      const rows = result.tables.reduce((n, t) => n + t.rows, 0)
      this.log(`Copied ${rows} rows in ${result.tables.length} tables; audit chain verified (${result.verified.checked} events, head ${result.auditHead.seq}).`)
      if (result.blobs) this.log(`Blobs: ${result.blobs.blobs} copied (${result.blobs.bytes} bytes), ${result.blobs.skipped} already there.`)
      this.log('Next: set storage.blobs to "postgres" in config.json and start every node with --database (TETHER_DATABASE_URL) set to the new database.')
    }
    return result
  }
}
