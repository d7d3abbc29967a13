import {randomUUID} from 'node:crypto'
import type {Kysely} from 'kysely'
import {AuthError} from '../../../shared/errors.js'
import type {RecordAudit} from '../../audit/types.js'
import type {Database, User} from '../../db/schema.js'
import {findUserById, findUserByName, loadScope, replaceScope, revokeAllCredentials} from '../../users/store.js'
import type {Scope} from '../principal.js'
import {scopeToView} from '../scope.js'
import {type Mapped, sameScope} from './mapping.js'

/** Stored as password_hash of SSO users: not an scrypt string, so no password ever verifies. */
export const NO_PASSWORD = 'sso'

export interface Identity {
  issuer: string
  subject: string
}

type Granted = Extract<Mapped, {ok: true}>

/**
 * Creates or updates the Tether user of an IdP identity (unique issuer + subject), in the caller's
 * audited transaction: role, scope and groups follow the IdP on every sign-in and refresh. A
 * user an administrator disabled stays disabled; one disabled by deprovisioning comes back when
 * the IdP grants a mapped group again. A local account of the same name is never taken over.
 */
export async function provisionUser(trx: Kysely<Database>, record: RecordAudit, identity: Identity, granted: Granted, sourceIp: string | null): Promise<User> {
  const now = new Date().toISOString()
  const base = {actorType: 'system' as const, actor: 'tether-sso', sourceIp, outcome: 'success' as const}
  const scope = await existingEntries(trx, granted.scope)
  const link = await trx.selectFrom('sso_identities').selectAll().where('issuer', '=', identity.issuer).where('subject', '=', identity.subject).executeTakeFirst()
  if (!link) {
    if (await findUserByName(trx, granted.username)) {
      throw new AuthError(`a local account "${granted.username}" already exists; an administrator must rename or remove it before this SSO user can sign in`, {
        details: {reason: 'username-taken'},
      })
    }
    const id = randomUUID()
    await trx
      .insertInto('users')
      .values({
        id,
        username: granted.username,
        display_name: null,
        role: granted.role,
        password_hash: NO_PASSWORD,
        mfa_secret: null,
        mfa_enabled: 0,
        scope_all: 0,
        disabled_at: null,
        token_epoch: 0,
        created_at: now,
        updated_at: now,
      })
      .execute()
    await replaceScope(trx, id, scope, now)
    await trx
      .insertInto('sso_identities')
      .values({user_id: id, issuer: identity.issuer, subject: identity.subject, groups: JSON.stringify(granted.groups), created_at: now, last_login_at: now, deprovisioned_at: null})
      .execute()
    record({...base, action: 'sso.user.created', details: {username: granted.username, issuer: identity.issuer, subject: identity.subject, role: granted.role, scope: scopeToView(scope), groups: granted.groups}})
    return (await findUserById(trx, id)) as User
  }

  let user = await findUserById(trx, link.user_id)
  if (!user) throw new AuthError('this SSO identity has no Tether user any more; ask an administrator')
  if (user.disabled_at !== null) {
    if (link.deprovisioned_at === null) throw new AuthError('this user is disabled', {details: {reason: 'disabled'}})
    await trx.updateTable('users').set({disabled_at: null, updated_at: now}).where('id', '=', user.id).execute()
    await trx.updateTable('sso_identities').set({deprovisioned_at: null}).where('user_id', '=', user.id).execute()
    record({...base, action: 'sso.user.reprovisioned', details: {username: user.username, groups: granted.groups}})
  }
  const before = {role: user.role, scope: await loadScope(trx, user), groups: JSON.parse(link.groups) as string[]}
  if (before.role !== granted.role || !sameScope(before.scope, scope) || before.groups.join('\n') !== granted.groups.join('\n')) {
    await trx.updateTable('users').set({role: granted.role, updated_at: now}).where('id', '=', user.id).execute()
    await replaceScope(trx, user.id, scope, now)
    record({
      ...base,
      action: 'sso.user.groups-changed',
      details: {
        username: user.username,
        before: {role: before.role, scope: scopeToView(before.scope), groups: before.groups},
        after: {role: granted.role, scope: scopeToView(scope), groups: granted.groups},
      },
    })
  }
  await trx.updateTable('sso_identities').set({groups: JSON.stringify(granted.groups), last_login_at: now}).where('user_id', '=', user.id).execute()
  user = (await findUserById(trx, user.id)) as User
  return user
}

/**
 * The IdP no longer grants the user anything in Tether: disabled (every credential revoked, so
 * live tunnels end too: tunnels/watch.ts) and marked as deprovisioned, so a later sign-in with a
 * mapped group enables it again.
 */
export async function deprovisionUser(trx: Kysely<Database>, record: RecordAudit, userId: string, reason: string, details: Record<string, unknown> = {}): Promise<void> {
  const user = await findUserById(trx, userId)
  if (!user || user.disabled_at !== null) return
  const now = new Date().toISOString()
  await trx.updateTable('users').set({disabled_at: now, updated_at: now}).where('id', '=', userId).execute()
  await revokeAllCredentials(trx, userId, now)
  await trx.updateTable('sso_identities').set({deprovisioned_at: now, groups: '[]'}).where('user_id', '=', userId).execute()
  await trx.updateTable('sso_sessions').set({ended_at: now}).where('user_id', '=', userId).where('ended_at', 'is', null).execute()
  record({actorType: 'system', actor: 'tether-sso', action: 'sso.user.deprovisioned', outcome: 'success', details: {username: user.username, reason, ...details}})
}

/** Scope entries whose customer (and site) still exist: a mapping may name one deleted since. */
async function existingEntries(trx: Kysely<Database>, scope: Scope): Promise<Scope> {
  if (scope.all || scope.entries.length === 0) return scope
  const customers = new Set((await trx.selectFrom('customers').select('id').execute()).map((c) => c.id))
  const sites = new Map((await trx.selectFrom('sites').select(['id', 'customer_id']).execute()).map((s) => [s.id, s.customer_id]))
  return {all: false, entries: scope.entries.filter((e) => customers.has(e.customerId) && (e.siteId === null || sites.get(e.siteId) === e.customerId))}
}
