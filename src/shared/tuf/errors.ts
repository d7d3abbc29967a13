import {TetherError} from '../errors.js'

/** Which rule a TUF document broke: the server's publish answer and the tests name it. */
export type TufCheck =
  | 'malformed' // not TUF metadata of the expected role, or a field out of shape
  | 'threshold' // fewer valid signatures than the role's threshold
  | 'root-version' // a new root that is not exactly the next version
  | 'expired' // past its `expires`
  | 'targets-version' // a targets.json not newer than the one already accepted
  | 'target-custom' // a target without valid custom.tether (TargetCustom)
  | 'target-file' // a package whose length or hashes differ from its signed entry
  | 'online-keys' // a root that does not name enough of the server's snapshot/timestamp keys

/**
 * A TUF document that must not be trusted. `role` is the role (or `targets[<path>]`) at fault,
 * `check` the rule it broke; both are also in `details` for --json and the server's answer.
 */
export class TufMetadataError extends TetherError {
  constructor(
    readonly role: string,
    readonly check: TufCheck,
    message: string,
    options: {cause?: unknown} = {},
  ) {
    super(`${role}: ${message}`, {code: 'TUF_METADATA_INVALID', details: {role, check}, cause: options.cause})
  }
}
