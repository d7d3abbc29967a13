import {Args, Flags} from '@oclif/core'
import type {AccessRequest} from '../../client/access-api.js'
import {ResultWithExitCode, TetherCommand} from '../../shared/command.js'
import {UsageError} from '../../shared/errors.js'

export interface AccessListResult {
  requests: AccessRequest[]
}

export default class AccessList extends TetherCommand {
  static override description = `List just-in-time access requests of the devices in your scope and their state, newest first.

With an ID, shows that request; with --wait too, waits for the device's decision (exit 0 approved, 1 denied or expired, 8 when --timeout passes first).`
  static override examples = [
    '<%= config.bin %> access list',
    '<%= config.bin %> access list --device SN-1234 --state pending',
    '<%= config.bin %> access list 0b6f3c1e-4d2a-4f7e-9a51-2c8d7e6f1a90 --wait --timeout 10m',
    '<%= config.bin %> access list --json | jq ".requests[] | select(.state == \\"approved\\")"',
  ]
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'One request id (needed for --wait).'})}
  static override flags = {
    device: Flags.string({description: 'Only requests for this device serial.'}),
    state: Flags.string({description: 'Only requests in this state.', options: ['pending', 'approved', 'denied', 'expired', 'revoked']}),
    limit: Flags.integer({description: 'At most this many requests.', default: 100, min: 1, max: 1000}),
    wait: Flags.boolean({description: 'With an ID: wait until the device decided.'}),
    timeout: Flags.string({description: 'With --wait: how long to wait.', default: '30m'}),
  }

  async run(): Promise<AccessListResult> {
    const {args, flags} = await this.parse(AccessList)
    if (flags.wait && !args.id) throw new UsageError('--wait: name the request to wait for (tether access list ID --wait)')
    const {parseDuration} = await import('../../shared/duration.js')
    const {accessFields, accessOutcome, accessTable, waitForDecision, withAccessApi} = await import('../../client/access-cli.js')
    const timeoutMs = parseDuration(flags.timeout, '--timeout')
    const requests = await withAccessApi(async (api) => {
      if (!args.id) return api.list({device: flags.device, state: flags.state as AccessRequest['state'] | undefined, limit: flags.limit})
      const one = await api.get(args.id)
      return [flags.wait ? await waitForDecision(api, one, {timeoutMs, intervalMs: 2000, say: this.jsonEnabled() ? undefined : (line) => this.logToStderr(line)}) : one]
    })
    if (!this.jsonEnabled()) this.log(args.id ? accessFields(requests[0]) : requests.length > 0 ? accessTable(requests) : 'No access requests.')
    const outcome = flags.wait ? accessOutcome(requests[0]) : null
    if (outcome) throw new ResultWithExitCode(outcome.message, {requests}, outcome.exitCode, outcome.code)
    return {requests}
  }
}
