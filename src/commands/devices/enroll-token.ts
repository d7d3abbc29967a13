import {Flags} from '@oclif/core'
import {deviceIdentityFlags} from '../../client/device-flags.js'
import {TetherCommand} from '../../shared/command.js'
import type {EnrollToken} from '../../client/devices-enrollment.js'

export default class DevicesEnrollToken extends TetherCommand {
  static override description =
    'Create a one-time enrollment token for a device (devices:enroll). Registers the device if needed. The token is shown once; give it to whoever runs `tether agent enroll` on the device.'
  static override examples = [
    '<%= config.bin %> devices enroll-token --serial SN-1234 --model "Analyzer X200" --customer st-mary --site st-mary-icu',
    '<%= config.bin %> devices enroll-token --serial SN-1234 --model X200 --customer st-mary --ttl 2h --json',
    '<%= config.bin %> devices enroll-token --serial SN-1234 --customer st-mary   # re-enrolment of a registered device',
  ]
  static override enableJsonFlag = true
  static override flags = {
    ...deviceIdentityFlags,
    model: Flags.string({description: 'Model name; needed only for a device not registered yet (a registered one keeps its model).'}),
    ttl: Flags.string({description: 'How long the token stays valid (5m to 30d).', default: '24h'}),
  }

  async run(): Promise<EnrollToken> {
    const {flags} = await this.parse(DevicesEnrollToken)
    const {parseDuration} = await import('../../shared/duration.js')
    const {UsageError} = await import('../../shared/errors.js')
    const ttlMs = parseDuration(flags.ttl, '--ttl')
    if (ttlMs < 300_000 || ttlMs > 30 * 86_400_000) throw new UsageError('--ttl: must be between 5m and 30d')
    const {withApi} = await import('../../client/session.js')
    const {createEnrollToken} = await import('../../client/devices-enrollment.js')
    let server = '<URL>'
    const created = await withApi((api, session) => {
      server = session.server
      return createEnrollToken(api, {serial: flags.serial, model: flags.model, customer: flags.customer, site: flags.site, ttlSeconds: Math.round(ttlMs / 1000)})
    })
    if (!this.jsonEnabled()) {
      this.log(`Enrollment token for ${created.serial} (${created.customer}${created.site ? `/${created.site}` : ''}), valid until ${created.expiresAt}, usable once:\n`)
      this.log(`  ${created.token}\n`)
      this.log(`On the device: tether agent enroll --server ${server} --token ${created.token} --ca <server CA file>  (or --fingerprint <its SHA-256>)`)
    }
    return created
  }
}
