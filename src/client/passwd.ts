import {readFile} from 'node:fs/promises'
import {CredentialStore} from '../shared/credential-store.js'
import {UsageError} from '../shared/errors.js'
import type {OpenOptions} from './session.js'
import {withApi} from './session.js'

export interface PasswordChanged {
  server: string
  username: string
  /** The new session replaced the stored one; false with TETHER_TOKEN (log in again). */
  sessionStored: boolean
}

/**
 * Changes the logged-in user's own password. The server ends every session of the user, this
 * one included, and answers with a new pair: it replaces the stored session, so the next command
 * works without a new login. With TETHER_TOKEN there is nothing to store it in.
 */
export async function changeOwnPassword(input: {currentPassword: string; newPassword: string}, options: OpenOptions = {}): Promise<PasswordChanged> {
  const store = options.store ?? new CredentialStore()
  return withApi(
    async (api, session) => {
      const pair = await api.changePassword(input)
      if (session.source === 'env') return {server: session.server, username: pair.user.username, sessionStored: false}
      await store.save(
        {
          server: session.server,
          username: pair.user.username,
          ca: session.trust.ca,
          fingerprint: session.trust.fingerprint,
          accessToken: pair.accessToken,
          refreshToken: pair.refreshToken,
          savedAt: new Date().toISOString(),
        },
        {makeCurrent: false},
      )
      return {server: session.server, username: pair.user.username, sessionStored: true}
    },
    {...options, store},
  )
}

/** The first line of a password file; an unreadable or empty file is a usage error naming the flag. */
export async function readPasswordFile(file: string, flag: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`${flag}: cannot read ${file} (${error.code ?? error.message})`, {cause: error})
  })
  const line = text.split(/\r?\n/)[0]
  if (!line) throw new UsageError(`${flag}: ${file} is empty; put the password on its first line`)
  return line
}

/** `--password-stdin` for passwd: the current password on the first line, the new one on the second. */
export function splitStdinPasswords(text: string): {currentPassword: string; newPassword: string} {
  const [currentPassword, newPassword, ...rest] = text.split(/\r?\n/)
  if (!currentPassword || !newPassword || rest.some((line) => line !== '')) {
    throw new UsageError('--password-stdin: give two lines, the current password and then the new one')
  }
  return {currentPassword, newPassword}
}

/** On a terminal: the current password, then the new one twice. */
export async function promptPasswords(): Promise<{currentPassword: string; newPassword: string}> {
  const {password} = await import('@inquirer/prompts')
  const currentPassword = await password({message: 'Current password', mask: true})
  const newPassword = await password({message: 'New password (12+ characters, two kinds)', mask: true})
  const again = await password({message: 'Repeat the new password', mask: true})
  if (newPassword !== again) throw new UsageError('the two new passwords differ; nothing was changed')
  return {currentPassword, newPassword}
}
