import {Args, Flags} from '@oclif/core'
import type {Job} from '../../client/jobs-api.js'
import {ResultWithExitCode, TetherCommand} from '../../shared/command.js'

export default class LogsRequest extends TetherCommand {
  static override description = `Ask a device to collect its logs and upload them as an encrypted bundle.

Without --wait, prints the job id and exits 8 (accepted, still running). With --wait, waits for the upload and prints the bundle id (then: tether logs pull ID); exit 8 when --timeout passes first, and a server restart meanwhile is waited out (exit 7 only if the server is still unreachable when --timeout passes). An offline device collects when it connects (until --ttl).`
  static override examples = [
    '<%= config.bin %> logs request SN-1234 --since 24h --wait',
    'ID=$(<%= config.bin %> logs request SN-1234 --wait --json | jq -r .result.bundleId) && <%= config.bin %> logs pull "$ID" -o sn-1234.tar.gz',
  ]
  static override enableJsonFlag = true
  static override args = {serial: Args.string({description: 'Device serial.', required: true})}
  static override flags = {
    since: Flags.string({description: 'Only log files modified since then: a duration back from now (24h) or an ISO-8601 time.'}),
    wait: Flags.boolean({description: 'Wait until the bundle is stored.'}),
    timeout: Flags.string({description: 'With --wait: how long to wait.', default: '30m'}),
    ttl: Flags.string({description: 'How long the job may wait for an offline device before it expires.', default: '24h'}),
  }

  async run(): Promise<Job> {
    const {args, flags} = await this.parse(LogsRequest)
    const {parseDuration} = await import('../../shared/duration.js')
    const {parseTime} = await import('../../client/cli-input.js')
    const timeoutMs = parseDuration(flags.timeout, '--timeout')
    const ttlSeconds = Math.ceil(parseDuration(flags.ttl, '--ttl') / 1000)
    const since = parseTime(flags.since, '--since')
    const {withJobsApi, jobOutcome, waitForJobCli} = await import('../../client/jobs-cli.js')
    const job = await withJobsApi(async (api) => {
      const created = await api.requestLogs(args.serial, {...(since ? {since} : {}), ttlSeconds})
      if (!flags.wait) return created
      return waitForJobCli(api, created, {timeoutMs, intervalMs: 4000, say: this.jsonEnabled() ? undefined : (line) => this.logToStderr(line)})
    })
    const outcome = jobOutcome(job)
    if (!this.jsonEnabled()) {
      const result = job.result as {bundleId?: string; size?: number} | null
      if (outcome === null) this.log(result?.bundleId ? `Bundle ${result.bundleId} stored (${result.size ?? '?'} bytes): tether logs pull ${result.bundleId}` : `Job ${job.id} succeeded.`)
      else if (outcome.code === 'PENDING') this.log(job.id)
    }
    if (outcome) throw new ResultWithExitCode(outcome.message, job, outcome.exitCode, outcome.code)
    return job
  }
}
