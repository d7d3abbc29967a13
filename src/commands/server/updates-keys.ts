import {TetherCommand} from '../../shared/command.js'
import {dataDirFlag} from '../../server/cli-flags.js'
import type {OnlinePublicKeys} from '../../protocol/updates/index.js'

export default class ServerUpdatesKeys extends TetherCommand {
  static override description = `Print the public halves of this server's online TUF keys (snapshot and timestamp) as JSON.

Give the output to the release machine: \`tether updates repo init --online-keys FILE\` (or \`repo rotate-root --online-keys FILE\`) makes the offline root name these keys, so devices accept the snapshot and timestamp this server signs. The private keys stay in the data dir (secrets/updates-*.key, 0600); every server node needs the same files. Logged in elsewhere? GET /api/v1/updates/online-keys (updates:publish) answers the same.`
  static override examples = ['<%= config.bin %> server updates-keys > online-keys.json', '<%= config.bin %> server updates-keys --data-dir /var/lib/tether']
  static override enableJsonFlag = true
  static override flags = {'data-dir': dataDirFlag}

  async run(): Promise<OnlinePublicKeys> {
    const {flags} = await this.parse(ServerUpdatesKeys)
    const {defaultDataDir, readServerConfig} = await import('../../server/config-store.js')
    const {defaultServerConfig} = await import('../../server/config-defaults.js')
    const {readOnlineKeys, onlinePublicKeys} = await import('../../server/updates/online-keys.js')
    const dataDir = flags['data-dir'] ?? defaultDataDir()
    const config = (await readServerConfig(dataDir)) ?? defaultServerConfig(dataDir)
    const keys = onlinePublicKeys(await readOnlineKeys(config.updates))
    // The JSON is the whole point: printed in human mode too, so `> online-keys.json` works without --json.
    if (!this.jsonEnabled()) this.log(JSON.stringify(keys, null, 2))
    return keys
  }
}
