import {Args, Flags} from '@oclif/core'
import type {AccessRequest} from '../../client/access-api.js'
import {ResultWithExitCode, TetherCommand} from '../../shared/command.js'

export default class AccessRequestCommand extends TetherCommand {
  static override description = `Ask for temporary access to a device that requires approval at the device.

Someone at the device approves or denies it there (tether agent access approve|deny). An approval lets only you reach only the ports asked for (or, without --port, the ports the device allows), until it expires. --for is at most 24h. Without --wait, prints the request id and exits 8 (accepted, waiting for the decision); with --wait, exits 0 once approved, 1 when denied or expired, 8 when --timeout passes first. An offline device gets the request when it connects (until --ttl).`
  static override examples = [
    '<%= config.bin %> access request SN-1234 --reason "INC-4711" --for 2h --port 5900',
    '<%= config.bin %> access request SN-1234 --reason "INC-4711" --for 30m --port 22 --port 5900 --wait --timeout 15m',
  ]
  static override enableJsonFlag = true
  static override args = {serial: Args.string({description: 'Device serial.', required: true})}
  static override flags = {
    reason: Flags.string({description: 'Why: an incident or ticket number (shown at the device and audited).', required: true}),
    for: Flags.string({description: 'How long the access lasts once approved (at most 24h).', required: true, helpValue: 'DURATION'}),
    port: Flags.string({description: 'A TCP port on the device (repeatable). Default: the ports the device allows.', multiple: true}),
    ttl: Flags.string({description: 'How long the request may wait for a decision before it expires (at most 7d).', default: '1h'}),
    wait: Flags.boolean({description: 'Wait for the decision.'}),
    timeout: Flags.string({description: 'With --wait: how long to wait.', default: '30m'}),
  }

  async run(): Promise<AccessRequest> {
    const {args, flags} = await this.parse(AccessRequestCommand)
    const {parseDuration} = await import('../../shared/duration.js')
    const {accessOutcome, accessRequestBody, waitForDecision, withAccessApi} = await import('../../client/access-cli.js')
    const body = accessRequestBody(flags)
    const timeoutMs = parseDuration(flags.timeout, '--timeout')
    const request = await withAccessApi(async (api) => {
      const created = await api.request(args.serial, body)
      if (!flags.wait) return created
      return waitForDecision(api, created, {timeoutMs, intervalMs: 2000, say: this.jsonEnabled() ? undefined : (line) => this.logToStderr(line)})
    })
    const outcome = accessOutcome(request)
    if (!this.jsonEnabled()) {
      if (outcome === null) this.log(`Access request ${request.id} approved by ${request.decidedBy ?? '?'} until ${request.until ?? '?'}.`)
      else if (outcome.code === 'PENDING') this.log(request.id)
    }
    if (outcome) throw new ResultWithExitCode(outcome.message, request, outcome.exitCode, outcome.code)
    return request
  }
}
