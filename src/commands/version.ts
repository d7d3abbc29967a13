import {arch, platform, release} from 'node:os'
import {TetherCommand} from '../shared/command.js'
import {renderFields} from '../shared/output.js'
import {readSbomInfo, SBOM_FILE, type SbomInfo} from '../shared/sbom.js'

export interface VersionResult {
  version: string
  node: string
  os: string
  arch: string
  /** The SBOM of this installation (CycloneDX); null when it was not generated (`npm run sbom`). */
  sbom: SbomInfo | null
}

export default class Version extends TetherCommand {
  static override description = `Show the Tether version, the platform it runs on, and the SHA-256 of the SBOM (${SBOM_FILE}) of the dependencies it ships.`
  static override examples = ['<%= config.bin %> version', '<%= config.bin %> version --json']
  static override enableJsonFlag = true

  async run(): Promise<VersionResult> {
    await this.parse(Version)
    const sbom = await readSbomInfo(this.config.root)
    const result = {version: this.config.version, node: process.version, os: `${platform()} ${release()}`, arch: arch(), sbom}
    if (!this.jsonEnabled()) {
      const sbomLine = sbom ? `${sbom.file} (${sbom.format}, ${sbom.components} components, sha256 ${sbom.sha256})` : `none (run npm run sbom in ${this.config.root})`
      this.log(renderFields([['tether', result.version], ['node', result.node], ['os', result.os], ['arch', result.arch], ['sbom', sbomLine]]))
    }
    return result
  }
}
