import {Args, Flags} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import type {PasswordReset} from '../../client/admin-api.js'

export type UsersResetPasswordResult = PasswordReset

export default class UsersResetPassword extends TetherCommand {
  static override description = `Set a new password for a user who lost theirs (users:manage, from an interactive login only).

Without --password-file or --password-stdin the server generates one and it is shown once: hand it over securely. Every session of the user ends; their API tokens stay (\`tether tokens list --user USER\`; \`tether users disable\` ends everything). SSO users are refused: their password lives at the identity provider.`
  static override examples = [
    '<%= config.bin %> users reset-password alice',
    '<%= config.bin %> users reset-password alice --password-file alice.pw',
    'printf %s "$PW" | <%= config.bin %> users reset-password alice --password-stdin',
  ]
  static override enableJsonFlag = true
  static override args = {username: Args.string({description: 'Username.', required: true})}
  static override flags = {
    'password-file': Flags.string({description: 'Read the new password from this file (first line) instead of generating one.', helpValue: 'FILE', exclusive: ['password-stdin']}),
    'password-stdin': Flags.boolean({description: 'Read the new password from stdin instead of generating one.', exclusive: ['password-file']}),
  }

  async run(): Promise<UsersResetPasswordResult> {
    const {args, flags} = await this.parse(UsersResetPassword)
    let password: string | undefined
    if (flags['password-file']) password = await (await import('../../client/passwd.js')).readPasswordFile(flags['password-file'], '--password-file')
    if (flags['password-stdin']) password = await (await import('../../client/cli-input.js')).readStdinSecret()
    const {withApi} = await import('../../client/session.js')
    const reset = await withApi((api) => api.resetPassword(args.username, password))
    if (!this.jsonEnabled()) {
      this.log(`Password of ${reset.user.username} reset; their sessions have ended.`)
      if (reset.generatedPassword) this.log(`New password (shown only now; hand it over securely): ${reset.generatedPassword}`)
    }
    return reset
  }
}
