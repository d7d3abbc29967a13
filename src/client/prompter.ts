import type {MfaEnrollment} from './admin-api.js'
import type {LoginPrompter} from './login.js'

/**
 * Prompts on a terminal with @inquirer/prompts (loaded only when needed so `--help` stays
 * fast). Without a terminal nothing is asked and missing input is a usage error.
 */
export function terminalPrompter(options: {interactive: boolean; write: (text: string) => void}): LoginPrompter {
  return {
    interactive: options.interactive,
    async username() {
      const {input} = await import('@inquirer/prompts')
      return input({message: 'Username', required: true})
    },
    async password() {
      const {password} = await import('@inquirer/prompts')
      return password({message: 'Password', mask: true})
    },
    async code(message: string) {
      const {input} = await import('@inquirer/prompts')
      return input({message, required: true, validate: (v) => /^\d{6}$/.test(v.trim()) || 'six digits'}).then((v) => v.trim())
    },
    async showEnrollment(enrollment: MfaEnrollment) {
      options.write('Multi-factor authentication must be set up for this account.')
      options.write('Add this account to an authenticator app (scan the QR code or use the URI):')
      if (process.stdout.isTTY) {
        const {default: qrcode} = await import('qrcode')
        options.write(await qrcode.toString(enrollment.otpauthUri, {type: 'terminal', small: true}))
      }
      options.write(`  ${enrollment.otpauthUri}`)
      if (!options.interactive) options.write('Then run the same `tether login` again with --totp CODE to confirm and log in.')
    },
  }
}
