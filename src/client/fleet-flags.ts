import {Flags} from '@oclif/core'
import {ResultWithExitCode} from '../shared/command.js'
import {ExitCode, UsageError} from '../shared/errors.js'
import type {FleetFilter, FleetResult} from './logs-fleet.js'

/** The device selection shared by `logs request` and `logs pull` over many devices. */
export const fleetFlags = {
  customer: Flags.string({description: 'Every enrolled device of this customer in your scope (instead of one serial).'}),
  site: Flags.string({description: 'With --customer: only this site.', dependsOn: ['customer']}),
  label: Flags.string({description: 'With --customer: only devices with this label (key=value); repeatable, all must match.', multiple: true, dependsOn: ['customer']}),
  model: Flags.string({description: 'With --customer: only this model (exact).', dependsOn: ['customer']}),
}

/** The filter when --customer names many devices, null for one serial; both or neither is a usage error. */
export function fleetFilter(serial: string | undefined, flags: {customer?: string; site?: string; label?: string[]; model?: string}): FleetFilter | null {
  if (!flags.customer) return null
  if (serial) throw new UsageError(`name either a device (${serial}) or --customer, not both`, {details: {field: 'customer'}})
  for (const l of flags.label ?? []) if (!/^[a-zA-Z0-9._/-]{1,63}=.{0,255}$/.test(l)) throw new UsageError(`--label ${l}: expected key=value`, {details: {field: 'label'}})
  return {customer: flags.customer, ...(flags.site ? {site: flags.site} : {}), labels: flags.label ?? [], ...(flags.model ? {model: flags.model} : {})}
}

/**
 * Exit 0 only when every device succeeded. Otherwise 1 with the table (or the JSON); without
 * --wait, 8 ("accepted, still running") when every device's request was accepted.
 */
export function fleetExit(result: FleetResult, waited: boolean): FleetResult {
  if (result.total > 0 && result.succeeded === result.total) return result
  if (result.total === 0) throw new ResultWithExitCode('no device matches (in your scope)', result, ExitCode.FAILED, 'NO_DEVICES')
  const failed = result.devices.filter((r) => r.state !== 'succeeded')
  if (!waited && failed.every((r) => ['queued', 'sent', 'running', 'offline'].includes(r.state))) {
    throw new ResultWithExitCode(`accepted by all ${result.total} devices, still running: follow with tether jobs list`, result, ExitCode.PENDING, 'PENDING')
  }
  throw new ResultWithExitCode(`${failed.length} of ${result.total} devices did not succeed: ${failed.map((r) => `${r.serial} (${r.state})`).join(', ')}`, result, ExitCode.FAILED, 'FLEET_INCOMPLETE')
}
