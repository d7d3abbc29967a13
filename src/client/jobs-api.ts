import type {z} from 'zod'
import {DiagnosticCatalogue, JobList, JobQuery, JobView, RunDiagnosticRequest} from '../protocol/api/jobs.js'
import {LogBundleList, LogBundleView, RequestLogsRequest} from '../protocol/api/logs.js'
import type {ApiClient} from './api-client.js'

const seg = encodeURIComponent

export type Job = JobView
export type LogBundle = LogBundleView

/** Typed calls for jobs, diagnostics and log bundles (src/protocol/api/{jobs,logs}.ts). */
export class JobsApi {
  constructor(readonly client: ApiClient) {}

  async listJobs(query: z.input<typeof JobQuery> = {}): Promise<Job[]> {
    return (await this.client.call('GET', '/jobs', {query: JobQuery.parse(query), response: JobList})).jobs
  }
  getJob(id: string): Promise<Job> {
    return this.client.call('GET', `/jobs/${seg(id)}`, {response: JobView})
  }
  cancelJob(id: string): Promise<Job> {
    return this.client.call('POST', `/jobs/${seg(id)}/cancel`, {body: {}, response: JobView})
  }
  catalogue(serial: string): Promise<DiagnosticCatalogue> {
    return this.client.call('GET', `/devices/${seg(serial)}/diagnostics`, {response: DiagnosticCatalogue})
  }
  runDiagnostic(serial: string, body: z.input<typeof RunDiagnosticRequest>): Promise<Job> {
    return this.client.call('POST', `/devices/${seg(serial)}/diagnostics`, {body, bodySchema: RunDiagnosticRequest, response: JobView})
  }
  requestLogs(serial: string, body: z.input<typeof RequestLogsRequest>): Promise<Job> {
    return this.client.call('POST', `/devices/${seg(serial)}/logs`, {body, bodySchema: RequestLogsRequest, response: JobView})
  }
  async listBundles(query: {device?: string; limit?: number} = {}): Promise<LogBundle[]> {
    return (await this.client.call('GET', '/logs', {query, response: LogBundleList})).bundles
  }
  /** A bundle id, or a device serial (its newest bundle). */
  getBundle(idOrSerial: string): Promise<LogBundle> {
    return this.client.call('GET', `/logs/${seg(idOrSerial)}`, {response: LogBundleView})
  }
}
