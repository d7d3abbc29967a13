import {readFile} from 'node:fs/promises'
import {Flags} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import {UsageError} from '../../shared/errors.js'
import {paint, renderFields} from '../../shared/output.js'
import {databaseFlag, dataDirFlag, hostnameFlag} from '../../server/cli-flags.js'
import type {InitResult} from '../../server/init.js'

export type ServerInitResult = InitResult

export default class ServerInit extends TetherCommand {
  static override description = `Create a server data dir: config, root CA and server certificate, device CA, JWT secret, MFA key (seals TOTP secrets), and the first admin user.

The admin password is prompted for (twice) on a terminal, read from --admin-password-file, or generated and shown once. Nothing is written unless everything succeeded; an existing data dir is only replaced with --force.`

  static override examples = [
    '<%= config.bin %> server init --data-dir /var/lib/tether --hostname support.example.org --hostname 10.0.0.5',
    '<%= config.bin %> server init --data-dir ./data --admin-password-file ./admin.pw --json',
    '<%= config.bin %> server init --tls-cert fullchain.pem --tls-key key.pem --tls-ca hospital-ca.pem --hostname tether.hospital.local',
    '<%= config.bin %> server init --database postgres://tether:secret@db.internal/tether --hostname tether.example.org',
  ]

  static override enableJsonFlag = true

  static override flags = {
    'data-dir': dataDirFlag,
    hostname: hostnameFlag,
    database: databaseFlag,
    'admin-username': Flags.string({description: 'Name of the first admin user.', default: 'admin'}),
    'admin-password-file': Flags.string({description: 'Read the admin password from this file (first line).', helpValue: 'FILE'}),
    'tls-cert': Flags.string({description: 'Use this PEM certificate (chain) instead of generating a CA.', dependsOn: ['tls-key'], helpValue: 'FILE'}),
    'tls-key': Flags.string({description: 'PEM private key of --tls-cert.', dependsOn: ['tls-cert'], helpValue: 'FILE'}),
    'tls-ca': Flags.string({description: 'PEM CA certificate that issued --tls-cert (what clients pin).', dependsOn: ['tls-cert'], helpValue: 'FILE'}),
    force: Flags.boolean({description: 'Replace an existing data dir (its CA, keys and SQLite database are deleted).'}),
  }

  async run(): Promise<ServerInitResult> {
    const {flags} = await this.parse(ServerInit)
    const {defaultDataDir} = await import('../../server/config-store.js')
    const {initDataDir} = await import('../../server/init.js')
    const username = flags['admin-username']
    const result = await initDataDir({
      dataDir: flags['data-dir'] ?? defaultDataDir(),
      hostnames: flags.hostname,
      force: flags.force,
      // From the flag it is stored in config.json; from the environment it stays there.
      database: flags.database && flags.database !== process.env.TETHER_DATABASE_URL ? flags.database : undefined,
      runtimeDatabase: flags.database,
      adminUsername: username,
      adminPassword: await this.adminPassword(flags['admin-password-file'], username),
      tls: flags['tls-cert'] ? {certFile: flags['tls-cert'], keyFile: flags['tls-key']!, caFile: flags['tls-ca']} : undefined,
    })
    if (!this.jsonEnabled()) this.log(describeInit(result))
    return result
  }

  private async adminPassword(file: string | undefined, username: string): Promise<string | undefined> {
    if (file) {
      const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
        throw new UsageError(`--admin-password-file: cannot read ${file} (${error.code ?? error.message})`, {cause: error})
      })
      return text.split(/\r?\n/)[0]
    }
    if (!process.stdin.isTTY || !process.stdout.isTTY || this.jsonEnabled()) return undefined
    const {password} = await import('@inquirer/prompts')
    const {assertPasswordStrength} = await import('../../server/auth/passwords.js')
    const validate = (value: string): true | string => {
      try {
        assertPasswordStrength(value, 'password', username)
        return true
      } catch (error) {
        return (error as Error).message
      }
    }
    const first = await password({message: `Password for the admin user "${username}"`, mask: true, validate})
    const again = await password({message: 'Repeat the password', mask: true})
    if (first !== again) throw new UsageError('the two passwords differ')
    return first
  }
}

export function describeInit(result: InitResult): string {
  const lines = [
    renderFields([
      ['data dir', result.dataDir],
      ['hostnames', result.hostnames.join(', ')],
      ['database', result.database],
      ['CA fingerprint (SHA-256)', result.caFingerprint ?? '(operator certificate without --tls-ca)'],
      ['server certificate', `${result.tls.certFile}${result.tls.operatorSupplied ? ' (operator-supplied)' : ''}`],
      ['device CA', result.deviceCa.certFile],
      ['admin user', result.admin.username],
    ]),
  ]
  if (result.admin.generatedPassword) {
    lines.push('', `${paint('bold', 'Admin password (shown only now):')} ${result.admin.generatedPassword}`)
  }
  lines.push('', `Clients and agents pin this fingerprint: ${result.caFingerprint ?? result.serverCertFingerprint}`)
  return lines.join('\n')
}
