import {networkInterfaces, platform, release, uptime} from 'node:os'
import type {AccessMode, Inventory} from '../protocol/agent/index.js'

/** What the agent reports about its device on connect and whenever it changes. */
export function collectInventory(input: {serial: string; model?: string; agentVersion: string; accessMode: AccessMode; softwareVersion?: string | null}): Inventory {
  const addresses: string[] = []
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) if (!info.internal) addresses.push(info.address)
  }
  return {
    serial: input.serial,
    model: input.model ?? '',
    agentVersion: input.agentVersion,
    os: `${platform()} ${release()}`.slice(0, 256),
    uptimeSeconds: Math.floor(uptime()),
    // The protocol bounds the list; a device with more interfaces reports the first 64.
    addresses: addresses.slice(0, 64),
    accessMode: input.accessMode,
    ...(input.softwareVersion === undefined ? {} : {softwareVersion: input.softwareVersion}),
  }
}

/** Inventory fields that, when changed, are worth an `inventory` message (uptime always changes). */
export function inventoryKey(inv: Inventory): string {
  return JSON.stringify([inv.model, inv.agentVersion, inv.os, inv.addresses, inv.accessMode, inv.diagnostics, inv.jobKinds, inv.softwareVersion])
}
