import {Args, Flags} from '@oclif/core'
import type {ListenerStats} from '../../client/tunnel-listener.js'
import {TetherCommand} from '../../shared/command.js'

export interface TunnelsOpenResult {
  listen: string
  device: string
  target: string
  stats: ListenerStats
}

export default class TunnelsOpen extends TetherCommand {
  static override description = `Forward a local port to a port on a device, through its agent, until Ctrl-C.

Listens on loopback by default (another address only when you ask with --listen). Each local connection becomes one tunnel stream with its own connections end to end; on a terminal a live line shows streams and bytes each way. The device decides whether each stream is allowed (access mode, allowed ports or targets, approval). Every stream is audited on the server and on the device with your name, the target and --reason.`

  static override examples = [
    '<%= config.bin %> tunnels open SN-1234 --port 5900 --listen 127.0.0.1:15900 --reason INC-4711   # then: vncviewer 127.0.0.1::15900',
    '<%= config.bin %> tunnels open SN-1234 --port 443 --host 10.1.2.3   # a service page the device allows, on a free local port',
  ]

  static override enableJsonFlag = true
  static override args = {serial: Args.string({description: 'Device serial.', required: true})}
  static override flags = {
    port: Flags.integer({description: 'Port on the device (or on --host) to reach.', required: true, min: 1, max: 65535}),
    host: Flags.string({description: 'A host on the device\'s network that the device allows; default: the device itself.'}),
    listen: Flags.string({description: 'Local address to listen on, HOST:PORT or PORT (default 127.0.0.1 and a free port).', helpValue: 'HOST:PORT'}),
    reason: Flags.string({description: 'Why (e.g. an incident number): recorded in the audit.'}),
  }

  async run(): Promise<TunnelsOpenResult> {
    const {args, flags} = await this.parse(TunnelsOpen)
    const {serveUntilSignal} = await import('../../client/tunnels-cli.js')
    return serveUntilSignal(
      {serial: args.serial, port: flags.port, host: flags.host, reason: flags.reason},
      flags.listen,
      this.jsonEnabled() ? () => undefined : (line) => this.logToStderr(line),
    )
  }
}
