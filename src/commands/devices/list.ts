import {Flags} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import {tableFlags, tableView} from '../../shared/table.js'
import type {Device} from '../../client/admin-api.js'

export interface DevicesListResult {
  devices: Device[]
}

export default class DevicesList extends TetherCommand {
  static override description = 'List devices in your scope.'
  static override examples = [
    '<%= config.bin %> devices list',
    '<%= config.bin %> devices list --customer st-mary --site st-mary-icu',
    '<%= config.bin %> devices list --label room=3 --json',
    '<%= config.bin %> devices list --columns serial,state --csv --no-header',
  ]
  static override enableJsonFlag = true
  static override flags = {
    ...tableFlags,
    customer: Flags.string({description: 'Only devices of this customer.'}),
    site: Flags.string({description: 'Only devices at this site.'}),
    label: Flags.string({description: 'Only devices with this KEY=VALUE label (repeatable; all must match).', multiple: true}),
  }

  async run(): Promise<DevicesListResult> {
    const {flags} = await this.parse(DevicesList)
    const {parseLabels} = await import('../../client/cli-input.js')
    const wanted = Object.entries(parseLabels(flags.label))
    const {withApi} = await import('../../client/session.js')
    const all = await withApi((api) => api.listDevices({customer: flags.customer, site: flags.site}))
    // The API filters by customer and site; labels are matched here.
    const devices = all.filter((d) => wanted.every(([k, v]) => d.labels[k] === v))
    if (!this.jsonEnabled()) {
      const {devicesTable} = await import('../../client/render.js')
      this.log(devices.length ? devicesTable(devices, tableView(flags)) : 'No devices.')
    }
    return {devices}
  }
}
