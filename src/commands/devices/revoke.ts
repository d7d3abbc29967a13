import {Args} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import type {Revoked} from '../../client/devices-enrollment.js'

export default class DevicesRevoke extends TetherCommand {
  static override description =
    'Revoke a device certificate (devices:manage): a connected agent is cut off at once and cannot reconnect until enrolled again. Audited.'
  static override examples = ['<%= config.bin %> devices revoke SN-1234', '<%= config.bin %> devices revoke SN-1234 --json']
  static override enableJsonFlag = true
  static override args = {serial: Args.string({description: 'Serial number.', required: true})}

  async run(): Promise<Revoked> {
    const {args} = await this.parse(DevicesRevoke)
    const {withApi} = await import('../../client/session.js')
    const {revokeDevice} = await import('../../client/devices-enrollment.js')
    const result = await withApi((api) => revokeDevice(api, args.serial))
    if (!this.jsonEnabled()) {
      this.log(`Device ${result.serial} revoked at ${result.revokedAt}${result.disconnected ? '; its live connection was cut' : ''}.`)
    }
    return result
  }
}
