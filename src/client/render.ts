import {renderFields, renderTable} from '../shared/output.js'
import type {TableView} from '../shared/table.js'
import type {ApiToken, Customer, Device, Site, User} from './admin-api.js'
import type {NodeView} from '../protocol/api/nodes.js'
import {scopeText} from './cli-input.js'

const dash = (v: string | null | undefined): string => v ?? '-'

export function usersTable(users: User[], view: TableView = {}): string {
  return renderTable(
    ['Username', 'Role', 'Scope', 'MFA', 'Status'],
    users.map((u) => [u.username, u.role, scopeText(u.scope), u.mfaEnabled ? 'on' : 'off', u.disabled ? 'disabled' : 'active']),
    view,
  )
}

export function userFields(u: User): string {
  return renderFields([
    ['Username', u.username],
    ['Name', u.displayName],
    ['Role', u.role],
    ['Scope', scopeText(u.scope)],
    ['MFA', u.mfaEnabled ? 'on' : 'off'],
    ['Status', u.disabled ? 'disabled' : 'active'],
    ['Created', u.createdAt],
    ['ID', u.id],
  ])
}

export function tokensTable(tokens: ApiToken[], view: TableView = {}): string {
  return renderTable(
    ['ID', 'Name', 'User', 'Permissions', 'Expires', 'Last used', 'Status'],
    tokens.map((t) => [t.id, t.name, t.username, t.permissions.join(' '), t.expiresAt, dash(t.lastUsedAt), t.revokedAt ? 'revoked' : 'active']),
    view,
  )
}

export function customersTable(customers: Customer[], view: TableView = {}): string {
  return renderTable(['ID', 'Name', 'Created'], customers.map((c) => [c.id, c.name, c.createdAt]), view)
}

export function sitesTable(sites: Site[], view: TableView = {}): string {
  return renderTable(['ID', 'Customer', 'Name', 'Created'], sites.map((s) => [s.id, s.customer, s.name, s.createdAt]), view)
}

export function labelsText(labels: Record<string, string>): string {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(' ') || '-'
}

export function devicesTable(devices: Device[], view: TableView = {}): string {
  return renderTable(
    ['Serial', 'Model', 'Customer', 'Site', 'State', 'Last seen', 'Labels'],
    devices.map((d) => [d.serial, d.model, d.customer, dash(d.site), deviceState(d), dash(d.lastSeenAt), labelsText(d.labels)]),
    view,
  )
}

export function deviceFields(d: Device): string {
  return renderFields([
    ['Serial', d.serial],
    ['Model', d.model],
    ['Customer', d.customer],
    ['Site', d.site],
    ['State', deviceState(d)],
    ['Labels', labelsText(d.labels)],
    ['Registered', d.createdAt],
    ['Enrolled', d.enrolledAt],
    ['Last seen', d.lastSeenAt],
    ['Revoked', d.revokedAt],
    ['Events refused', d.eventsRefused > 0 ? `${d.eventsRefused} (not device events the server records; see the server log)` : null],
  ])
}

export function deviceState(d: Device): string {
  if (d.revokedAt) return 'revoked'
  if (!d.enrolledAt) return 'registered'
  return d.online ? 'online' : 'offline'
}

export function nodesTable(nodes: NodeView[], view: TableView = {}): string {
  const mb = (bytes: number) => `${Math.round(bytes / 1048576)} MB`
  return renderTable(
    ['Node', 'Peer address', 'Agents', 'Load', 'RSS', 'Heartbeat', 'Up since'],
    nodes.map((n) => [`${n.id}${n.self ? ' *' : ''}`, dash(n.peerAddress), n.agents, n.loadAverage.toFixed(2), mb(n.rssBytes), `${(n.leaseAgeMs / 1000).toFixed(1)} s ago`, n.startedAt]),
    view,
  )
}
