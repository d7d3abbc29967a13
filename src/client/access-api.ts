import type {z} from 'zod'
import {AccessRequestList, AccessRequestQuery, AccessRequestView, CreateAccessRequest} from '../protocol/api/access.js'
import type {ApiClient} from './api-client.js'

const seg = encodeURIComponent

export type AccessRequest = AccessRequestView

/** Typed calls for just-in-time access requests (src/protocol/api/access.ts). */
export class AccessApi {
  constructor(readonly client: ApiClient) {}

  request(serial: string, body: z.input<typeof CreateAccessRequest>): Promise<AccessRequest> {
    return this.client.call('POST', `/devices/${seg(serial)}/access-requests`, {body, bodySchema: CreateAccessRequest, response: AccessRequestView})
  }
  async list(query: z.input<typeof AccessRequestQuery> = {}): Promise<AccessRequest[]> {
    return (await this.client.call('GET', '/access-requests', {query: AccessRequestQuery.parse(query), response: AccessRequestList})).requests
  }
  get(id: string): Promise<AccessRequest> {
    return this.client.call('GET', `/access-requests/${seg(id)}`, {response: AccessRequestView})
  }
}
