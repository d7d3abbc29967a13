import {Flags} from '@oclif/core'
import {TetherCommand} from '../../../shared/command.js'
import {databaseFlag, dataDirFlag} from '../../../server/cli-flags.js'
import type {SsoView} from '../../../server/auth/sso/admin.js'
import {renderSsoView} from './show.js'

export type ServerSsoSetResult = SsoView

export default class ServerSsoSet extends TetherCommand {
  static override description = `Connect Tether to the company's OpenID Connect identity provider (docs/sso.md).

Tether is a confidential client using the authorization code flow with PKCE. Register a client at the IdP with the redirect URI http://127.0.0.1/callback (any port; "tether login --sso" listens on a random loopback port), then map IdP groups to Tether roles and scopes. Users are created at their first sign-in; role and scope follow the groups on every sign-in and refresh; a user in no mapped group gets nothing.

The settings replace the previous ones (every flag not given is back to its default); --client-secret-file may be left out to keep the stored secret. The secret is sealed with the data dir's MFA key. The issuer's discovery document is fetched now, so a wrong issuer fails here. Running servers pick the change up at the next sign-in.`
  static override examples = [
    '<%= config.bin %> server sso set --issuer https://login.microsoftonline.com/TENANT/v2.0 --client-id 8f1c… --client-secret-file ./sso.secret --groups-claim groups --group-role "5e2a…=service-engineer" --mfa-amr mfa',
    '<%= config.bin %> server sso set --issuer https://keycloak.example.org/realms/acme --client-id tether --client-secret-file ./sso.secret --group-role "Service Engineers=service-engineer" --group-scope "Service Engineers=st-mary" --group-role "Tether Admins=admin" --sso-only --break-glass admin',
  ]
  static override enableJsonFlag = true
  static override flags = {
    'data-dir': dataDirFlag,
    database: databaseFlag,
    issuer: Flags.string({description: 'Issuer URL of the IdP (https; its /.well-known/openid-configuration is used).', required: true, helpValue: 'URL'}),
    'client-id': Flags.string({description: 'Client id the IdP issued for Tether.', required: true, helpValue: 'ID'}),
    'client-secret-file': Flags.string({description: 'File holding the client secret (required the first time).', helpValue: 'FILE'}),
    'group-role': Flags.string({description: 'IdP group and the Tether role it grants, "GROUP=ROLE" (repeatable; the most privileged role wins).', multiple: true, required: true, helpValue: 'GROUP=ROLE'}),
    'group-scope': Flags.string({description: 'IdP group and the customer (or customer/site) it shows, "GROUP=CUSTOMER[/SITE]" or "GROUP=*" (repeatable).', multiple: true, helpValue: 'GROUP=CUSTOMER[/SITE]'}),
    'username-claim': Flags.string({description: 'ID token claim used as the Tether username.', default: 'preferred_username'}),
    'groups-claim': Flags.string({description: 'ID token (or userinfo) claim listing the groups.', default: 'groups'}),
    'require-mfa': Flags.boolean({description: 'Require MFA of every SSO user, read-only roles too (roles that reach devices always need it).'}),
    'mfa-amr': Flags.string({description: 'amr value that shows MFA (repeatable). Default: mfa.', multiple: true, helpValue: 'VALUE'}),
    'mfa-acr': Flags.string({description: 'acr value that shows MFA (repeatable).', multiple: true, helpValue: 'VALUE'}),
    'issuer-ca': Flags.string({description: 'PEM CA file the IdP certificate chains to, when it is not in the system store.', helpValue: 'FILE'}),
    'sso-only': Flags.boolean({description: 'Refuse password logins except for the --break-glass accounts.'}),
    'break-glass': Flags.string({description: 'Local account that may still log in with its password under --sso-only (repeatable).', multiple: true, dependsOn: ['sso-only'], helpValue: 'USERNAME'}),
  }

  async run(): Promise<ServerSsoSetResult> {
    const {flags} = await this.parse(ServerSsoSet)
    const {withServerDatabase} = await import('../../../server/with-server-database.js')
    const {setSso} = await import('../../../server/auth/sso/admin.js')
    const {parseGroupRole, parseGroupScope} = await import('../../../server/auth/sso/settings.js')
    const result = await withServerDatabase(flags, (opened, config) =>
      setSso(opened, config, {
        issuer: flags.issuer,
        clientId: flags['client-id'],
        clientSecretFile: flags['client-secret-file'],
        groupRoles: flags['group-role'].map((g) => parseGroupRole(g)),
        groupScopes: (flags['group-scope'] ?? []).map((g) => parseGroupScope(g)),
        usernameClaim: flags['username-claim'],
        groupsClaim: flags['groups-claim'],
        requireMfa: flags['require-mfa'],
        ...(flags['mfa-amr'] ? {mfaAmr: flags['mfa-amr']} : {}),
        ...(flags['mfa-acr'] ? {mfaAcr: flags['mfa-acr']} : {}),
        issuerCaFile: flags['issuer-ca'] ?? null,
        ssoOnly: flags['sso-only'],
        breakGlass: flags['break-glass'] ?? [],
      }),
    )
    if (!this.jsonEnabled()) this.log(renderSsoView(result))
    return result
  }
}
