import {z} from 'zod'

/**
 * The server's public online keys (snapshot and timestamp), as `tether server updates-keys` prints
 * them and `tether updates repo init|rotate-root --online-keys FILE` reads them: the offline root
 * must name these keys, so the release machine needs them once, and only their public halves.
 *
 * Each entry is a TUF key in the spec's own form (keytype/scheme/keyval.public) plus its key id:
 * the hex SHA-256 of the canonical JSON of {keytype, keyval, scheme}. The reader recomputes the id
 * and refuses a file whose id does not match its key.
 */
export const TufEd25519PublicKey = z.strictObject({
  keyid: z.string().regex(/^[0-9a-f]{64}$/, 'a key id: 64 lower-case hex characters'),
  keytype: z.literal('ed25519'),
  scheme: z.literal('ed25519'),
  keyval: z.strictObject({public: z.string().regex(/^[0-9a-f]{64}$/, 'an Ed25519 public key: 64 lower-case hex characters')}),
})
export type TufEd25519PublicKey = z.infer<typeof TufEd25519PublicKey>

export const OnlinePublicKeys = z.strictObject({
  snapshot: z.array(TufEd25519PublicKey).min(1).max(8),
  timestamp: z.array(TufEd25519PublicKey).min(1).max(8),
})
export type OnlinePublicKeys = z.infer<typeof OnlinePublicKeys>
