import {Args, Flags} from '@oclif/core'
import type {LogBundle} from '../../client/jobs-api.js'
import {fleetExit, fleetFilter, fleetFlags} from '../../client/fleet-flags.js'
import type {FleetFilter, FleetResult} from '../../client/logs-fleet.js'
import {TetherCommand} from '../../shared/command.js'

export interface LogsPullResult {
  bundle: LogBundle
  file: string | null
  extractedTo: string | null
  bytes: number
  sha256: string
  elapsedMs: number
}

export default class LogsPull extends TetherCommand {
  static override description = `Download a log bundle (a tar.zst; bundles from older agents: tar.gz), decrypted by the server, and verify its SHA-256.

ID is a bundle id, or a device serial for that device's newest bundle. The file appears complete or not at all (temp file + rename); on a checksum mismatch or a broken download it is deleted and the exit code is 1. --extract DIR unpacks while downloading (no tar with zstd needed) into a new directory that appears only once the bundle verified; entries that would land outside DIR (../, absolute paths, links out of it) fail the pull. A progress bar is drawn on stderr when it is a terminal. Every download is audited.

Many devices: --customer C [--site S] [--label k=v ...] [--model M] --since-request 24h -o DIR/ pulls each matching device's newest bundle stored within that time into DIR/SERIAL-BUNDLEID.tar.zst, --concurrency at a time, one progress line per device on a terminal, then a table (or --json). Exit 0 only when every device had a bundle and it verified; 1 otherwise.`
  static override examples = [
    '<%= config.bin %> logs pull SN-1234',
    '<%= config.bin %> logs pull 5d0c… -o bundle.tar.gz',
    '<%= config.bin %> logs pull SN-1234 -o - | tar --zstd -tf -',
    '<%= config.bin %> logs pull SN-1234 --extract ./sn-1234-logs',
    '<%= config.bin %> logs pull --customer st-mary --model "Analyzer X200" --since-request 24h -o /srv/logs/st-mary/',
    'TETHER_SERVER=https://support:8443 TETHER_TOKEN=… <%= config.bin %> logs pull SN-1234 -o /srv/logs/SN-1234.tar.gz --json',
  ]
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Bundle id, or a device serial (its newest bundle); or use --customer for many devices.'})}
  static override flags = {
    output: Flags.string({char: 'o', description: 'File to write, or - for stdout. Default: SERIAL-BUNDLEID.tar.zst (or .tar.gz, by the bundle\'s format) in the current directory.', exclusive: ['extract']}),
    extract: Flags.string({description: 'Unpack into this new directory instead of writing the archive.', exclusive: ['output']}),
    ...fleetFlags,
    'since-request': Flags.string({description: 'With --customer: only bundles stored within this time (24h) or since this ISO-8601 time.', dependsOn: ['customer']}),
    concurrency: Flags.integer({description: 'With --customer: downloads at a time.', default: 8, min: 1, max: 64}),
  }

  async run(): Promise<LogsPullResult | FleetResult> {
    const {args, flags} = await this.parse(LogsPull)
    const {UsageError} = await import('../../shared/errors.js')
    const filter = fleetFilter(args.id, flags)
    if (filter) return this.fleet(filter, flags)
    if (!args.id) throw new UsageError('name a bundle id or device serial, or --customer C for many devices')
    const id = args.id
    if (flags.output === '-' && this.jsonEnabled()) throw new UsageError('--json needs -o FILE (the bundle itself goes to stdout with -o -)')
    const {withJobsApi} = await import('../../client/jobs-cli.js')
    const {pullBundle, terminalProgress} = await import('../../client/logs-pull.js')
    const result = await withJobsApi(async (api) => {
      // A serial names the newest bundle: resolve it once, so the default file name has the real id.
      const bundle = await api.getBundle(id)
      const dest = flags.extract ? {extract: flags.extract} : flags.output === '-' ? process.stdout : (flags.output ?? `${bundle.serial}-${bundle.id}.${bundle.format}`)
      return pullBundle(api, bundle, dest, await terminalProgress('logs'))
    })
    if (!this.jsonEnabled() && (result.file || result.extractedTo)) {
      const mbps = result.bytes / 1e6 / Math.max(0.001, result.elapsedMs / 1000)
      const where = result.file ? `Wrote ${result.bytes} bytes to ${result.file}` : `Unpacked ${result.bytes} bytes into ${result.extractedTo}`
      this.logToStderr(`${where} (SHA-256 ${result.sha256} verified, ${mbps.toFixed(1)} MB/s).`)
    }
    return result
  }

  private async fleet(filter: FleetFilter, flags: {'since-request'?: string; output?: string; extract?: string; concurrency: number}): Promise<FleetResult> {
    const {UsageError} = await import('../../shared/errors.js')
    if (!flags['since-request'] || !flags.output || flags.output === '-') throw new UsageError('with --customer: --since-request 24h and -o DIR/ (a directory) are needed', {details: {field: flags['since-request'] ? 'output' : 'since-request'}})
    if (flags.extract) throw new UsageError('--extract is for one bundle; with --customer, pull into -o DIR/ and unpack each', {details: {field: 'extract'}})
    const {parseTime} = await import('../../client/cli-input.js')
    const {withJobsApi} = await import('../../client/jobs-cli.js')
    const {pullFleetLogs, selectDevices} = await import('../../client/logs-fleet.js')
    const {terminalFleetProgress, fleetTable} = await import('../../client/fleet-progress.js')
    const since = parseTime(flags['since-request'], '--since-request')!
    const progress = this.jsonEnabled() ? undefined : terminalFleetProgress()
    const result = await withJobsApi(async (api) => pullFleetLogs(api, await selectDevices(api, filter), {since, dir: flags.output!, concurrency: flags.concurrency, progress}))
    if (!this.jsonEnabled()) this.log(fleetTable(result))
    return fleetExit(result, true)
  }
}
