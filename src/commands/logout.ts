import {TetherCommand} from '../shared/command.js'

export interface LogoutResult {
  server: string
  /** true when the server revoked the refresh token. */
  revoked: boolean
  warning?: string
}

export default class Logout extends TetherCommand {
  static override description = 'Log out: revoke the session on the server and delete the local credentials.'
  static override examples = ['<%= config.bin %> logout', 'TETHER_SERVER=https://other:8443 <%= config.bin %> logout']
  static override enableJsonFlag = true

  async run(): Promise<LogoutResult> {
    await this.parse(Logout)
    const {logout} = await import('../client/login.js')
    const {normalizeServerUrl} = await import('../client/api-client.js')
    const server = process.env.TETHER_SERVER ? normalizeServerUrl(process.env.TETHER_SERVER, 'TETHER_SERVER') : undefined
    const result = await logout({server})
    if (!this.jsonEnabled()) {
      if (result.warning) this.warn(result.warning)
      this.log(`Logged out of ${result.server}; local credentials deleted.`)
      if (process.env.TETHER_TOKEN) this.log('Note: TETHER_TOKEN is still set in this environment.')
    }
    return result
  }
}
