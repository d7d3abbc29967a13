import {Flags} from '@oclif/core'
import type {PublishOutcome} from '../../client/updates-publish.js'
import {TetherCommand} from '../../shared/command.js'

export default class UpdatesPublish extends TetherCommand {
  static override description = `Publish a signed release repository to the server (permission updates:publish).

Sends REPO/metadata (every <N>.root.json and targets.json; never REPO/keys). The server checks every signature against the root it trusts before anything is stored: the first publish to a server establishes its root from 1.root.json (audited); later roots must be signed by the previous root's threshold and their own. Then only the packages the server does not hold yet are uploaded from REPO/targets, streamed and checked against their signed length and hashes, and the release goes live with a snapshot and timestamp the server signs with its online keys. Audited as updates.published.`
  static override examples = ['<%= config.bin %> updates publish --dir ./release-repo', '<%= config.bin %> updates publish --dir ./release-repo --json']
  static override enableJsonFlag = true
  static override flags = {
    dir: Flags.string({description: 'The release repository (made by `tether updates repo init` and `tether updates add`).', required: true}),
  }

  async run(): Promise<PublishOutcome> {
    const {flags} = await this.parse(UpdatesPublish)
    const {withUpdatesApi} = await import('../../client/updates-api.js')
    const {publishRepo} = await import('../../client/updates-publish.js')
    const {humanBytes} = await import('../../client/jobs-cli.js')
    const say = this.jsonEnabled() ? undefined : (line: string) => this.logToStderr(line)
    const result = await withUpdatesApi((api) =>
      publishRepo(api, flags.dir, say && ((p) => say(`Uploading ${p.index}/${p.total}: ${p.path} (${humanBytes(p.bytes)})`))),
    )
    if (!this.jsonEnabled()) {
      const roots = result.newRoots.length > 0 ? `; new root version(s) ${result.newRoots.join(', ')}${result.firstPublish ? ' (first publish: this server now trusts this root)' : ''}` : ''
      this.log(`Published targets.json version ${result.targetsVersion} (root ${result.rootVersion}${roots}).`)
      this.log(`Added ${result.added.length}, removed ${result.removed.length}; uploaded ${result.uploaded.length} package(s) (${humanBytes(result.uploadedBytes)}), ${result.skipped.length} already on the server.`)
    }
    return result
  }
}
