import {TetherCommand} from '../shared/command.js'
import {renderFields} from '../shared/output.js'

export interface WhoamiResult {
  server: string
  username: string
  displayName: string | null
  role: string
  permissions: string[]
  scope: {all: boolean; entries: Array<{customer: string; site?: string | null}>}
  mfaEnabled: boolean
  auth: 'session' | 'api-token'
  tokenName?: string
  /** keychain, file, or env (TETHER_TOKEN). */
  credentialStore: 'keychain' | 'file' | 'env'
  location: string
}

export default class Whoami extends TetherCommand {
  static override description = 'Show who you are logged in as: user, role, permissions, scope, server and credential store.'
  static override examples = ['<%= config.bin %> whoami', '<%= config.bin %> whoami --json']
  static override enableJsonFlag = true

  async run(): Promise<WhoamiResult> {
    await this.parse(Whoami)
    const {withApi} = await import('../client/session.js')
    const {scopeText} = await import('../client/cli-input.js')
    const result = await withApi(async (api, session): Promise<WhoamiResult> => {
      const me = await api.me()
      return {
        server: session.server,
        username: me.user.username,
        displayName: me.user.displayName,
        role: me.user.role,
        permissions: me.permissions,
        scope: me.user.scope,
        mfaEnabled: me.user.mfaEnabled,
        auth: me.auth,
        ...(me.tokenName ? {tokenName: me.tokenName} : {}),
        credentialStore: session.source,
        location: session.location,
      }
    })
    if (!this.jsonEnabled()) {
      this.log(
        renderFields([
          ['User', result.username],
          ['Role', result.role],
          ['Permissions', result.permissions.join(', ') || '-'],
          ['Scope', scopeText(result.scope)],
          ['MFA', result.mfaEnabled ? 'on' : 'off'],
          ['Server', result.server],
          ['Auth', result.tokenName ? `api-token (${result.tokenName})` : result.auth],
          ['Credentials', result.credentialStore === 'env' ? 'TETHER_TOKEN (environment)' : `stored in ${result.location}`],
        ]),
      )
    }
    return result
  }
}
