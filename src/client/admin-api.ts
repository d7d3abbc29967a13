import type {Writable} from 'node:stream'
import type {z} from 'zod'
import {AuditExportQuery, AuditList, AuditListQuery, AuditReport, AuditReportQuery, AuditVerifyResponse, CheckpointResponse} from '../protocol/api/audit.js'
import type {AuditCheckpoint} from '../protocol/audit-checkpoint.js'
import {ChangePasswordRequest, LoginRequest, MeResponse, MfaConfirmRequest, MfaEnrollResponse, TokenPair} from '../protocol/api/auth.js'
import type {Scope} from '../protocol/api/common.js'
import {
  CreateCustomerRequest,
  CreateDeviceRequest,
  CreateSiteRequest,
  CustomerList,
  CustomerView,
  DeviceList,
  DeviceView,
  SiteList,
  SiteView,
} from '../protocol/api/registry.js'
import {
  CreateTokenRequest,
  CreateTokenResponse,
  CreateUserRequest,
  CreateUserResponse,
  ResetPasswordRequest,
  ResetPasswordResponse,
  SetRoleRequest,
  SetScopeRequest,
  TokenList,
  UserList,
  type UserListEntry,
} from '../protocol/api/users.js'
import {UserView} from '../protocol/api/auth.js'
import type {ApiClient} from './api-client.js'

const seg = encodeURIComponent

/** One typed method per admin API route (src/protocol/api). */
export class AdminApi {
  constructor(readonly client: ApiClient) {}

  // --- auth ---
  login(body: z.input<typeof LoginRequest>): Promise<TokenPair> {
    return this.client.call('POST', '/auth/login', {body, bodySchema: LoginRequest, response: TokenPair, auth: false})
  }
  logout(refreshToken: string): Promise<void> {
    return this.client.call('POST', '/auth/logout', {body: {refreshToken}, response: null, auth: false})
  }
  me(): Promise<MeResponse> {
    return this.client.call('GET', '/me', {response: MeResponse})
  }
  /** With an explicit token: the restricted session of a user who must enrol MFA. */
  enrollMfa(accessToken: string): Promise<MfaEnrollment> {
    return this.client.call('POST', '/me/mfa/enroll', {body: {}, response: MfaEnrollResponse, headers: bearer(accessToken)})
  }
  confirmMfa(accessToken: string, code: string): Promise<void> {
    return this.client.call('POST', '/me/mfa/confirm', {body: {code}, bodySchema: MfaConfirmRequest, response: null, headers: bearer(accessToken)})
  }
  /** The caller's new session comes back: every session from before has ended. */
  changePassword(body: z.input<typeof ChangePasswordRequest>): Promise<TokenPair> {
    return this.client.call('PUT', '/me/password', {body, bodySchema: ChangePasswordRequest, response: TokenPair})
  }

  // --- users ---
  async listUsers(): Promise<UserListEntry[]> {
    return (await this.client.call('GET', '/users', {response: UserList})).users
  }
  getUser(username: string): Promise<User> {
    return this.client.call('GET', `/users/${seg(username)}`, {response: UserView})
  }
  createUser(body: z.input<typeof CreateUserRequest>): Promise<CreatedUser> {
    return this.client.call('POST', '/users', {body, bodySchema: CreateUserRequest, response: CreateUserResponse})
  }
  setUserDisabled(username: string, disabled: boolean): Promise<User> {
    return this.client.call('POST', `/users/${seg(username)}/${disabled ? 'disable' : 'enable'}`, {body: {}, response: UserView})
  }
  /** Without a password the server generates one and returns it once. */
  resetPassword(username: string, password?: string): Promise<PasswordReset> {
    const body = password === undefined ? {} : {password}
    return this.client.call('POST', `/users/${seg(username)}/password`, {body, bodySchema: ResetPasswordRequest, response: ResetPasswordResponse})
  }
  setRole(username: string, role: z.input<typeof SetRoleRequest>['role']): Promise<User> {
    return this.client.call('PUT', `/users/${seg(username)}/role`, {body: {role}, bodySchema: SetRoleRequest, response: UserView})
  }
  setScope(username: string, scope: Scope): Promise<User> {
    return this.client.call('PUT', `/users/${seg(username)}/scope`, {body: scope, bodySchema: SetScopeRequest, response: UserView})
  }

