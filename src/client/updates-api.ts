import {createReadStream} from 'node:fs'
import {BeginPublishRequest, PackageReceived, PublishPlan, PublishResult, UpdateTargetList} from '../protocol/api/updates.js'
import {OnlinePublicKeys} from '../protocol/updates/index.js'
import type {ApiClient} from './api-client.js'

const seg = encodeURIComponent

/** Typed calls for publishing and listing software updates (src/protocol/api/updates.ts). */
export class UpdatesApi {
  constructor(readonly client: ApiClient) {}

  listTargets(): Promise<UpdateTargetList> {
    return this.client.call('GET', '/updates/targets', {response: UpdateTargetList})
  }
  onlineKeys(): Promise<OnlinePublicKeys> {
    return this.client.call('GET', '/updates/online-keys', {response: OnlinePublicKeys})
  }
  beginPublish(body: BeginPublishRequest): Promise<PublishPlan> {
    return this.client.call('POST', '/updates/publishes', {body, response: PublishPlan})
  }
  uploadPackage(publishId: string, path: string, file: string, length: number): Promise<PackageReceived> {
    const url = `/updates/publishes/${seg(publishId)}/packages/${path.split('/').map(seg).join('/')}`
    return this.client.upload('PUT', url, () => createReadStream(file), length, PackageReceived)
  }
  commitPublish(publishId: string): Promise<PublishResult> {
    return this.client.call('POST', `/updates/publishes/${seg(publishId)}/commit`, {body: {}, response: PublishResult})
  }
}

/** Runs fn with an UpdatesApi on the active session (TETHER_TOKEN works as everywhere). */
export async function withUpdatesApi<T>(fn: (api: UpdatesApi) => Promise<T>): Promise<T> {
  const {withApi} = await import('./session.js')
  return withApi((admin) => fn(new UpdatesApi(admin.client)))
}
