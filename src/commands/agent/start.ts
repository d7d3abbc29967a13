import {Flags} from '@oclif/core'
import {agentDataDirFlag} from '../../agent/cli-flags.js'
import {TetherCommand} from '../../shared/command.js'

export interface AgentStartResult {
  signal: string
  state: string
}

export default class AgentStart extends TetherCommand {
  static override description = `Run the device agent in the foreground until SIGTERM or SIGINT.

Dials out to the support center (mutual TLS with the device certificate, optionally through an HTTP CONNECT proxy), keeps one control channel open and reconnects with capped exponential backoff and full jitter. It never listens on any port. Logs are JSON lines on stdout; the current state is kept in status.json for \`tether agent status\`.`

  static override examples = [
    '<%= config.bin %> agent start',
    '<%= config.bin %> agent start --data-dir /var/lib/tether-agent',
    'HTTPS_PROXY=http://proxy.hospital.local:3128 <%= config.bin %> agent start',
    '<%= config.bin %> agent start --proxy http://proxy.hospital.local:3128 --log-level debug',
  ]

  static override flags = {
    'data-dir': agentDataDirFlag,
    proxy: Flags.string({description: 'HTTP proxy for this run (overrides agent.json and HTTPS_PROXY).', helpValue: 'URL'}),
    'log-level': Flags.string({description: 'Level of the JSON logs on stdout.', options: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info'}),
  }

  async run(): Promise<AgentStartResult> {
    const {flags} = await this.parse(AgentStart)
    const [{pino}, {createAgent}, {agentDataDir}] = await Promise.all([import('pino'), import('../../agent/runtime.js'), import('../../agent/data-dir.js')])
    const log = pino({level: flags['log-level'], base: {pid: process.pid, name: 'tether-agent'}, timestamp: pino.stdTimeFunctions.isoTime})
    const dataDir = agentDataDir(flags['data-dir'])
    const {agent, config, route} = await createAgent({dataDir, proxy: flags.proxy, agentVersion: this.config.version, log})
    log.info({server: config.server, serial: config.serial, dataDir, route}, 'tether agent starting')

    let signal = ''
    const onSignal = (name: string) => () => {
      if (signal) return
      signal = name
      log.info({signal: name}, 'stopping')
      void agent.stop()
    }
    process.once('SIGTERM', onSignal('SIGTERM'))
    process.once('SIGINT', onSignal('SIGINT'))
    await agent.run()
    log.info({signal}, 'tether agent stopped')
    log.flush()
    return {signal, state: agent.state}
  }
}
