import {Flags} from '@oclif/core'
import {agentDataDirFlag} from '../../agent/cli-flags.js'
import type {SelfCheckResult} from '../../agent/self-check.js'
import {ResultWithExitCode, TetherCommand} from '../../shared/command.js'
import {ExitCode} from '../../shared/errors.js'
import {paint, renderTable} from '../../shared/output.js'

export default class AgentCheck extends TetherCommand {
  static override summary = 'Check, on the device, everything the agent depends on: config, certificate, route, TLS, clock, spool.'
  static override description = `Runs the checks in the order the agent needs them: agent.json is valid, the device certificate matches its key and is not about to expire, the server answers on the agent's route (direct or through the proxy, with the check-ports engine), the server's certificate is signed by the CA pinned at enrolment (not re-signed by an inspecting proxy), the device clock agrees with the server's, and the spool has room for a log bundle. A check whose inputs failed is skipped.

Exit codes: 0 all passed (warnings allowed), 1 a check failed, 2 usage error.`

  static override examples = [
    '<%= config.bin %> agent check',
    '<%= config.bin %> agent check --json',
    '<%= config.bin %> agent check --proxy http://proxy.hospital.local:3128 --timeout 10',
    '<%= config.bin %> agent check --data-dir /var/lib/tether-agent',
  ]

  static override enableJsonFlag = true
  static override flags = {
    proxy: Flags.string({description: 'Check through this proxy instead of the one in agent.json (as `agent start --proxy`).', helpValue: 'URL'}),
    timeout: Flags.integer({description: 'Seconds each network step may take.', default: 5, min: 1, max: 120}),
    'data-dir': agentDataDirFlag,
  }

  async run(): Promise<SelfCheckResult> {
    const {flags} = await this.parse(AgentCheck)
    const [{runSelfCheck}, {agentDataDir}] = await Promise.all([import('../../agent/self-check.js'), import('../../agent/data-dir.js')])
    const result = await runSelfCheck({dataDir: agentDataDir(flags['data-dir']), proxy: flags.proxy, timeoutMs: flags.timeout * 1000})
    if (!this.jsonEnabled()) {
      const mark = {pass: paint('green', 'PASS'), warn: paint('yellow', 'WARN'), fail: paint('red', 'FAIL'), skip: paint('dim', 'SKIP')}
      this.log(renderTable(['Check', 'Result', 'Detail'], result.checks.map((c) => [c.title, mark[c.status], c.hint ? `${c.detail}\n→ ${c.hint}` : c.detail])))
    }
    const failed = result.checks.filter((c) => c.status === 'fail')
    if (failed.length > 0) throw new ResultWithExitCode(`${failed.length} check(s) failed: ${failed.map((c) => c.name).join(', ')}`, result, ExitCode.FAILED)
    if (!this.jsonEnabled()) this.log(paint('green', `All checks passed${result.checks.some((c) => c.status === 'warn') ? ' (with warnings)' : ''}: the agent can reach ${result.server} ${result.route}.`))
    return result
  }
}
