import {Args, Flags} from '@oclif/core'
import type {LogBundle} from '../../client/jobs-api.js'
import {TetherCommand} from '../../shared/command.js'

export interface LogsPullResult {
  bundle: LogBundle
  file: string | null
  bytes: number
  sha256: string
  elapsedMs: number
}

export default class LogsPull extends TetherCommand {
  static override description = `Download a log bundle (a tar.gz), decrypted by the server, and verify its SHA-256.

ID is a bundle id, or a device serial for that device's newest bundle. The file appears complete or not at all (temp file + rename); on a checksum mismatch or a broken download it is deleted and the exit code is 1. A progress bar is drawn on stderr when it is a terminal. Every download is audited.`
  static override examples = [
    '<%= config.bin %> logs pull SN-1234',
    '<%= config.bin %> logs pull 5d0c… -o bundle.tar.gz',
    '<%= config.bin %> logs pull SN-1234 -o - | tar tzf -',
    'TETHER_SERVER=https://support:8443 TETHER_TOKEN=… <%= config.bin %> logs pull SN-1234 -o /srv/logs/SN-1234.tar.gz --json',
  ]
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Bundle id, or a device serial (its newest bundle).', required: true})}
  static override flags = {
    output: Flags.string({char: 'o', description: 'File to write, or - for stdout. Default: SERIAL-BUNDLEID.tar.gz in the current directory.'}),
  }

  async run(): Promise<LogsPullResult> {
    const {args, flags} = await this.parse(LogsPull)
    const {UsageError} = await import('../../shared/errors.js')
    if (flags.output === '-' && this.jsonEnabled()) throw new UsageError('--json needs -o FILE (the bundle itself goes to stdout with -o -)')
    const {withJobsApi} = await import('../../client/jobs-cli.js')
    const {pullBundle, terminalProgress} = await import('../../client/logs-pull.js')
    const result = await withJobsApi(async (api) => {
      // A serial names the newest bundle: resolve it once, so the default file name has the real id.
      const bundle = await api.getBundle(args.id)
      const dest = flags.output === '-' ? process.stdout : (flags.output ?? `${bundle.serial}-${bundle.id}.tar.gz`)
      return pullBundle(api, bundle, dest, await terminalProgress('logs'))
    })
    if (!this.jsonEnabled() && result.file) {
      const mbps = result.bytes / 1e6 / Math.max(0.001, result.elapsedMs / 1000)
      this.logToStderr(`Wrote ${result.bytes} bytes to ${result.file} (SHA-256 ${result.sha256} verified, ${mbps.toFixed(1)} MB/s).`)
    }
    return result
  }
}
