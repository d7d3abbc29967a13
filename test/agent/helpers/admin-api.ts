import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {Agent, request} from 'undici'
import type {SupportCenter} from './support-center.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read loosely-typed API answers
type Loose = any

/** Calls the admin API with the admin's stored session (file credential store), as a script would. */
export async function adminApi(sc: SupportCenter, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{status: number; json: Loose}> {
  const creds = JSON.parse(await readFile(join(sc.dir, 'cfg-admin', 'credentials.json'), 'utf8')) as {sessions: Record<string, {accessToken: string}>}
  const session = Object.values(creds.sessions)[0]
  const dispatcher = new Agent({connect: {ca: await readFile(sc.caFile, 'utf8')}})
  try {
    const res = await request(`${sc.url}/api/v1${path}`, {
      method,
      dispatcher,
      headers: {authorization: `Bearer ${session.accessToken}`, ...(body === undefined ? {} : {'content-type': 'application/json'})},
      ...(body === undefined ? {} : {body: JSON.stringify(body)}),
    })
    const text = await res.body.text()
    return {status: res.statusCode, json: text ? JSON.parse(text) : null}
  } finally {
    await dispatcher.close()
  }
}
