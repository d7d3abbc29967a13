import {z} from 'zod'
import {TokenPair} from './auth.js'

// Single sign-on with the company's OpenID Connect provider (docs/sso.md).

// POST /auth/sso/start: the CLI's loopback redirect URI -> where to send the browser
export const SsoStartRequest = z.strictObject({redirectUri: z.string().min(1).max(200)})
export const SsoStartResponse = z.strictObject({
  /** Secret of this sign-in; not in the URL, so only the CLI that started it can finish it. */
  loginId: z.string(),
  authorizationUrl: z.string(),
  expiresAt: z.string(),
})
export type SsoStartResponse = z.infer<typeof SsoStartResponse>

// POST /auth/sso/callback: the full URL the loopback listener received -> TokenPair;
// 401 MFA_REQUIRED when Tether's TOTP must follow (POST /auth/sso/totp with the same loginId).
export const SsoCallbackRequest = z.strictObject({loginId: z.string().min(1).max(128), callbackUrl: z.string().min(1).max(8192)})
export const SsoTotpRequest = z.strictObject({loginId: z.string().min(1).max(128), totp: z.string().regex(/^\d{6}$/, 'six digits')})

// POST /auth/sso/device/start {} -> the IdP's device authorization grant (RFC 8628), started by
// the server (it holds the client secret); 400 USAGE naming --device when the IdP offers none.
export const SsoDeviceStartRequest = z.strictObject({})
export const SsoDeviceStartResponse = z.strictObject({
  loginId: z.string(),
  /** What the user types at verificationUri (on any device with a browser). */
  userCode: z.string(),
  verificationUri: z.string(),
  /** verificationUri with the code filled in, when the IdP offers one. */
  verificationUriComplete: z.string().nullable(),
  /** Seconds between polls. */
  interval: z.number().int().positive(),
  expiresAt: z.string(),
})
export type SsoDeviceStartResponse = z.infer<typeof SsoDeviceStartResponse>

// POST /auth/sso/device/poll {loginId}: one look at the IdP's token endpoint per call;
// 401 MFA_REQUIRED when Tether's TOTP must follow (POST /auth/sso/totp with the same loginId).
export const SsoDevicePollRequest = z.strictObject({loginId: z.string().min(1).max(128)})
export const SsoDevicePollResponse = z.discriminatedUnion('status', [
  z.strictObject({status: z.literal('pending'), interval: z.number().int().positive()}),
  z.strictObject({status: z.literal('signed-in'), tokens: TokenPair}),
])
export type SsoDevicePollResponse = z.infer<typeof SsoDevicePollResponse>
