import {randomBytes, randomUUID} from 'node:crypto'
import type {Kysely} from 'kysely'
import type {UserView} from '../../protocol/api/auth.js'
import type {Scope as ScopeView} from '../../protocol/api/common.js'
import type {UserListEntry} from '../../protocol/api/users.js'
import {ConflictError, NotFoundError} from '../../shared/errors.js'
import type {Database, Role, User} from '../db/schema.js'
import {inTransaction} from '../db/transaction.js'
import {assertPasswordStrength, hashPassword} from '../auth/passwords.js'
import type {Scope} from '../auth/principal.js'
import {asFieldError, fieldError} from '../auth/request-context.js'
import {NO_PASSWORD} from '../auth/sso/provision.js'
import {findUserByName, loadScope, nowIso, replaceScope, revokeAllCredentials, revokeSessions, toUserView} from './store.js'

/**
 * User administration (users:manage). This module changes state; routes run it inside an audited
 * transaction (auditedChange), so every function takes the transaction's handle as db.
 */

export async function getUser(db: Kysely<Database>, username: string): Promise<User> {
  const user = await findUserByName(db, username)
  if (!user) throw new NotFoundError(`no user "${username}"`)
  return user
}

export async function viewUser(db: Kysely<Database>, user: User): Promise<UserView> {
  return toUserView(user, await loadScope(db, user))
}

/** Every user, with the issuer of those who sign in with SSO (so admins can tell them apart). */
export async function listUsers(db: Kysely<Database>): Promise<UserListEntry[]> {
  const users = await db.selectFrom('users').selectAll().orderBy('username').execute()
  const scopes = await db.selectFrom('user_scopes').select(['user_id', 'customer_id', 'site_id']).orderBy('customer_id').orderBy('site_id').execute()
  const identities = new Map((await db.selectFrom('sso_identities').select(['user_id', 'issuer']).execute()).map((i) => [i.user_id, i.issuer]))
  return users.map((u) => {
    const entries = scopes.filter((s) => s.user_id === u.id).map((s) => ({customerId: s.customer_id, siteId: s.site_id}))
    return {...toUserView(u, u.scope_all === 1 ? {all: true, entries: []} : {all: false, entries}), sso: identities.get(u.id) ?? null}
  })
}

/**
 * Checks a requested scope against the registry: every customer must exist and every site must
 * belong to its customer; the error names the field (e.g. body.scope.entries.0.customer).
 */
export async function resolveScope(db: Kysely<Database>, view: ScopeView, fieldPrefix: string): Promise<Scope> {
  if (view.all) {
    if (view.entries.length > 0) throw fieldError(`${fieldPrefix}.entries`, 'must be empty when "all" is true')
    return {all: true, entries: []}
  }
  const entries: Scope['entries'] = []
  for (const [i, entry] of view.entries.entries()) {
    const customer = await db.selectFrom('customers').select('id').where('id', '=', entry.customer).executeTakeFirst()
    if (!customer) throw fieldError(`${fieldPrefix}.entries.${i}.customer`, `no customer "${entry.customer}"`)
    const siteId = entry.site ?? null
    if (siteId !== null) {
      const site = await db.selectFrom('sites').select('customer_id').where('id', '=', siteId).executeTakeFirst()
      if (!site || site.customer_id !== entry.customer) throw fieldError(`${fieldPrefix}.entries.${i}.site`, `no site "${siteId}" of customer "${entry.customer}"`)
    }
    if (!entries.some((e) => e.customerId === entry.customer && e.siteId === siteId)) entries.push({customerId: entry.customer, siteId})
  }
  return {all: false, entries}
}

export interface CreateUserInput {
  username: string
  displayName?: string
  role: Role
  password?: string
  scope?: ScopeView
}

/** A generated password: 24 base64url characters (144 bits), meets the strength rule by far. */
export function generatePassword(): string {
  for (;;) {
    const candidate = randomBytes(18).toString('base64url')
    // Retry the astronomically rare draw with a single character class.
    if (/[a-z]/.test(candidate) && /[A-Z0-9]/.test(candidate)) return candidate
  }
}

