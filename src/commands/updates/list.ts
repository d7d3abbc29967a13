import type {UpdateTargetList} from '../../protocol/api/updates.js'
import {TetherCommand} from '../../shared/command.js'

export default class UpdatesList extends TetherCommand {
  static override description = `List the published update packages (permission updates:deploy): version, models, size, SHA-256, who published them and when, and the live metadata versions.`
  static override examples = ['<%= config.bin %> updates list', '<%= config.bin %> updates list --json']
  static override enableJsonFlag = true

  async run(): Promise<UpdateTargetList> {
    await this.parse(UpdatesList)
    const {withUpdatesApi} = await import('../../client/updates-api.js')
    const result = await withUpdatesApi((api) => api.listTargets())
    if (!this.jsonEnabled()) {
      const {renderTable} = await import('../../shared/output.js')
      const {humanBytes} = await import('../../client/jobs-cli.js')
      if (result.targets.length === 0) this.log('Nothing published yet (tether updates publish --dir REPO).')
      else {
        this.log(
          renderTable(
            ['VERSION', 'MODELS', 'SIZE', 'SHA-256', 'PUBLISHED', 'BY', 'PATH'],
            result.targets.map((t) => [t.version, t.models.join(', '), humanBytes(t.length), t.sha256.slice(0, 12), t.publishedAt, t.publishedBy, t.path]),
          ),
        )
        this.log(`root version ${result.rootVersion}, targets version ${result.targetsVersion} (expires ${result.targetsExpires}), timestamp expires ${result.timestampExpires}`)
      }
    }
    return result
  }
}
