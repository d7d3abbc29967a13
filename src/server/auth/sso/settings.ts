import type {Kysely} from 'kysely'
import {z} from 'zod'
import {RoleName, Slug} from '../../../protocol/api/common.js'
import {UsageError} from '../../../shared/errors.js'
import type {Database, Role} from '../../db/schema.js'
import {ROLES} from '../permissions.js'

/**
 * The identity provider Tether trusts, as `tether server sso set` stores it (sso_settings, one
 * row). Read on every SSO request, so a change made on any node (or offline on the data dir)
 * takes effect without a restart.
 */
export const SETTINGS_ID = 'default'
/** The MFA-key binding of the sealed client secret (mfa-secret.ts binds a secret to an id). */
export const CLIENT_SECRET_BINDING = 'sso-client'

const GroupScope = z.strictObject({group: z.string().min(1), all: z.boolean(), customer: Slug.nullable(), site: Slug.nullable()})
export type GroupScope = z.infer<typeof GroupScope>

export const SsoPolicy = z.strictObject({
  usernameClaim: z.string().min(1),
  groupsClaim: z.string().min(1),
  groupRoles: z.array(z.strictObject({group: z.string().min(1), role: RoleName})),
  groupScopes: z.array(GroupScope),
  /** MFA for every SSO user, read-only roles too (device-reaching roles always need it). */
  requireMfa: z.boolean(),
  /** amr values that count as MFA (RFC 8176), e.g. "mfa"; acr values that do. */
  mfaAmr: z.array(z.string().min(1)),
  mfaAcr: z.array(z.string().min(1)),
  /** Password logins refused except for these local (break-glass) accounts. */
  ssoOnly: z.boolean(),
  breakGlass: z.array(z.string().min(1)),
  /** PEM file of a private CA the issuer's certificate chains to (else the system store). */
  issuerCaFile: z.string().min(1).nullable(),
})
export type SsoPolicy = z.infer<typeof SsoPolicy>

export interface SsoSettings extends SsoPolicy {
  issuer: string
  clientId: string
  /** Sealed; open with the MFA key (provider.ts). */
  sealedClientSecret: string
  updatedAt: string
}

export const DEFAULT_POLICY: SsoPolicy = {
  usernameClaim: 'preferred_username',
  groupsClaim: 'groups',
  groupRoles: [],
  groupScopes: [],
  requireMfa: false,
  mfaAmr: ['mfa'],
  mfaAcr: [],
  ssoOnly: false,
  breakGlass: [],
  issuerCaFile: null,
}

export async function loadSsoSettings(db: Kysely<Database>): Promise<SsoSettings | null> {
  const row = await db.selectFrom('sso_settings').selectAll().where('id', '=', SETTINGS_ID).executeTakeFirst()
  if (!row) return null
  const policy = SsoPolicy.parse({...DEFAULT_POLICY, ...(JSON.parse(row.settings) as object)})
  return {...policy, issuer: row.issuer, clientId: row.client_id, sealedClientSecret: row.client_secret, updatedAt: row.updated_at}
}

export async function saveSsoSettings(db: Kysely<Database>, settings: Omit<SsoSettings, 'updatedAt'> & {updatedAt?: string}): Promise<void> {
  const {issuer, clientId, sealedClientSecret, updatedAt: _previous, ...policy} = settings
  const row = {issuer, client_id: clientId, client_secret: sealedClientSecret, settings: JSON.stringify(SsoPolicy.parse(policy)), updated_at: new Date().toISOString()}
  await db
    .insertInto('sso_settings')
    .values({id: SETTINGS_ID, ...row})
    .onConflict((oc) => oc.column('id').doUpdateSet(row))
    .execute()
}

export async function deleteSsoSettings(db: Kysely<Database>): Promise<boolean> {
  const result = await db.deleteFrom('sso_settings').where('id', '=', SETTINGS_ID).executeTakeFirst()
  return Number(result.numDeletedRows) > 0
}

/** "Group Name=role" (the group may contain "="; the role is after the last one). */
export function parseGroupRole(text: string, flag = '--group-role'): {group: string; role: Role} {
  const at = text.lastIndexOf('=')
  const group = text.slice(0, at).trim()
  const role = text.slice(at + 1).trim()
  if (at <= 0 || !group) throw new UsageError(`${flag} "${text}": expected "GROUP=ROLE"`)
  const parsed = RoleName.safeParse(role)
  if (!parsed.success) throw new UsageError(`${flag} "${text}": unknown role "${role}" (one of ${ROLES.join(', ')})`)
  return {group, role: parsed.data}
}

/** "Group=customer", "Group=customer/site" or "Group=*" (every customer). */
export function parseGroupScope(text: string, flag = '--group-scope'): GroupScope {
  const at = text.lastIndexOf('=')
  const group = text.slice(0, at).trim()
  const target = text.slice(at + 1).trim()
  if (at <= 0 || !group || !target) throw new UsageError(`${flag} "${text}": expected "GROUP=CUSTOMER[/SITE]" or "GROUP=*"`)
  if (target === '*') return {group, all: true, customer: null, site: null}
  const [customer, site, extra] = target.split('/')
  if (extra !== undefined || !Slug.safeParse(customer).success || (site !== undefined && !Slug.safeParse(site).success)) {
    throw new UsageError(`${flag} "${text}": "${target}" is not CUSTOMER or CUSTOMER/SITE (lowercase ids)`)
  }
  return {group, all: false, customer, site: site ?? null}
}

/** Whether SSO is required of this (local) account: ssoOnly is on and it is no break-glass account. */
export async function passwordLoginRefused(db: Kysely<Database>, username: string): Promise<boolean> {
  const settings = await loadSsoSettings(db)
  return settings !== null && settings.ssoOnly && !settings.breakGlass.includes(username)
}
