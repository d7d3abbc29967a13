import {Args, Flags} from '@oclif/core'
import type {Job} from '../../client/jobs-api.js'
import {ResultWithExitCode, TetherCommand} from '../../shared/command.js'

export default class DiagRun extends TetherCommand {
  static override description = `Run a named diagnostic on a device.

Without --wait, prints the job id and exits 8 (accepted, still running). With --wait, polls until the device answers and prints the result: exit 0 when it succeeded, 1 when the device refused or the diagnostic failed, 8 when --timeout passed first (the job keeps going). A server restart meanwhile is waited out (exit 7 only if the server is still unreachable when --timeout passes). An offline device gets the job when it connects (until --ttl).`
  static override examples = [
    '<%= config.bin %> diag run SN-1234 system-info --wait',
    '<%= config.bin %> diag run SN-1234 disk-usage --wait --json | jq .result',
    '<%= config.bin %> diag run SN-1234 network   # exit 8: poll with `tether jobs show ID`',
  ]
  static override enableJsonFlag = true
  static override args = {
    serial: Args.string({description: 'Device serial.', required: true}),
    name: Args.string({description: 'Diagnostic name (see `tether diag list SERIAL`).', required: true}),
  }
  static override flags = {
    wait: Flags.boolean({description: 'Wait for the result.'}),
    timeout: Flags.string({description: 'With --wait: how long to wait.', default: '60s'}),
    ttl: Flags.string({description: 'How long the job may wait for an offline device before it expires.', default: '24h'}),
  }

  async run(): Promise<Job> {
    const {args, flags} = await this.parse(DiagRun)
    const {parseDuration} = await import('../../shared/duration.js')
    const timeoutMs = parseDuration(flags.timeout, '--timeout')
    const ttlSeconds = Math.ceil(parseDuration(flags.ttl, '--ttl') / 1000)
    const {withJobsApi, jobOutcome, waitForJobCli} = await import('../../client/jobs-cli.js')
    const job = await withJobsApi(async (api) => {
      const created = await api.runDiagnostic(args.serial, {name: args.name, ttlSeconds})
      if (!flags.wait) return created
      return waitForJobCli(api, created, {timeoutMs, intervalMs: 2000, say: this.jsonEnabled() ? undefined : (line) => this.logToStderr(line)})
    })
    const outcome = jobOutcome(job)
    if (!this.jsonEnabled()) {
      if (outcome === null) this.log(typeof job.result === 'string' ? job.result : JSON.stringify(job.result, null, 2))
      else if (outcome.code === 'PENDING') this.log(job.id)
    }
    if (outcome) throw new ResultWithExitCode(outcome.message, job, outcome.exitCode, outcome.code)
    return job
  }
}
