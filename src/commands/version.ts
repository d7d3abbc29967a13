import {arch, platform, release} from 'node:os'
import {TetherCommand} from '../shared/command.js'
import {renderFields} from '../shared/output.js'

export interface VersionResult {
  version: string
  node: string
  os: string
  arch: string
}

export default class Version extends TetherCommand {
  static override description = 'Show the Tether version and the platform it runs on.'
  static override examples = ['<%= config.bin %> version', '<%= config.bin %> version --json']
  static override enableJsonFlag = true

  async run(): Promise<VersionResult> {
    await this.parse(Version)
    const result = {version: this.config.version, node: process.version, os: `${platform()} ${release()}`, arch: arch()}
    if (!this.jsonEnabled()) this.log(renderFields([['tether', result.version], ['node', result.node], ['os', result.os], ['arch', result.arch]]))
    return result
  }
}
