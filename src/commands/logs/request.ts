import {Args, Flags} from '@oclif/core'
import type {Job} from '../../client/jobs-api.js'
import type {FleetFilter, FleetResult} from '../../client/logs-fleet.js'
import {fleetExit, fleetFilter, fleetFlags} from '../../client/fleet-flags.js'
import {ResultWithExitCode, TetherCommand} from '../../shared/command.js'
import {UsageError} from '../../shared/errors.js'

export default class LogsRequest extends TetherCommand {
  static override description = `Ask a device (or every matching device) to collect its logs and upload them as an encrypted bundle.

Many devices: --customer C [--site S] [--label k=v ...] [--model M] asks every enrolled device of that customer in your scope (devices outside it are never asked), --concurrency at a time. A terminal shows one line per device; the end is a table (device, state, size, time, error) or --json. Exit 0 only when every device succeeded; 1 otherwise (offline devices are listed: their job waits for them until --ttl, and is not waited for); without --wait, 8 when every request was accepted.

Without --wait, prints the job id and exits 8 (accepted, still running). With --wait, waits for the upload and prints the bundle id (then: tether logs pull ID); exit 8 when --timeout passes first, and a server restart meanwhile is waited out (exit 7 only if the server is still unreachable when --timeout passes). An offline device collects when it connects (until --ttl).`
  static override examples = [
    '<%= config.bin %> logs request SN-1234 --since 24h --wait',
    '<%= config.bin %> logs request --customer st-mary --model "Analyzer X200" --since 24h --wait',
    '<%= config.bin %> logs request --customer st-mary --site st-mary-icu --label room=3 --wait --json',
    'ID=$(<%= config.bin %> logs request SN-1234 --wait --json | jq -r .result.bundleId) && <%= config.bin %> logs pull "$ID" -o sn-1234.tar.gz',
  ]
  static override enableJsonFlag = true
  static override args = {serial: Args.string({description: 'Device serial (or use --customer for many devices).'})}
  static override flags = {
    since: Flags.string({description: 'Only log files modified since then: a duration back from now (24h) or an ISO-8601 time.'}),
    wait: Flags.boolean({description: 'Wait until the bundle is stored.'}),
    timeout: Flags.string({description: 'With --wait: how long to wait.', default: '30m'}),
    ttl: Flags.string({description: 'How long the job may wait for an offline device before it expires.', default: '24h'}),
    ...fleetFlags,
    concurrency: Flags.integer({description: 'With --customer: devices asked (and waited for) at a time.', default: 8, min: 1, max: 64}),
  }

  async run(): Promise<Job | FleetResult> {
    const {args, flags} = await this.parse(LogsRequest)
    const filter = fleetFilter(args.serial, flags)
    if (filter) return this.fleet(filter, flags)
    const {serial} = args
    if (!serial) throw new UsageError('name a device serial, or --customer C for many devices')
    const {parseDuration} = await import('../../shared/duration.js')
    const {parseTime} = await import('../../client/cli-input.js')
    const timeoutMs = parseDuration(flags.timeout, '--timeout')
    const ttlSeconds = Math.ceil(parseDuration(flags.ttl, '--ttl') / 1000)
    const since = parseTime(flags.since, '--since')
    const {withJobsApi, jobOutcome, waitForJobCli} = await import('../../client/jobs-cli.js')
    const job = await withJobsApi(async (api) => {
      const created = await api.requestLogs(serial, {...(since ? {since} : {}), ttlSeconds})
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

  private async fleet(filter: FleetFilter, flags: {since?: string; wait: boolean; timeout: string; ttl: string; concurrency: number}): Promise<FleetResult> {
    const {parseDuration} = await import('../../shared/duration.js')
    const {parseTime} = await import('../../client/cli-input.js')
    const {withJobsApi} = await import('../../client/jobs-cli.js')
    const {requestFleetLogs, selectDevices} = await import('../../client/logs-fleet.js')
    const {terminalFleetProgress, fleetTable} = await import('../../client/fleet-progress.js')
    const since = parseTime(flags.since, '--since')
    const options = {
      ...(since ? {since} : {}),
      ttlSeconds: Math.ceil(parseDuration(flags.ttl, '--ttl') / 1000),
      timeoutMs: parseDuration(flags.timeout, '--timeout'),
      wait: flags.wait,
      concurrency: flags.concurrency,
      progress: this.jsonEnabled() ? undefined : terminalFleetProgress(),
    }
    const result = await withJobsApi(async (api) => requestFleetLogs(api, await selectDevices(api, filter), options))
    if (!this.jsonEnabled()) this.log(fleetTable(result))
    return fleetExit(result, flags.wait)
  }
}
