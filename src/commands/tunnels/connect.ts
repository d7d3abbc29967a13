import {Args, Flags} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'

export default class TunnelsConnect extends TetherCommand {
  static override description = `Connect stdin and stdout to a port on a device, through its agent (one tunnel stream).

Made for OpenSSH's ProxyCommand, so ssh, scp and rsync reach a device's SSH port through Tether. The bytes on stdout are the device's only: every message and error goes to stderr. The device decides: its access mode, its allowed ports or targets, and (in approval-required mode) an approval for you. Exit 0 when the stream ends normally; refusals exit 3 (not logged in), 4 (refused by the server's permission or the device's policy), 5 (unknown device or out of your scope), 1 (nothing listens on the target), 7 (device offline, set-up timed out).`

  static override examples = [
    `ssh -o ProxyCommand='<%= config.bin %> tunnels connect SN-1234 --port 22 --reason INC-4711' service@sn-1234`,
    `scp -o ProxyCommand='<%= config.bin %> tunnels connect SN-1234 --port 22' service@sn-1234:/var/log/app.log .`,
    '<%= config.bin %> tunnels connect SN-1234 --host 10.1.2.3 --port 443   # a target the device allows on its network',
  ]

  static override args = {serial: Args.string({description: 'Device serial.', required: true})}
  static override flags = {
    port: Flags.integer({description: 'Port on the device (or on --host) to reach.', required: true, min: 1, max: 65535}),
    host: Flags.string({description: 'A host on the device\'s network that the device allows (--allow-target); default: the device itself.'}),
    reason: Flags.string({description: 'Why (e.g. an incident number): recorded in the audit on the server and the device.'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(TunnelsConnect)
    const {openStream, pipeStdio} = await import('../../client/tunnels-cli.js')
    const stream = await openStream({serial: args.serial, port: flags.port, host: flags.host, reason: flags.reason})
    await pipeStdio(stream)
  }
}