  // --- tokens ---
  /** Own tokens, or another user's (users:manage). */
  async listTokens(user?: string): Promise<ApiToken[]> {
    return (await this.client.call('GET', '/tokens', {query: {user}, response: TokenList})).tokens
  }
  createToken(body: z.input<typeof CreateTokenRequest>): Promise<CreatedToken> {
    return this.client.call('POST', '/tokens', {body, bodySchema: CreateTokenRequest, response: CreateTokenResponse})
  }
  revokeToken(id: string): Promise<void> {
    return this.client.call('DELETE', `/tokens/${seg(id)}`, {response: null})
  }

  // --- registry ---
  async listCustomers(): Promise<Customer[]> {
    return (await this.client.call('GET', '/customers', {response: CustomerList})).customers
  }
  createCustomer(body: z.input<typeof CreateCustomerRequest>): Promise<Customer> {
    return this.client.call('POST', '/customers', {body, bodySchema: CreateCustomerRequest, response: CustomerView})
  }
  async listSites(customer?: string): Promise<Site[]> {
    return (await this.client.call('GET', '/sites', {query: {customer}, response: SiteList})).sites
  }
  createSite(body: z.input<typeof CreateSiteRequest>): Promise<Site> {
    return this.client.call('POST', '/sites', {body, bodySchema: CreateSiteRequest, response: SiteView})
  }
  async listDevices(query: {customer?: string; site?: string} = {}): Promise<Device[]> {
    return (await this.client.call('GET', '/devices', {query, response: DeviceList})).devices
  }
  getDevice(serial: string): Promise<Device> {
    return this.client.call('GET', `/devices/${seg(serial)}`, {response: DeviceView})
  }
  createDevice(body: z.input<typeof CreateDeviceRequest>): Promise<Device> {
    return this.client.call('POST', '/devices', {body, bodySchema: CreateDeviceRequest, response: DeviceView})
  }

  // --- audit ---
  auditReport(query: AuditReportQuery): Promise<AuditReport> {
    return this.client.call('GET', '/audit/report', {query: AuditReportQuery.parse(query), response: AuditReport})
  }

  listAudit(query: z.input<typeof AuditListQuery>): Promise<AuditPage> {
    return this.client.call('GET', '/audit/events', {query: AuditListQuery.parse(query), response: AuditList})
  }
  /** The export, and the chain head it ends at (X-Audit-Up-To, X-Audit-Head-Hash): an auditor keeps that outside. */
  async exportAudit(query: z.input<typeof AuditExportQuery>, dest: string | Writable): Promise<AuditExported> {
    const {bytes, headers} = await this.client.download('/audit/export', AuditExportQuery.parse(query), dest)
    const header = (name: string) => String(headers[name] ?? '')
    return {bytes, count: Number(header('x-audit-count')), head: {seq: Number(header('x-audit-up-to')), hash: header('x-audit-head-hash')}}
  }
  verifyAudit(checkpoints: AuditCheckpoint[] = []): Promise<AuditVerifyResult> {
    return this.client.call('POST', '/audit/verify', {body: checkpoints.length > 0 ? {checkpoints} : {}, response: AuditVerifyResponse})
  }
  /** The latest signed checkpoint; with sign, the server signs its current head first (if it moved). */
  auditCheckpoint(sign: boolean): Promise<CheckpointResult> {
    return sign
      ? this.client.call('POST', '/audit/checkpoint', {body: {}, response: CheckpointResponse})
      : this.client.call('GET', '/audit/checkpoint', {response: CheckpointResponse})
  }
}

export type User = z.infer<typeof UserView>
export type Customer = z.infer<typeof CustomerView>
export type Site = z.infer<typeof SiteView>
export type Device = z.infer<typeof DeviceView>
export type ApiToken = z.infer<typeof TokenList>['tokens'][number]
export type CreatedToken = z.infer<typeof CreateTokenResponse>
export type CreatedUser = z.infer<typeof CreateUserResponse>
export type PasswordReset = z.infer<typeof ResetPasswordResponse>
export type AuditPage = z.infer<typeof AuditList>
export type MfaEnrollment = z.infer<typeof MfaEnrollResponse>
export type AuditVerifyResult = z.infer<typeof AuditVerifyResponse>
export type CheckpointResult = z.infer<typeof CheckpointResponse>
export interface AuditExported {
  bytes: number
  /** Events in the export. */
  count: number
  /** The chain head the export ends at. */
  head: {seq: number; hash: string}
}

function bearer(token: string): Record<string, string> {
  return {authorization: `Bearer ${token}`}
}
