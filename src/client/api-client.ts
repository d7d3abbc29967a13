import {randomBytes} from 'node:crypto'
import {createWriteStream} from 'node:fs'
import {rename, rm} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {type Readable, Transform, type Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {Agent, request, type Dispatcher} from 'undici'
import type {z} from 'zod'
import {TokenPair} from '../protocol/api/auth.js'
import {API_PREFIX} from '../protocol/api/common.js'
import {AuthError, ExitCode, TetherError, UsageError} from '../shared/errors.js'
import {errorFromNetwork, errorFromResponse} from './http-errors.js'
import {connectOptions, type Trust} from './trust.js'

export type Query = Record<string, string | number | boolean | undefined>

export interface ApiClientOptions {
  /** Server origin, e.g. https://support.example.org:8443 */
  server: string
  trust?: Trust
  accessToken?: string
  /** With a refresh token, an expired access token (401) is refreshed once and the call retried. */
  refreshToken?: string
  /** Called with the new pair after a refresh, to store it. */
  onRefresh?: (pair: TokenPair) => Promise<void>
  /**
   * Serialises refreshes between processes and returns the tokens stored now: when another
   * process has already refreshed, those are used instead of spending our (rotated) token.
   */
  refreshGuard?: <T>(fn: (stored: {accessToken: string; refreshToken: string} | null) => Promise<T>) => Promise<T>
  /** Tests pass an undici MockAgent; default is an Agent with the trust settings. */
  dispatcher?: Dispatcher
  timeoutMs?: number
}

interface CallOptions<S extends z.ZodType | null> {
  query?: Query
  body?: unknown
  /** Request schema: the body is checked before it leaves (errors name the field). */
  bodySchema?: z.ZodType
  /** Response schema; null for 204 answers. */
  response: S
  /** false for /auth/login and /auth/refresh, which take no bearer token. */
  auth?: boolean
  /** Extra headers, e.g. a bearer token other than the session's. */
  headers?: Record<string, string>
}

type Result<S> = S extends z.ZodType ? z.infer<S> : void

/** The typed admin API client used by every admin command. TLS verification is never off. */
export class ApiClient {
  readonly server: string
  accessToken?: string
  refreshToken?: string
  private readonly dispatcher: Dispatcher
  private readonly ownsDispatcher: boolean
  private readonly onRefresh?: (pair: TokenPair) => Promise<void>
  private readonly refreshGuard: NonNullable<ApiClientOptions['refreshGuard']>
  private readonly timeoutMs: number

  constructor(options: ApiClientOptions) {
    this.server = normalizeServerUrl(options.server)
    this.accessToken = options.accessToken
    this.refreshToken = options.refreshToken
    this.onRefresh = options.onRefresh
    this.refreshGuard = options.refreshGuard ?? ((fn) => fn(null))
    this.timeoutMs = options.timeoutMs ?? 30_000
    this.ownsDispatcher = !options.dispatcher
    this.dispatcher = options.dispatcher ?? new Agent({connect: connectOptions(options.trust ?? {}), connections: 4})
  }

  async call<S extends z.ZodType | null>(method: Dispatcher.HttpMethod, path: string, options: CallOptions<S>): Promise<Result<S>> {
    if (options.bodySchema && options.body !== undefined) {
      const checked = options.bodySchema.safeParse(options.body)
      if (!checked.success) {
        const issue = checked.error.issues[0]
        throw new UsageError(`${issue.path.join('.') || 'request'}: ${issue.message}`, {details: {field: issue.path.join('.')}})
      }
    }
    const res = await this.send(method, path, options)
    if (res.statusCode === 204 || options.response === null) {
      await res.body.dump()
      return undefined as Result<S>
    }
    const json = await readJson(res)
    const parsed = (options.response as z.ZodType).safeParse(json)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new TetherError(`the server's answer to ${method} ${path} does not match the API contract (${issue.path.join('.')}: ${issue.message}); are client and server the same version?`, {
        code: 'PROTOCOL',
        exitCode: ExitCode.INTERNAL,
      })
    }
    return parsed.data as Result<S>
  }

  /**
   * Streams a response body to a file (temp file + rename: never half-written) or to a
   * stream such as stdout, with backpressure, in constant memory. Returns the byte count.
   */
  /** Streams a GET body to a file (complete or not at all) or a stream; headers come back for the caller. */
  async download(path: string, query: Query, dest: string | Writable): Promise<{bytes: number; headers: Dispatcher.ResponseData['headers']}> {
    const res = await this.send('GET', path, {query, response: null})
    const {headers} = res
    let bytes = 0
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length
        done(null, chunk)
      },
    })
    if (typeof dest !== 'string') {
      try {
        await pipeline(res.body, counter, dest, {end: false})
      } catch (error) {
        // The reader went away (`tether audit export | head`): not a failure of the export.
        if ((error as NodeJS.ErrnoException).code === 'EPIPE') return {bytes, headers}
        throw errorFromNetwork(this.server, error)
      }
      return {bytes, headers}
    }
    const tmp = join(dirname(dest), `.${basename(dest)}.${randomBytes(6).toString('hex')}.part`)
    try {
      // flush: fsync before close, so the rename never exposes unwritten data.
      await pipeline(res.body, counter, createWriteStream(tmp, {flags: 'wx', mode: 0o600, flush: true}))
      await rename(tmp, dest)
    } catch (error) {
      await rm(tmp, {force: true})
      throw error instanceof TetherError || (error as NodeJS.ErrnoException).syscall ? error : errorFromNetwork(this.server, error)
    }
    return {bytes, headers}
  }

  /**
   * A GET whose body the caller consumes itself (headers first: size, checksum), e.g. a log
   * bundle pull with a progress bar. Non-2xx answers are thrown as typed errors.
   */
  openStream(path: string, query: Query = {}): Promise<Dispatcher.ResponseData> {
    return this.send('GET', path, {query, response: null})
  }

  /**
   * Streams a body (application/octet-stream, `length` bytes) from a fresh stream per attempt
   * (a 401 is refreshed once and the body opened again), in constant memory; no body timeout
   * while sending, so a large package on a slow link is not cut off by the client.
   */
  async upload<S extends z.ZodType>(method: Dispatcher.HttpMethod, path: string, open: () => Readable, length: number, response: S): Promise<z.infer<S>> {
    const useAuth = true
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {accept: 'application/json', 'content-type': 'application/octet-stream', 'content-length': String(length)}
      if (useAuth && this.accessToken) headers.authorization = `Bearer ${this.accessToken}`
      let res: Dispatcher.ResponseData
      try {
        res = await request(`${this.server}${API_PREFIX}${path}`, {method, headers, body: open(), dispatcher: this.dispatcher, headersTimeout: 0, bodyTimeout: this.timeoutMs})
      } catch (error) {
        throw errorFromNetwork(this.server, error)
      }
      const json = await readJson(res).catch(() => null)
      if (res.statusCode >= 200 && res.statusCode < 300) {
        const parsed = response.safeParse(json)
        if (!parsed.success) throw new TetherError(`the server's answer to ${method} ${path} does not match the API contract; are client and server the same version?`, {code: 'PROTOCOL', exitCode: ExitCode.INTERNAL})
        return parsed.data
      }
      const error = errorFromResponse(res.statusCode, json, res.headers)
      if (attempt === 0 && res.statusCode === 401 && this.refreshToken && error.code !== 'MFA_REQUIRED') {
        await this.refresh()
        continue
      }
      throw error
    }
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close()
  }

  /** Sends a request; on 401 refreshes once and retries; non-2xx become typed errors. */
  private async send(method: Dispatcher.HttpMethod, path: string, options: CallOptions<z.ZodType | null>): Promise<Dispatcher.ResponseData> {
    const useAuth = options.auth !== false
    for (let attempt = 0; ; attempt++) {
      const res = await this.raw(method, path, options, useAuth)
      if (res.statusCode >= 200 && res.statusCode < 300) return res
      const body = await readJson(res).catch(() => null)
      const error = errorFromResponse(res.statusCode, body, res.headers)
      const canRefresh = res.statusCode === 401 && useAuth && !options.headers?.authorization && this.refreshToken && error.code !== 'MFA_REQUIRED'
      if (attempt === 0 && canRefresh) {
        await this.refresh()
        continue
      }
      throw error
    }
  }

  /** POST /auth/refresh with the stored refresh token; stores the new (rotated) pair. */
  async refresh(): Promise<void> {
    await this.refreshGuard(async (stored) => {
      if (stored && stored.refreshToken !== this.refreshToken) {
        this.accessToken = stored.accessToken
        this.refreshToken = stored.refreshToken
        return
      }
      let pair: TokenPair
      try {
        pair = await this.call('POST', '/auth/refresh', {body: {refreshToken: this.refreshToken}, response: TokenPair, auth: false})
      } catch (error) {
        if (error instanceof AuthError) {
          throw new AuthError('the session has expired or was revoked; run `tether login` again', {cause: error, code: 'SESSION_EXPIRED'})
        }
        throw error
      }
      this.accessToken = pair.accessToken
      this.refreshToken = pair.refreshToken
      if (this.onRefresh) await this.onRefresh(pair)
    })
  }

  private async raw(method: Dispatcher.HttpMethod, path: string, options: CallOptions<z.ZodType | null>, useAuth: boolean): Promise<Dispatcher.ResponseData> {
    const url = `${this.server}${API_PREFIX}${path}${queryString(options.query)}`
    const headers: Record<string, string> = {accept: 'application/json', ...options.headers}
    if (useAuth && this.accessToken && !headers.authorization) headers.authorization = `Bearer ${this.accessToken}`
    let body: string | undefined
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(options.body)
    }
    try {
      return await request(url, {method, headers, body, dispatcher: this.dispatcher, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs})
    } catch (error) {
      throw errorFromNetwork(this.server, error)
    }
  }
}

/** https://host:port without a path; the key of stored sessions. Plain http is refused. */
export function normalizeServerUrl(text: string, what = '--server'): string {
  let url: URL
  try {
    url = new URL(/^[a-z]+:\/\//i.test(text) ? text : `https://${text}`)
  } catch {
    throw new UsageError(`${what}: "${text}" is not a URL; use e.g. https://support.example.org:8443`)
  }
  if (url.protocol !== 'https:') throw new UsageError(`${what}: the admin API is HTTPS only; use https://…`)
  return url.origin
}

function queryString(query?: Query): string {
  if (!query) return ''
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v))
  const text = params.toString()
  return text ? `?${text}` : ''
}

async function readJson(res: Dispatcher.ResponseData): Promise<unknown> {
  const text = await res.body.text()
  if (text === '') return null
  try {
    return JSON.parse(text)
  } catch {
    // A proxy's HTML error page: keep a short excerpt for the message.
    return {error: {code: 'NOT_JSON', message: text.slice(0, 200).replace(/\s+/g, ' ')}}
  }
}
