import {readFile} from 'node:fs/promises'
import {resolve} from 'node:path'
import {NotFoundError, UsageError} from '../../../shared/errors.js'
import {AuditChain} from '../../audit/chain.js'
import type {ServerConfig} from '../../config.js'
import type {OpenedDatabase} from '../../db/connect.js'
import {prepareMfaSecrets} from '../mfa-startup.js'
import {openTotpSecret, sealTotpSecret} from '../mfa-secret.js'
import {IdentityProvider} from './provider.js'
import {CLIENT_SECRET_BINDING, DEFAULT_POLICY, deleteSsoSettings, loadSsoSettings, saveSsoSettings, type SsoPolicy, type SsoSettings} from './settings.js'

/** What `tether server sso show` prints (and `set` returns): never the client secret. */
export interface SsoView extends SsoPolicy {
  enabled: true
  issuer: string
  clientId: string
  updatedAt: string
  /** The endpoints the IdP's discovery document named (checked by `set`). */
  endpoints?: {authorization: string; token: string; userinfo: string | null; deviceAuthorization: string | null}
}

export interface SetSsoInput extends Partial<SsoPolicy> {
  issuer: string
  clientId: string
  /** Required the first time; later, omitted keeps the stored secret. */
  clientSecretFile?: string
}

const ACTOR = 'tether-server-sso'

/**
 * `tether server sso set`: checks the issuer (HTTPS, its discovery document answers for that
 * issuer), seals the client secret with the data dir's MFA key (every node has that key) and
 * stores the settings in the database, where every node reads them on the next sign-in.
 */
export async function setSso(opened: OpenedDatabase, config: ServerConfig, input: SetSsoInput): Promise<SsoView> {
  let issuer: URL
  try {
    issuer = new URL(input.issuer)
  } catch {
    throw new UsageError(`--issuer "${input.issuer}": not a URL`)
  }
  if (issuer.protocol !== 'https:') throw new UsageError(`--issuer "${input.issuer}": the identity provider must use https`)
  const {key} = await prepareMfaSecrets(opened.db, opened.dialect, config.auth.mfaKeyFile)
  const previous = await loadSsoSettings(opened.db)
  let sealedClientSecret: string
  if (input.clientSecretFile) {
    const secret = (await readSecretFile(input.clientSecretFile)).trim()
    if (!secret) throw new UsageError(`--client-secret-file ${input.clientSecretFile}: the file is empty`)
    sealedClientSecret = sealTotpSecret(key, CLIENT_SECRET_BINDING, secret)
  } else if (previous) sealedClientSecret = previous.sealedClientSecret
  else throw new UsageError('--client-secret-file is required the first time (the secret the IdP issued for Tether)')

  const policy: SsoPolicy = {...DEFAULT_POLICY}
  for (const [name, value] of Object.entries(input) as Array<[keyof SsoPolicy, never]>) {
    if (name in DEFAULT_POLICY && value !== undefined) policy[name] = value
  }
  if (policy.groupRoles.length === 0) throw new UsageError('--group-role is required at least once: without one, no SSO user gets any role')
  if (policy.issuerCaFile) policy.issuerCaFile = resolve(policy.issuerCaFile)
  const settings: SsoSettings = {...policy, issuer: input.issuer, clientId: input.clientId, sealedClientSecret, updatedAt: new Date().toISOString()}

  // Discovery now, so a typo in the issuer or a CA problem shows here, not at the first sign-in.
  const idp = new IdentityProvider({open: (row) => openTotpSecret(key, row.id, row.mfa_secret)})
  const metadata = (await idp.configuration(settings)).serverMetadata()
  await saveSsoSettings(opened.db, settings)
  const audit = new AuditChain(opened.db, opened.dialect)
  await audit.append({
    actorType: 'system',
    actor: ACTOR,
    action: 'sso.settings.changed',
    outcome: 'success',
    details: {issuer: settings.issuer, clientId: settings.clientId, secretChanged: Boolean(input.clientSecretFile), ...policy},
  })
  const view = await showSso(opened)
  return {
    ...view,
    endpoints: {
      authorization: String(metadata.authorization_endpoint),
      token: String(metadata.token_endpoint),
      userinfo: metadata.userinfo_endpoint ?? null,
      deviceAuthorization: metadata.device_authorization_endpoint ?? null,
    },
  }
}

export async function showSso(opened: OpenedDatabase): Promise<SsoView> {
  const settings = await loadSsoSettings(opened.db)
  if (!settings) throw new NotFoundError('single sign-on is not configured (tether server sso set)', {code: 'SSO_NOT_CONFIGURED'})
  const {sealedClientSecret: _secret, ...rest} = settings
  return {enabled: true, ...rest}
}

/** Removes the IdP: SSO sessions end at their next refresh; SSO users stay (disable them as usual). */
export async function disableSso(opened: OpenedDatabase): Promise<{enabled: false; removed: boolean}> {
  const removed = await deleteSsoSettings(opened.db)
  if (removed) await new AuditChain(opened.db, opened.dialect).append({actorType: 'system', actor: ACTOR, action: 'sso.settings.disabled', outcome: 'success'})
  return {enabled: false, removed}
}

async function readSecretFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    throw new UsageError(`--client-secret-file ${file}: ${(error as Error).message}`, {cause: error})
  }
}
