import {ConflictError} from '../shared/errors.js'
import {assertPasswordStrength} from './auth/passwords.js'
import type {OpenedDatabase} from './db/connect.js'
import {createUser} from './users/service.js'

/**
 * The first administrator: role admin, every customer in scope, through the same service as
 * `tether users create`. Without a password one is generated and returned (shown once).
 * Refuses a username that exists: a second node pointed at a shared PostgreSQL copies the
 * first node's data dir instead of initialising again.
 */
export async function createFirstAdmin(opened: OpenedDatabase, username: string, password: string | undefined): Promise<string | undefined> {
  if (password !== undefined) assertPasswordStrength(password, '--admin-password-file', username)
  try {
    const {initialPassword} = await createUser(opened.db, {username, displayName: 'Administrator', role: 'admin', password})
    return initialPassword
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
