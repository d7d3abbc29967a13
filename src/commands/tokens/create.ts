import {Flags} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import type {CreatedToken} from '../../client/admin-api.js'
import {PERMISSIONS} from '../../client/roles.js'

export default class TokensCreate extends TetherCommand {
  static override description = `Create an API token for scripts (use it as TETHER_TOKEN).

The token acts as you, limited to the given permissions (default: all of yours) and to your scope. The secret is shown once.`
  static override examples = [
    '<%= config.bin %> tokens create --name ci-inventory --permission devices:read --ttl 90d',
    '<%= config.bin %> tokens create --name nightly-audit --permission audit:read --json',
  ]
  static override enableJsonFlag = true
  static override flags = {
    name: Flags.string({description: 'Token name (letters, digits, . _ -).', required: true}),
    permission: Flags.string({description: 'Permission to grant (repeatable; default all of yours).', multiple: true, options: [...PERMISSIONS]}),
    ttl: Flags.string({description: 'Lifetime, e.g. 30d, 12h (default 30d, at most 365d).'}),
  }

  async run(): Promise<CreatedToken> {
    const {flags} = await this.parse(TokensCreate)
    const {parseDuration} = await import('../../shared/duration.js')
    const ttlSeconds = flags.ttl ? Math.ceil(parseDuration(flags.ttl, '--ttl') / 1000) : undefined
    const {withApi} = await import('../../client/session.js')
    const created = await withApi((api) =>
      api.createToken({name: flags.name, permissions: flags.permission as (typeof PERMISSIONS)[number][] | undefined, ttlSeconds}),
    )
    if (!this.jsonEnabled()) {
      this.log(`Token ${created.info.name} (${created.info.id}) expires ${created.info.expiresAt}.`)
      this.log(`Permissions: ${created.info.permissions.join(', ')}`)
      this.log('')
      this.log(created.token)
      this.log('')
      this.warn('This is the only time the token is shown. Store it in a secret manager; anyone holding it acts as you.')
    }
    return created
  }
}
