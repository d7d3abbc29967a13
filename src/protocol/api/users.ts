import {z} from 'zod'
import {PermissionName, RoleName, Scope, Timestamp} from './common.js'
import {UserView, Username} from './auth.js'

// GET /users -> {users}; sso is the issuer of a user who signs in with SSO (docs/sso.md), null
// for a local account (absent from servers older than SSO).
export const UserListEntry = UserView.extend({sso: z.string().nullable().optional()})
export type UserListEntry = z.infer<typeof UserListEntry>
export const UserList = z.strictObject({users: z.array(UserListEntry)})

// POST /users (users:manage). Without a password the server generates one and returns it once.
export const CreateUserRequest = z.strictObject({
  username: Username,
  displayName: z.string().max(128).optional(),
  role: RoleName,
  password: z.string().min(1).max(1024).optional(),
  scope: Scope.optional(),
})
export const CreateUserResponse = z.strictObject({user: UserView, initialPassword: z.string().optional()})

// GET /users/:username -> UserView
// POST /users/:username/disable, /enable -> UserView (disable revokes every token at once)
// POST /users/:username/password (users:manage, an interactive session only): sets a new
// password (generated and returned once when none is given) and ends the user's sessions;
// 409 for an SSO user (no local password).
export const ResetPasswordRequest = z.strictObject({password: z.string().min(1).max(1024).optional()})
export const ResetPasswordResponse = z.strictObject({user: UserView, generatedPassword: z.string().optional()})
// PUT /users/:username/role
export const SetRoleRequest = z.strictObject({role: RoleName})
// PUT /users/:username/scope
export const SetScopeRequest = Scope

// Tokens: GET /tokens, POST /tokens, DELETE /tokens/:id
export const TokenView = z.strictObject({
  id: z.string(),
  name: z.string(),
  username: z.string(),
  permissions: z.array(PermissionName),
  createdAt: Timestamp,
  expiresAt: Timestamp,
  revokedAt: Timestamp.nullable(),
  lastUsedAt: Timestamp.nullable(),
})
export type TokenView = z.infer<typeof TokenView>
export const TokenList = z.strictObject({tokens: z.array(TokenView)})
export const CreateTokenRequest = z.strictObject({
  name: z.string().regex(/^[a-zA-Z0-9._-]{1,64}$/, '1-64 letters, digits, or . _ -'),
  /** Default: all of the owner's permissions. Asking for more than the role has is a 400. */
  permissions: z.array(PermissionName).optional(),
  /** Lifetime in seconds; default 30 days, at most 365 days. */
  ttlSeconds: z.number().int().positive().max(365 * 86400).optional(),
})
/** `token` is the secret, shown this once: "tth_<id>_<secret>". */
export const CreateTokenResponse = z.strictObject({token: z.string(), info: TokenView})
// GET /tokens?user=NAME (another user's tokens: users:manage)
export const TokenListQuery = z.strictObject({user: z.string().min(1).max(64).optional()})
