import {Args} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import type {Device} from '../../client/admin-api.js'

export default class DevicesShow extends TetherCommand {
  static override description = 'Show one device (not found also when it is outside your scope).'
  static override examples = ['<%= config.bin %> devices show SN-1234', '<%= config.bin %> devices show SN-1234 --json']
  static override enableJsonFlag = true
  static override args = {serial: Args.string({description: 'Serial number.', required: true})}

  async run(): Promise<Device> {
    const {args} = await this.parse(DevicesShow)
    const {withApi} = await import('../../client/session.js')
    const device = await withApi((api) => api.getDevice(args.serial))
    if (!this.jsonEnabled()) {
      const {deviceFields} = await import('../../client/render.js')
      this.log(deviceFields(device))
      if (device.inventory) this.log(`\nInventory:\n${JSON.stringify(device.inventory, null, 2)}`)
    }
    return device
  }
}
