import type {FastifyBaseLogger, FastifyInstance} from 'fastify'
import {encodeMessage} from '../../protocol/agent/codec.js'
import type {ServerToAgent} from '../../protocol/agent/messages.js'
import type {AuditCheckpoint, CheckpointPublicKey} from '../../protocol/audit-checkpoint.js'
import {recordWitness} from '../audit/witnesses.js'
import type {AgentConnection} from './connection.js'

/**
 * What the hub needs of the audit anchoring: the public key for the welcome, the latest
 * checkpoint to hand out, news of new ones, and the check of a device's witness. Mismatches are
 * alarms: an audit event (witnesses.ts) and an error in the server log, which leaves the
 * database and so survives a rewrite of it.
 */
export interface HubAnchoring {
  publicKey: CheckpointPublicKey
  latest(): Promise<AuditCheckpoint | null>
  onSigned(listener: (checkpoint: AuditCheckpoint) => void): void
  witness(device: {serial: string; customerId: string}, checkpoint: AuditCheckpoint): Promise<void>
}

export function hubAnchoring(app: FastifyInstance): HubAnchoring {
  const {checkpoints} = app
  return {
    publicKey: checkpoints.publicKey,
    latest: () => checkpoints.recent(),
    onSigned: (listener) => void checkpoints.onSigned(listener),
    async witness(device, checkpoint) {
      const result = await recordWitness({db: app.db, dialect: app.dbDialect}, app.audit, checkpoints, device, checkpoint)
      if (result.verdict.verdict === 'ok') return
      const fields = {serial: device.serial, witness: {seq: checkpoint.seq, hash: checkpoint.hash, time: checkpoint.time}, verdict: result.verdict.verdict}
      app.log.error(fields, `AUDIT ALARM: device ${device.serial} witnessed a checkpoint the chain no longer holds: ${result.verdict.message}`)
    },
  }
}

type Reply = (message: ServerToAgent) => void

/** After the welcome: the latest checkpoint for the agent to keep, then the check of the one it kept. */
export async function exchangeCheckpoints(
  c: AgentConnection,
  anchoring: HubAnchoring,
  witness: AuditCheckpoint | undefined,
  reply: Reply,
  log: FastifyBaseLogger,
): Promise<void> {
  try {
    const latest = await anchoring.latest()
    if (latest) reply({type: 'checkpoint', checkpoint: latest})
    if (witness) await anchoring.witness({serial: c.serial, customerId: c.customerId}, witness)
  } catch (error) {
    log.error({serial: c.serial, err: error}, 'hub: audit checkpoint exchange failed')
  }
}

/** A newly signed checkpoint to every connected agent, encoded once. */
export function broadcastCheckpoint(connections: Iterable<AgentConnection>, checkpoint: AuditCheckpoint, log: FastifyBaseLogger): void {
  const text = encodeMessage({type: 'checkpoint', checkpoint})
  for (const c of connections) {
    if (c.ready) c.sendEncoded(text, (error) => log.debug({serial: c.serial, err: error}, 'hub: sending a checkpoint failed'))
  }
}
