/**
 * Device presence as every node sees it (the `device_presence` leases, docs/operations.md
 * "Device presence"), read straight from the shared database: which node holds which simulated
 * agent. Only live leases count; a killed node's run out by themselves.
 */
import type {Kysely} from 'kysely'
import type {Database} from '../../src/server/db/schema.js'

/** Live leases of the simulated agents (serial `sim-…`), by node id. */
export async function holdersByNode(db: Kysely<Database>): Promise<Map<string, string[]>> {
  const rows = await db.selectFrom('device_presence').select(['serial', 'node_id']).where('lease_until', '>', new Date().toISOString()).where('serial', 'like', 'sim-%').orderBy('serial').execute()
  const out = new Map<string, string[]>()
  for (const r of rows) out.set(r.node_id, [...(out.get(r.node_id) ?? []), r.serial])
  return out
}

/** Simulated agents with a live lease on any node but `excluded`. */
export async function heldOutside(db: Kysely<Database>, excluded: string): Promise<number> {
  const row = await db
    .selectFrom('device_presence')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('lease_until', '>', new Date().toISOString())
    .where('serial', 'like', 'sim-%')
    .where('node_id', '!=', excluded)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

/** The node holding `serial`, or null. */
export async function ownerOf(db: Kysely<Database>, serial: string): Promise<string | null> {
  const row = await db.selectFrom('device_presence').select('node_id').where('serial', '=', serial).where('lease_until', '>', new Date().toISOString()).executeTakeFirst()
  return row?.node_id ?? null
}
