import {Username} from '../../../protocol/api/auth.js'
import type {Role} from '../../db/schema.js'
import {ROLES} from '../permissions.js'
import type {Scope} from '../principal.js'
import type {SsoPolicy} from './settings.js'

/** What the IdP's claims grant in Tether, decided the same way at sign-in and at every refresh. */
export type Mapped =
  | {ok: true; username: string; groups: string[]; role: Role; scope: Scope; idpMfa: boolean}
  | {ok: false; reason: 'no-username' | 'no-mapped-group'; message: string; groups: string[]}

export type Claims = Record<string, unknown>

/**
 * Role: the most privileged role among the user's mapped groups (ROLES is ordered admin first).
 * Scope: the union of the mapped groups' scopes; "*" or an admin role without any scope mapping
 * sees every customer (as `users add` does for admins).
 */
export function mapClaims(policy: SsoPolicy, claims: Claims): Mapped {
  const groups = groupsOf(claims[policy.groupsClaim])
  const username = claims[policy.usernameClaim]
  if (typeof username !== 'string' || !Username.safeParse(username).success) {
    return {ok: false, reason: 'no-username', groups, message: `the ID token's "${policy.usernameClaim}" claim is missing or not a valid Tether username`}
  }
  const roles = policy.groupRoles.filter((m) => groups.includes(m.group)).map((m) => m.role)
  if (roles.length === 0) {
    return {ok: false, reason: 'no-mapped-group', groups, message: 'you are in no group that Tether maps to a role; ask your administrator to add you to one'}
  }
  const role = ROLES.find((r) => roles.includes(r)) as Role
  const mappedGroups = [...new Set([...policy.groupRoles, ...policy.groupScopes].map((m) => m.group).filter((g) => groups.includes(g)))].sort()
  const scopes = policy.groupScopes.filter((m) => groups.includes(m.group))
  let scope: Scope
  if (scopes.some((s) => s.all) || (role === 'admin' && scopes.length === 0)) scope = {all: true, entries: []}
  else {
    const entries: Scope['entries'] = []
    for (const s of scopes) {
      if (s.customer && !entries.some((e) => e.customerId === s.customer && e.siteId === s.site)) entries.push({customerId: s.customer, siteId: s.site})
    }
    scope = {all: false, entries}
  }
  return {ok: true, username, groups: mappedGroups, role, scope, idpMfa: showsMfa(policy, claims)}
}

/** Whether the ID token (or userinfo) says the user authenticated with more than one factor. */
export function showsMfa(policy: SsoPolicy, claims: Claims): boolean {
  const amr = Array.isArray(claims.amr) ? claims.amr.filter((v): v is string => typeof v === 'string') : []
  if (amr.some((v) => policy.mfaAmr.includes(v))) return true
  return typeof claims.acr === 'string' && policy.mfaAcr.includes(claims.acr)
}

function groupsOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string')
  // Some IdPs send a single group as a string.
  return typeof value === 'string' ? [value] : []
}

export function sameScope(a: Scope, b: Scope): boolean {
  const key = (s: Scope) => (s.all ? '*' : s.entries.map((e) => `${e.customerId}/${e.siteId ?? ''}`).sort().join(','))
  return key(a) === key(b)
}
