import type {z} from 'zod'
import {CreateEnrollTokenRequest, EnrollTokenView, RevokeView} from '../protocol/api/enrollment.js'
import type {AdminApi} from './admin-api.js'

/** Client side of the agent issue's admin routes (kept beside AdminApi, same ApiClient). */
const seg = encodeURIComponent

export type EnrollToken = z.infer<typeof EnrollTokenView>
export type Revoked = z.infer<typeof RevokeView>

export function createEnrollToken(api: AdminApi, body: z.input<typeof CreateEnrollTokenRequest>): Promise<EnrollToken> {
  return api.client.call('POST', '/devices/enroll-tokens', {body, bodySchema: CreateEnrollTokenRequest, response: EnrollTokenView})
}

export function revokeDevice(api: AdminApi, serial: string): Promise<Revoked> {
  return api.client.call('POST', `/devices/${seg(serial)}/revoke`, {body: {}, response: RevokeView})
}
