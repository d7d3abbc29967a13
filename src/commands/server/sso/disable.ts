import {TetherCommand} from '../../../shared/command.js'
import {databaseFlag, dataDirFlag} from '../../../server/cli-flags.js'

export interface ServerSsoDisableResult {
  enabled: false
  removed: boolean
}

export default class ServerSsoDisable extends TetherCommand {
  static override description = `Stop single sign-on: sign-ins are refused and SSO sessions end at their next refresh (within one access-token lifetime). SSO users stay listed; local accounts are not affected.`
  static override examples = ['<%= config.bin %> server sso disable --data-dir /var/lib/tether']
  static override enableJsonFlag = true
  static override flags = {'data-dir': dataDirFlag, database: databaseFlag}

  async run(): Promise<ServerSsoDisableResult> {
    const {flags} = await this.parse(ServerSsoDisable)
    const {withServerDatabase} = await import('../../../server/with-server-database.js')
    const {disableSso} = await import('../../../server/auth/sso/admin.js')
    const result = await withServerDatabase(flags, (opened) => disableSso(opened))
    if (!this.jsonEnabled()) this.log(result.removed ? 'Single sign-on disabled.' : 'Single sign-on was not configured.')
    return result
  }
}