/** A user ready to insert: the password checked and hashed, outside any transaction. */
export interface PreparedUser {
  input: CreateUserInput
  passwordHash: string
  /** The generated password (shown once) when the input had none. */
  initialPassword?: string
}

/** A password checked against the rule (the error names `field`) and hashed; generated when none is given. */
export async function preparePassword(password: string | undefined, field: string, username: string): Promise<{passwordHash: string; generated?: string}> {
  if (password !== undefined) {
    try {
      assertPasswordStrength(password, field, username)
    } catch (error) {
      throw asFieldError(error)
    }
    return {passwordHash: await hashPassword(password)}
  }
  const generated = generatePassword()
  return {passwordHash: await hashPassword(generated), generated}
}

/**
 * The strength rule and the scrypt hash: ~100 ms of CPU, done before the write transaction so
 * it never holds the database (SQLite has one writer).
 */
export async function prepareUser(input: CreateUserInput): Promise<PreparedUser> {
  const {passwordHash, generated} = await preparePassword(input.password, 'body.password', input.username)
  return generated === undefined ? {input, passwordHash} : {input, passwordHash, initialPassword: generated}
}

/** Inserts a prepared user and its scope (in the caller's transaction when there is one). */
export async function insertUser(db: Kysely<Database>, prepared: PreparedUser): Promise<User> {
  const {input} = prepared
  if (await findUserByName(db, input.username)) throw new ConflictError(`user "${input.username}" already exists`)
  // Admins see every customer unless a scope says otherwise; everyone else starts with none.
  const scope = input.scope ? await resolveScope(db, input.scope, 'body.scope') : {all: input.role === 'admin', entries: []}
  const now = nowIso()
  const id = randomUUID()
  await inTransaction(db, async (trx) => {
    await trx
      .insertInto('users')
      .values({
        id,
        username: input.username,
        display_name: input.displayName ?? null,
        role: input.role,
        password_hash: prepared.passwordHash,
        mfa_secret: null,
        mfa_enabled: 0,
        scope_all: scope.all ? 1 : 0,
        disabled_at: null,
        token_epoch: 0,
        created_at: now,
        updated_at: now,
      })
      .execute()
    await replaceScope(trx, id, scope, now)
  })
  return getUser(db, input.username)
}

export async function setDisabled(db: Kysely<Database>, user: User, disabled: boolean): Promise<User> {
  const now = nowIso()
  await inTransaction(db, async (trx) => {
    await trx.updateTable('users').set({disabled_at: disabled ? now : null, updated_at: now}).where('id', '=', user.id).execute()
    if (disabled) await revokeAllCredentials(trx, user.id, now)
  })
  return getUser(db, user.username)
}

export async function setRole(db: Kysely<Database>, user: User, role: Role): Promise<User> {
  await db.updateTable('users').set({role, updated_at: nowIso()}).where('id', '=', user.id).execute()
  return getUser(db, user.username)
}

export async function setScope(db: Kysely<Database>, user: User, view: ScopeView): Promise<Scope> {
  const scope = await resolveScope(db, view, 'body')
  await inTransaction(db, async (trx) => replaceScope(trx, user.id, scope, nowIso()))
  return scope
}

/** An SSO user signs in at the identity provider: there is no local password to change or reset. */
export async function assertLocalPassword(db: Kysely<Database>, user: User): Promise<void> {
  const sso = await db.selectFrom('sso_identities').select('issuer').where('user_id', '=', user.id).executeTakeFirst()
  if (sso || user.password_hash === NO_PASSWORD) {
    throw new ConflictError(`user "${user.username}" signs in with single sign-on and has no local password; change it at the identity provider${sso ? ` (${sso.issuer})` : ''}`)
  }
}

/**
 * Replaces the password hash and ends every session of the user (the epoch and refresh tokens);
 * returns how many refresh tokens were revoked. API tokens stay (revokeSessions).
 */
export async function setPassword(db: Kysely<Database>, user: User, passwordHash: string): Promise<number> {
  return inTransaction(db, async (trx) => {
    const now = nowIso()
    await trx.updateTable('users').set({password_hash: passwordHash, updated_at: now}).where('id', '=', user.id).execute()
    return revokeSessions(trx, user.id, now)
  })
}
