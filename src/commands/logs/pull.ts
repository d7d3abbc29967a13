import {Args, Flags} from '@oclif/core'
import type {LogBundle} from '../../client/jobs-api.js'
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

For many devices at once: tether logs pull --customer C --since-request 1h -o DIR/ (see --help of those flags).`
  static override examples = [
    '<%= config.bin %> logs pull SN-1234',
    '<%= config.bin %> logs pull 5d0c… -o bundle.tar.gz',
    '<%= config.bin %> logs pull SN-1234 -o - | tar --zstd -tf -',
    '<%= config.bin %> logs pull SN-1234 --extract ./sn-1234-logs',
    'TETHER_SERVER=https://support:8443 TETHER_TOKEN=… <%= config.bin %> logs pull SN-1234 -o /srv/logs/SN-1234.tar.gz --json',
  ]
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Bundle id, or a device serial (its newest bundle).', required: true})}
  static override flags = {
    output: Flags.string({char: 'o', description: 'File to write, or - for stdout. Default: SERIAL-BUNDLEID.tar.zst (or .tar.gz, by the bundle\'s format) in the current directory.', exclusive: ['extract']}),
    extract: Flags.string({description: 'Unpack into this new directory instead of writing the archive.', exclusive: ['output']}),
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
}
