import {ConflictError} from '../shared/errors.js'
import {AuditChain} from './audit/chain.js'
import {assertPasswordStrength} from './auth/passwords.js'
import type {OpenedDatabase} from './db/connect.js'
import {insertUser, prepareUser} from './users/service.js'

/**
 * The first administrator: role admin, every customer in scope, through the same service as
 * `tether users add`, and audited like it (actor: the init step). Without a password one is
 * generated and returned (shown once).
 * Refuses a username that exists: a second node pointed at a shared PostgreSQL copies the
 * first node's data dir instead of initialising again.
 */
export async function createFirstAdmin(opened: OpenedDatabase, username: string, password: string | undefined): Promise<string | undefined> {
  if (password !== undefined) assertPasswordStrength(password, '--admin-password-file', username)
  try {
    const prepared = await prepareUser({username, displayName: 'Administrator', role: 'admin', password})
    await new AuditChain(opened.db, opened.dialect).transaction(async (trx, record) => {
      const user = await insertUser(trx, prepared)
      record({
        actorType: 'system',
        actor: 'tether-server-init',
        action: 'user.create',
        outcome: 'success',
        details: {username: user.username, role: user.role, scope: {all: true, entries: []}, generatedPassword: prepared.initialPassword !== undefined},
      })
    })
    return prepared.initialPassword
  } catch (error) {
    if (error instanceof ConflictError) {
      throw new ConflictError(`${error.message} in ${opened.dialect === 'postgres' ? 'the PostgreSQL database' : 'the database'}`, {
        cause: error,
        suggestions: ['Another node already initialised this database: copy its data dir instead (docs/operations.md, "Several nodes").'],
      })
    }
    throw error
  }
}
