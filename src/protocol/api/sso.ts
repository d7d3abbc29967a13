import {z} from 'zod'

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
