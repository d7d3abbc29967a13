import {z} from 'zod'
import {DeviceModel, SemVer} from '../updates/index.js'
import {Timestamp} from './common.js'

/**
 * The publish API (`tether updates publish`, permission updates:publish) and the published-target
 * listing. A publish has three steps, so that packages stream one by one and nothing goes live
 * until all of them are verified:
 *   POST /updates/publishes                       metadata in, verified; answers which packages to send
 *   PUT  /updates/publishes/:id/packages/<path>   one package body (application/octet-stream)
 *   POST /updates/publishes/:id/commit            targets + new roots go live with fresh snapshot/timestamp
 * The metadata is TUF JSON as the release machine wrote it; the server checks it (signatures,
 * thresholds, root rotation, expiry, versions, custom.tether) before anything is stored.
 */

/** Largest metadata body accepted (targets.json with many targets, plus the new roots). */
export const MAX_PUBLISH_METADATA_BYTES = 16 * 1024 * 1024
/** Largest package accepted. */
export const MAX_PACKAGE_BYTES = 16 * 1024 * 1024 * 1024

const TufDocument = z.record(z.string(), z.unknown())

// POST /updates/publishes → 201 PublishPlan
export const BeginPublishRequest = z.strictObject({
  /** `<N>.root.json` documents, oldest first; those the server already trusts are skipped. The first publish must start at 1.root.json. */
  roots: z.array(TufDocument).max(256),
  targets: TufDocument,
})
export type BeginPublishRequest = z.infer<typeof BeginPublishRequest>

export const PlannedPackage = z.strictObject({
  path: z.string(),
  length: z.number().int().nonnegative(),
  sha256: z.string(),
  /** The server already holds these bytes (an earlier publish): no need to send them. */
  present: z.boolean(),
})
export type PlannedPackage = z.infer<typeof PlannedPackage>

export const PublishPlan = z.strictObject({
  publishId: z.string(),
  /** No root was trusted before: this publish establishes the trust (1.root.json). */
  firstPublish: z.boolean(),
  /** Root versions this publish adds. */
  newRoots: z.array(z.number().int().positive()),
  rootVersion: z.number().int().positive(),
  targetsVersion: z.number().int().positive(),
  packages: z.array(PlannedPackage),
})
export type PublishPlan = z.infer<typeof PublishPlan>

export const PublishIdParam = z.strictObject({id: z.string().uuid()})
// PUT /updates/publishes/:id/packages/* (the target path) → 200 PackageReceived
export const PackageParams = z.strictObject({id: z.string().uuid(), '*': z.string().min(1).max(256)})
export const PackageReceived = z.strictObject({path: z.string(), bytes: z.number().int().nonnegative(), sha256: z.string()})
export type PackageReceived = z.infer<typeof PackageReceived>

// POST /updates/publishes/:id/commit → 200 PublishResult
export const PublishResult = z.strictObject({
  rootVersion: z.number().int().positive(),
  newRoots: z.array(z.number().int().positive()),
  targetsVersion: z.number().int().positive(),
  snapshotVersion: z.number().int().positive(),
  timestampVersion: z.number().int().positive(),
  /** Target paths this publish added / that the new targets.json no longer lists. */
  added: z.array(z.string()),
  removed: z.array(z.string()),
})
export type PublishResult = z.infer<typeof PublishResult>

export const UpdateTargetView = z.strictObject({
  path: z.string(),
  version: SemVer,
  models: z.array(DeviceModel),
  length: z.number().int().nonnegative(),
  sha256: z.string(),
  minVersion: SemVer.nullable(),
  downgrade: z.boolean(),
  targetsVersion: z.number().int().positive(),
  publishedBy: z.string(),
  publishedAt: Timestamp,
})
export type UpdateTargetView = z.infer<typeof UpdateTargetView>

// GET /updates/targets (updates:publish or updates:deploy) → UpdateTargetList, newest version first
export const UpdateTargetList = z.strictObject({
  targets: z.array(UpdateTargetView),
  /** The live versions (null before the first publish). */
  rootVersion: z.number().int().positive().nullable(),
  targetsVersion: z.number().int().positive().nullable(),
  targetsExpires: Timestamp.nullable(),
  timestampExpires: Timestamp.nullable(),
})
export type UpdateTargetList = z.infer<typeof UpdateTargetList>

// GET /updates/online-keys (updates:publish) → OnlinePublicKeys (src/protocol/updates/online-keys.ts)
