import type {z} from 'zod'
import {CreateDeploymentRequest, DeploymentDetail, DeploymentList, DeploymentQuery, type DeploymentView} from '../protocol/api/deployments.js'
import type {ApiClient} from './api-client.js'

const seg = encodeURIComponent

export type Deployment = DeploymentView
export type {DeploymentDetail}

/** Typed calls for deployments (src/protocol/api/deployments.ts). */
export class DeploymentsApi {
  constructor(readonly client: ApiClient) {}

  create(body: z.input<typeof CreateDeploymentRequest>): Promise<DeploymentDetail> {
    return this.client.call('POST', '/deployments', {body, bodySchema: CreateDeploymentRequest, response: DeploymentDetail})
  }
  async list(query: z.input<typeof DeploymentQuery> = {}): Promise<Deployment[]> {
    return (await this.client.call('GET', '/deployments', {query: DeploymentQuery.parse(query), response: DeploymentList})).deployments
  }
  get(id: string): Promise<DeploymentDetail> {
    return this.client.call('GET', `/deployments/${seg(id)}`, {response: DeploymentDetail})
  }
  move(id: string, move: 'pause' | 'resume' | 'abort'): Promise<DeploymentDetail> {
    return this.client.call('POST', `/deployments/${seg(id)}/${move}`, {body: {}, response: DeploymentDetail})
  }
}
