// A separate process appending to the same database (multi-node test): node --import tsx append-worker.ts URL COUNT NAME
import {AuditChain} from '../../../src/server/audit/chain.js'
import {openDatabase} from '../../../src/server/db/connect.js'

const [url, count, name] = process.argv.slice(2)
const opened = await openDatabase(url)
const chain = new AuditChain(opened.db, opened.dialect)
try {
  const appends = Array.from({length: Number(count)}, (_, i) =>
    chain.append({actorType: 'device', actor: name, action: 'device.heartbeat', outcome: 'success', details: {i}}),
  )
  await Promise.all(appends)
} finally {
  await opened.close()
}
