import type {Permission} from './permissions.js'

/**
 * What a route's guard (its preHandler or preValidation hook) demands, attached to the hook
 * itself, so the route catalog can list it (OpenAPI, the permission-matrix tests) without a
 * second table that could drift from the routes:
 *  - auth: any authenticated principal (a session or an API token);
 *  - session: an interactive login only; API tokens are refused (token management, MFA);
 *  - permission: the principal's effective permissions include it (an API token: its own list);
 *    with `byObject`, the handler also demands the permission listed for the kind of object the
 *    request names (cancelling a job: the permission that starts a job of its kind), so the
 *    route needs both; with `session`, an API token is refused even when it holds the permission
 *    (an admin acting on another user's credentials: a password reset);
 *  - device: a device certificate (agent routes).
 */
export type Guard =
  | {kind: 'auth'}
  | {kind: 'session'}
  | {kind: 'permission'; permission: Permission; byObject?: Readonly<Record<string, Permission>>; session?: true}
  | {kind: 'device'}

const GUARD = Symbol('tether.guard')

export function declareGuard<T extends object>(hook: T, guard: Guard): T {
  Object.defineProperty(hook, GUARD, {value: guard})
  return hook
}

/** The guard declared by a route's hook (or the first of several hooks that declares one). */
export function guardOf(hooks: unknown): Guard | null {
  for (const hook of Array.isArray(hooks) ? hooks : [hooks]) {
    const guard = (hook as {[GUARD]?: Guard} | null | undefined)?.[GUARD]
    if (guard) return guard
  }
  return null
}
