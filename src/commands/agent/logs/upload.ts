import {Flags} from '@oclif/core'
import {agentDataDirFlag} from '../../../agent/cli-flags.js'
import type {AgentLogsUploadResult} from '../../../agent/logs/device-upload.js'
import {TetherCommand} from '../../../shared/command.js'
import {parseDuration} from '../../../shared/duration.js'
import {renderFields} from '../../../shared/output.js'

export default class AgentLogsUpload extends TetherCommand {
  static override description = `Collect this device's logs and upload them to the support center (device-initiated).

Packs the files named by agent.json logSources (optionally only those modified within --since) into a gzip'd tar in the data dir's spool, then uploads it in chunks over its own mutual-TLS connection (through the agent's proxy, if any). An interrupted upload resumes from the last offset the server committed: run the command again, or let the running agent finish it. Works with or without the agent daemon running. Exit 7 when the server stays unreachable.`

  static override examples = [
    '<%= config.bin %> agent logs upload',
    '<%= config.bin %> agent logs upload --since 24h',
    '<%= config.bin %> agent logs upload --since 2h --json',
    '<%= config.bin %> agent logs upload --data-dir /var/lib/tether-agent',
  ]

  static override enableJsonFlag = true
  static override flags = {
    since: Flags.string({description: 'Only files modified within this long (e.g. 2h, 24h, 7d).', helpValue: 'DURATION'}),
    proxy: Flags.string({description: 'HTTP proxy for this upload (overrides agent.json and HTTPS_PROXY).', helpValue: 'URL'}),
    'data-dir': agentDataDirFlag,
  }

  async run(): Promise<AgentLogsUploadResult> {
    const {flags} = await this.parse(AgentLogsUpload)
    const sinceMs = flags.since === undefined ? undefined : parseDuration(flags.since, '--since')
    const [{uploadDeviceLogs}, {agentDataDir}] = await Promise.all([import('../../../agent/logs/device-upload.js'), import('../../../agent/data-dir.js')])
    const result = await uploadDeviceLogs({dataDir: agentDataDir(flags['data-dir']), sinceMs, proxy: flags.proxy, onProgress: this.progressPrinter()})
    if (!this.jsonEnabled()) {
      this.log(renderFields([
        ['bundle', result.bundleId],
        ['serial', result.serial],
        ['files', result.files],
        ['size', `${result.size} bytes`],
        ['sha256', result.sha256],
        ['since', result.since],
        ['resumed from', result.resumedFrom > 0 && result.resumedFrom < result.size ? `byte ${result.resumedFrom}` : null],
      ]))
    }
    return result
  }

  /** A one-line percentage on stderr, only on a terminal (scripts and --json get none). */
  private progressPrinter(): ((done: number, total: number) => void) | undefined {
    if (!process.stderr.isTTY || this.jsonEnabled()) return undefined
    return (done, total) => {
      process.stderr.write(`\ruploading ${Math.floor((done / total) * 100)}% (${done}/${total} bytes)`)
      if (done >= total) process.stderr.write('\n')
    }
  }
}
