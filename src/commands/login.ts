import {Flags} from '@oclif/core'
import {ResultWithExitCode, TetherCommand} from '../shared/command.js'
import {ExitCode} from '../shared/errors.js'
import type {DeviceCode} from '../client/sso-login.js'

export type LoginResult =
  | {status: 'logged-in'; server: string; username: string; role: string; mfaEnrolled: boolean; credentialStore: 'keychain' | 'file'; location: string}
  | {status: 'mfa-enrollment-required'; server: string; username: string; otpauthUri: string; secret: string}
  | {status: 'mfa-enabled'; server: string; username: string; mfaEnrolled: true}

export default class Login extends TetherCommand {
  static override description = `Log in to a Tether support center and store the session.

The session goes to the OS keychain when a Secret Service is available, else to a 0600 file in the config directory (TETHER_CREDENTIAL_STORE=file|keychain forces one). Trust the server with --ca (DATA_DIR/tls/ca.crt, the file \`tether server start\` names) or --fingerprint (SHA-256 of the server's CA or leaf certificate); without either, the anchor saved at the last login to that server, else the system trust store. Verification is never turned off.

Without --server, the last server logged in to is used again (also after logout); on a terminal with none, the server is asked for.

With --sso the company's identity provider signs you in: in the browser (TETHER_NO_BROWSER=1 only prints the URL), or with --device by a code entered on any other device.

Accounts that must use MFA but have none yet are enrolled here: on a terminal you scan a QR code and type two codes; in scripts the first run prints the otpauth URI (exit 3), a rerun with --totp CODE confirms it (exit 3: MFA enabled), and a third run with the next code logs in.`
  static override examples = [
    '<%= config.bin %> login',
    '<%= config.bin %> login --server https://support.example.org:8443 --ca server-ca.pem',
    '<%= config.bin %> login --sso --server https://support.example.org:8443 --ca server-ca.pem',
    '<%= config.bin %> login --sso --device --server https://support.example.org:8443 --ca server-ca.pem',
    '<%= config.bin %> login --server https://10.0.0.5:8443 --fingerprint 3A:7F:…:C2 --username alice',
    'cat pw.txt | <%= config.bin %> login --server https://127.0.0.1:8443 --ca ca.pem --username admin --password-stdin --totp 123456',
  ]
  static override enableJsonFlag = true
  static override flags = {
    server: Flags.string({description: 'Server URL, e.g. https://support.example.org:8443. Default: the last server logged in to.', env: 'TETHER_SERVER'}),
    ca: Flags.string({description: 'PEM file of the server CA to trust.', exclusive: ['fingerprint']}),
    fingerprint: Flags.string({description: 'SHA-256 fingerprint of the server CA or leaf certificate to pin.', exclusive: ['ca']}),
    username: Flags.string({char: 'u', description: 'Username (asked on a terminal when missing).'}),
    'password-stdin': Flags.boolean({description: 'Read the password from stdin (for scripts).'}),
    totp: Flags.string({description: 'Current 6-digit code from the authenticator app.'}),
    sso: Flags.boolean({description: "Sign in with the company's identity provider (OpenID Connect) in the browser; the redirect comes back to a loopback port.", exclusive: ['username', 'password-stdin']}),
    port: Flags.integer({description: 'Loopback port for --sso (default: a random one), for IdPs that match the redirect URI exactly.', dependsOn: ['sso'], exclusive: ['device'], min: 1, max: 65535}),
    device: Flags.boolean({description: "With --sso on a machine without a browser: show a code to enter at the identity provider's page on any other device (device authorization grant).", dependsOn: ['sso']}),
  }

  async run(): Promise<LoginResult> {
    const {flags} = await this.parse(Login)
    const {login} = await import('../client/login.js')
    const {terminalPrompter} = await import('../client/prompter.js')
    const {loginTarget} = await import('../client/login-target.js')
    const {explainUntrusted} = await import('../client/trust-errors.js')
    const {readStdinSecret} = await import('../client/cli-input.js')

    const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY) && !flags['password-stdin'] && !this.jsonEnabled()
    const ask = async (): Promise<string> => (await import('@inquirer/prompts')).input({message: 'Server URL (https://HOST:8443)', required: true})
    const {server, trust, anchor} = await loginTarget({server: flags.server, caFile: flags.ca, fingerprint: flags.fingerprint, ask: interactive ? ask : undefined})
    const password = flags['password-stdin'] ? await readStdinSecret() : undefined
    const quiet = this.jsonEnabled()
    const prompter = terminalPrompter({interactive, write: (text) => (quiet ? undefined : this.log(text))})

    // To stderr even with --json: the user has to act on it, and stdout stays the JSON document.
    const tell = (text: string) => process.stderr.write(`${text}\n`)
    const show = (url: string, opened: boolean) => tell(`${opened ? 'Continue in your browser. If it did not open, visit' : 'Open this URL in a browser'}:\n${url}\nWaiting for the sign-in…`)
    const showCode = (code: DeviceCode) =>
      tell(`On any device with a browser, open ${code.verificationUri} and enter the code ${code.userCode}${code.verificationUriComplete ? `\n(or open ${code.verificationUriComplete})` : ''}\nWaiting for the sign-in (until ${code.expiresAt})…`)
    const attempt = flags.sso
      ? (await import('../client/sso-login.js')).ssoLogin({server, trust, prompter, port: flags.port, device: flags.device, totp: flags.totp?.trim(), show, showCode})
      : login({server, trust, username: flags.username, password, totp: flags.totp?.trim(), prompter})
    const result = await attempt.catch((error: unknown) => {
      throw explainUntrusted(error, anchor)
    })
    if (result.status === 'mfa-enrollment-required') {
      throw new ResultWithExitCode(`MFA enrollment required: add the URI to an authenticator app, then rerun with --totp CODE`, result, ExitCode.AUTH, 'MFA_ENROLLMENT_REQUIRED')
    }
    if (result.status === 'mfa-enabled') {
      throw new ResultWithExitCode('MFA is now enabled. Log in again with the NEXT code: rerun with --totp NEXT_CODE', result, ExitCode.AUTH, 'MFA_ENABLED')
    }
    if (!this.jsonEnabled()) {
      if (result.mfaEnrolled) this.log('MFA is now enabled for this account.')
      this.log(`Logged in to ${result.server} as ${result.username} (${result.role}).`)
      this.log(`Credentials stored in ${result.location}.`)
    }
    return result
  }
}
