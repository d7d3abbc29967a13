import {Flags} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import type {CreatedUser} from '../../client/admin-api.js'
import {ROLES} from '../../client/roles.js'

export type UsersAddResult = CreatedUser

export default class UsersAdd extends TetherCommand {
  static override description = `Create a user.

Without --password-stdin the server generates a password and it is shown once. Roles that reach devices must enrol MFA at their first \`tether login\`.`
  static override examples = [
    '<%= config.bin %> users add --username alice --role service-engineer --customer st-mary --customer acme/lab-2',
    '<%= config.bin %> users add --username audit1 --role auditor --all-customers',
    'printf %s "$PW" | <%= config.bin %> users add --username bob --role viewer --customer acme --password-stdin',
  ]
  static override enableJsonFlag = true
  static override flags = {
    username: Flags.string({description: 'Login name.', required: true}),
    role: Flags.string({description: 'Role.', options: [...ROLES], required: true}),
    'display-name': Flags.string({description: 'Full name.'}),
    customer: Flags.string({description: 'CUSTOMER or CUSTOMER/SITE the user may see (repeatable).', multiple: true, exclusive: ['all-customers']}),
    'all-customers': Flags.boolean({description: 'The user sees every customer.', exclusive: ['customer']}),
    'password-stdin': Flags.boolean({description: 'Read the initial password from stdin instead of generating one.'}),
  }

  async run(): Promise<UsersAddResult> {
    const {flags} = await this.parse(UsersAdd)
    const {parseScope, readStdinSecret} = await import('../../client/cli-input.js')
    const scope = flags.customer || flags['all-customers'] ? parseScope(flags.customer, flags['all-customers']) : undefined
    const password = flags['password-stdin'] ? await readStdinSecret() : undefined
    const {withApi} = await import('../../client/session.js')
    const created = await withApi((api) =>
      api.createUser({username: flags.username, role: flags.role as (typeof ROLES)[number], displayName: flags['display-name'], password, scope}),
    )
    if (!this.jsonEnabled()) {
      const {userFields} = await import('../../client/render.js')
      this.log(userFields(created.user))
      if (created.initialPassword) {
        this.log('')
        this.log(`Initial password (shown only now; hand it over securely): ${created.initialPassword}`)
      }
    }
    return created
  }
}
