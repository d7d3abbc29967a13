import {Flags} from '@oclif/core'

/** The registry identity of a device, as `devices add` and `devices enroll-token` take it. */
export const deviceIdentityFlags = {
  serial: Flags.string({description: 'Serial number (letters, digits, . _ -).', required: true}),
  model: Flags.string({description: 'Model name.', required: true}),
  customer: Flags.string({description: 'Customer ID.', required: true}),
  site: Flags.string({description: 'Site ID.'}),
}
