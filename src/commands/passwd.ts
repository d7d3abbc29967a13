import {Flags} from '@oclif/core'
import {TetherCommand} from '../shared/command.js'
import {UsageError} from '../shared/errors.js'
import type {PasswordChanged} from '../client/passwd.js'

export type PasswdResult = PasswordChanged

export default class Passwd extends TetherCommand {
  static override description = `Change your own password.

The current password is checked (wrong guesses count toward the login lockout) and the new one must follow the password rule. Every session of yours ends, on every machine; this one continues with a new session stored in its place. API tokens are not affected: see \`tether tokens list\`. SSO accounts change their password at the identity provider.

On a terminal the passwords are asked for; in scripts give --current-password-file and --new-password-file (first line of each), or --password-stdin with the current password on the first line and the new one on the second.`
  static override examples = [
    '<%= config.bin %> passwd',
    '<%= config.bin %> passwd --current-password-file old.pw --new-password-file new.pw',
    'printf "%s\\n%s\\n" "$OLD" "$NEW" | <%= config.bin %> passwd --password-stdin',
  ]
  static override enableJsonFlag = true
  static override flags = {
    'current-password-file': Flags.string({description: 'Read the current password from this file (first line).', helpValue: 'FILE', exclusive: ['password-stdin'], dependsOn: ['new-password-file']}),
    'new-password-file': Flags.string({description: 'Read the new password from this file (first line).', helpValue: 'FILE', exclusive: ['password-stdin'], dependsOn: ['current-password-file']}),
    'password-stdin': Flags.boolean({description: 'Read the current password (first line) and the new one (second line) from stdin.'}),
  }

  async run(): Promise<PasswdResult> {
    const {flags} = await this.parse(Passwd)
    const passwd = await import('../client/passwd.js')
    let input: {currentPassword: string; newPassword: string}
    if (flags['password-stdin']) {
      const {readStdinSecret} = await import('../client/cli-input.js')
      input = passwd.splitStdinPasswords(await readStdinSecret())
    } else if (flags['current-password-file'] && flags['new-password-file']) {
      input = {
        currentPassword: await passwd.readPasswordFile(flags['current-password-file'], '--current-password-file'),
        newPassword: await passwd.readPasswordFile(flags['new-password-file'], '--new-password-file'),
      }
    } else if (process.stdin.isTTY && process.stdout.isTTY && !this.jsonEnabled()) {
      input = await passwd.promptPasswords()
    } else {
      throw new UsageError('not on a terminal: give --current-password-file and --new-password-file, or --password-stdin')
    }
    const result = await passwd.changeOwnPassword(input)
    if (!this.jsonEnabled()) {
      this.log(`Password changed for ${result.username} on ${result.server}. Your other sessions have ended.`)
      if (!result.sessionStored) this.log('This session (TETHER_TOKEN) has ended too: log in again with the new password.')
    }
    return result
  }
}
