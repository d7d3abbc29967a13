import {agentDataDirFlag} from '../../agent/cli-flags.js'
import type {AgentStatusReport} from '../../agent/status-report.js'
import {ResultWithExitCode, TetherCommand} from '../../shared/command.js'
import {ExitCode} from '../../shared/errors.js'
import {renderFields} from '../../shared/output.js'

export default class AgentStatus extends TetherCommand {
  static override description = `Show the device agent's connection state, server, access mode and last error.

Also the server's audit checkpoint key pinned by this device (or that the server now offers another one, whose checkpoints are not accepted) and the latest checkpoint it witnessed.

Reads status.json, written by the running agent. Exit code 0 when the agent runs and is connected, 1 otherwise (not running, connecting, waiting to retry, revoked).`

  static override examples = ['<%= config.bin %> agent status', '<%= config.bin %> agent status --json', '<%= config.bin %> agent status --data-dir /var/lib/tether-agent']
  static override enableJsonFlag = true
  static override flags = {'data-dir': agentDataDirFlag}

  async run(): Promise<AgentStatusReport> {
    const {flags} = await this.parse(AgentStatus)
    const [{statusReport}, {agentDataDir}] = await Promise.all([import('../../agent/status-report.js'), import('../../agent/data-dir.js')])
    const report = await statusReport(agentDataDir(flags['data-dir']))
    if (!this.jsonEnabled()) {
      this.log(renderFields([
        ['state', report.running ? report.state : `${report.state} (agent not running)`],
        ['server', report.server],
        ['serial', report.serial],
        ['route', report.proxy ? `via proxy ${report.proxy}` : 'direct'],
        ['access mode', report.mode + (report.modeUntil ? ` until ${report.modeUntil}` : '')],
        ['connected since', report.connectedSince],
        ['next retry', report.nextRetryAt],
        ['last error', report.lastError ? `${report.lastError} (${report.lastErrorAt})` : null],
        ['outbox', `${report.outboxPending} event(s) waiting for the server`],
        ['remote sessions', report.sessions.length === 0 ? 'none' : report.sessions.map((s) => `${s.id}: ${s.user} → ${s.target} since ${s.since}${s.reason ? ` (${s.reason})` : ''}`).join('\n')],
        ['checkpoint key', checkpointKeyText(report)],
        ['audit witness', report.witness ? `seq ${report.witness.seq}, hash ${report.witness.hash.slice(0, 12)}…, signed ${report.witness.time} (key ${report.witness.keyId})` : 'none yet'],
        ['updated', report.updatedAt],
      ]))
    }
    if (report.state !== 'connected') throw new ResultWithExitCode(`agent is ${report.running ? report.state : 'not running'}${report.lastError ? `: ${report.lastError}` : ''}`, report, ExitCode.FAILED, 'NOT_CONNECTED')
    return report
  }
}

function checkpointKeyText({checkpointKey: key}: AgentStatusReport): string {
  if (!key) return 'none pinned yet (the server has sent none)'
  if (key.previousKeyId) return `${key.keyId} (pinned ${key.pinnedAt}; the server changed keys, was ${key.previousKeyId}: see tether agent audit)`
  return `pinned ${key.keyId} (since ${key.pinnedAt})`
}
