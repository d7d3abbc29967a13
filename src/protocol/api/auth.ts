import {z} from 'zod'
import {PermissionName, RoleName, Scope, Timestamp} from './common.js'

export const Username = z.string().regex(/^[a-zA-Z0-9._@-]{2,64}$/, '2-64 letters, digits, or . _ @ -')

export const UserView = z.strictObject({
  id: z.string(),
  username: z.string(),
  displayName: z.string().nullable(),
  role: RoleName,
  mfaEnabled: z.boolean(),
  disabled: z.boolean(),
  scope: Scope,
  createdAt: Timestamp,
})
export type UserView = z.infer<typeof UserView>

// POST /auth/login
export const LoginRequest = z.strictObject({
  username: z.string().min(1).max(64),
  password: z.string().min(1).max(1024),
  totp: z.string().regex(/^\d{6}$/, 'six digits').optional(),
})
export const TokenPair = z.strictObject({
  accessToken: z.string(),
  /** Seconds until the access token expires. */
  expiresIn: z.number().int(),
  refreshToken: z.string(),
  /**
   * true when the user's role requires MFA and none is enrolled yet: the access token is
   * only good for /me and /me/mfa/* until enrolment is confirmed and the user logs in again.
   */
  mfaEnrollmentRequired: z.boolean(),
  user: UserView,
})
export type TokenPair = z.infer<typeof TokenPair>
// 401 {error: {code: 'MFA_REQUIRED'}} when a code is needed and was not given;
// 401 {error: {code: 'AUTH'}} for bad credentials (never says which part was wrong);
// 423 {error: {code: 'LOCKED'}} while the user or source address is locked out.

// POST /auth/refresh (rotates: the old refresh token stops working)
export const RefreshRequest = z.strictObject({refreshToken: z.string().min(1).max(512)})
// POST /auth/logout (revokes the refresh token) -> 204
export const LogoutRequest = RefreshRequest

// GET /me
export const MeResponse = z.strictObject({
  user: UserView,
  permissions: z.array(PermissionName),
  /** How this request was authenticated. */
  auth: z.enum(['session', 'api-token']),
  tokenName: z.string().optional(),
  mfaEnrollmentRequired: z.boolean(),
})
export type MeResponse = z.infer<typeof MeResponse>

// POST /me/mfa/enroll -> a new (not yet active) secret
export const MfaEnrollResponse = z.strictObject({secret: z.string(), otpauthUri: z.string()})
// POST /me/mfa/confirm {code} -> 204; MFA is active from now on
export const MfaConfirmRequest = z.strictObject({code: z.string().regex(/^\d{6}$/, 'six digits')})

// PUT /me/password (an interactive session only) -> TokenPair: a new session for the caller, whose
// access and refresh tokens replace the old ones; every other session of the user ends. API
// tokens are separate credentials and stay (tether tokens list / revoke).
// 400 names body.currentPassword (not the current one; counts toward the login throttle) or
// body.newPassword (the strength rule); 409 for an SSO user (no local password).
export const ChangePasswordRequest = z.strictObject({
  currentPassword: z.string().min(1).max(1024),
  newPassword: z.string().min(1).max(1024),
})
