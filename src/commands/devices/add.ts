import {Flags} from '@oclif/core'
import {deviceIdentityFlags} from '../../client/device-flags.js'
import {TetherCommand} from '../../shared/command.js'
import type {Device} from '../../client/admin-api.js'

export default class DevicesAdd extends TetherCommand {
  static override description = 'Register a device before it is enrolled (devices:manage).'
  static override examples = [
    '<%= config.bin %> devices add --serial SN-1234 --model "Analyzer X200" --customer st-mary --site st-mary-icu --label room=3',
  ]
  static override enableJsonFlag = true
  static override flags = {
    ...deviceIdentityFlags,
    label: Flags.string({description: 'KEY=VALUE label (repeatable).', multiple: true}),
  }

  async run(): Promise<Device> {
    const {flags} = await this.parse(DevicesAdd)
    const {parseLabels} = await import('../../client/cli-input.js')
    const labels = flags.label ? parseLabels(flags.label) : undefined
    const {withApi} = await import('../../client/session.js')
    const device = await withApi((api) => api.createDevice({serial: flags.serial, model: flags.model, customer: flags.customer, site: flags.site, labels}))
    if (!this.jsonEnabled()) this.log(`Device ${device.serial} (${device.model}) registered for ${device.customer}${device.site ? `/${device.site}` : ''}.`)
    return device
  }
}
