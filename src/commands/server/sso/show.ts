import {TetherCommand} from '../../../shared/command.js'
import {databaseFlag, dataDirFlag} from '../../../server/cli-flags.js'
import type {SsoView} from '../../../server/auth/sso/admin.js'

export type ServerSsoShowResult = SsoView

/** Human form of the settings (set and show). */
export function renderSsoView(view: SsoView): string {
  const lines = [
    `Issuer:          ${view.issuer}`,
    `Client id:       ${view.clientId}`,
    `Username claim:  ${view.usernameClaim}`,
    `Groups claim:    ${view.groupsClaim}`,
    ...view.groupRoles.map((m) => `Group -> role:   ${m.group} -> ${m.role}`),
    ...view.groupScopes.map((m) => `Group -> scope:  ${m.group} -> ${m.all ? '*' : `${m.customer}${m.site ? `/${m.site}` : ''}`}`),
    `MFA shown by:    ${[...view.mfaAmr.map((v) => `amr ${v}`), ...view.mfaAcr.map((v) => `acr ${v}`)].join(', ') || '(nothing: Tether TOTP)'}${view.requireMfa ? ' (required of every role)' : ''}`,
    `Password logins: ${view.ssoOnly ? `refused except ${view.breakGlass.join(', ') || 'nobody'}` : 'allowed'}`,
  ]
  if (view.issuerCaFile) lines.push(`Issuer CA:       ${view.issuerCaFile}`)
  if (view.endpoints) lines.push(`Device flow:     ${view.endpoints.deviceAuthorization ? 'offered by the IdP' : 'not offered by the IdP'}`)
  return lines.join('\n')
}

export default class ServerSsoShow extends TetherCommand {
  static override description = 'Show the identity provider Tether trusts for single sign-on (never the client secret). Exit 5 when SSO is not configured.'
  static override examples = ['<%= config.bin %> server sso show --data-dir /var/lib/tether', '<%= config.bin %> server sso show --json']
  static override enableJsonFlag = true
  static override flags = {'data-dir': dataDirFlag, database: databaseFlag}

  async run(): Promise<ServerSsoShowResult> {
    const {flags} = await this.parse(ServerSsoShow)
    const {withServerDatabase} = await import('../../../server/with-server-database.js')
    const {showSso} = await import('../../../server/auth/sso/admin.js')
    const result = await withServerDatabase(flags, (opened) => showSso(opened))
    if (!this.jsonEnabled()) this.log(renderSsoView(result))
    return result
  }
}
