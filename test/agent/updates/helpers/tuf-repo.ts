import {createHash} from 'node:crypto'
import {Metadata, Root, TargetFile, Targets} from '@tufjs/models'
import type {TargetCustom} from '../../../../src/protocol/updates/index.js'
import {generateSigningKey, serializeMetadata, signMetadata, signSnapshot, signTimestamp, SPEC_VERSION, tufExpires, type SigningKey} from '../../../../src/shared/tuf/index.js'

/**
 * A real signed TUF repository in memory, built with the same shared helpers the release machine
 * and the server use: root and targets keys (the "offline" ones) and snapshot and timestamp keys
 * (the server's). Tests serve its files and then make it misbehave: targets a server added with
 * its own keys, expired roles, a snapshot that pins another targets version, rotated roots.
 */
const DAY = 24 * 3600 * 1000
const inDays = (days: number) => new Date(Date.now() + days * DAY)

export class TestTufRepo {
  rootKey = generateSigningKey()
  targetsKey = generateSigningKey()
  snapshotKey = generateSigningKey()
  timestampKey = generateSigningKey()
  /** root.json of every version, 1-based. */
  readonly roots: Buffer[] = []
  readonly packages = new Map<string, Buffer>()
  private readonly targets = new Map<string, TargetFile>()
  targetsVersion = 0
  snapshotVersion = 0
  timestampVersion = 0
  files = new Map<string, Buffer>()

  constructor() {
    this.roots.push(serializeMetadata(this.signRoot(1, [this.rootKey])))
    this.publish()
  }

  /** root.json of version `version`, signed by `signers` (a rotation needs the old and the new root keys). */
  private signRoot(version: number, signers: SigningKey[]): Metadata<Root> {
    const root = new Root({version, specVersion: SPEC_VERSION, expires: tufExpires(inDays(365)), consistentSnapshot: false})
    root.addKey(this.rootKey.publicKey, 'root')
    root.addKey(this.targetsKey.publicKey, 'targets')
    root.addKey(this.snapshotKey.publicKey, 'snapshot')
    root.addKey(this.timestampKey.publicKey, 'timestamp')
    const md = new Metadata(root)
    signMetadata(md as never, signers)
    return md
  }

  get rootJson(): Buffer {
    return this.roots[0]
  }

  /** Signs a package into targets.json with `custom.tether`; `signWith` other than the targets key makes an arbitrary (unsigned) target. */
  addTarget(path: string, bytes: Buffer, custom: TargetCustom, options: {signWith?: SigningKey} = {}): void {
    this.packages.set(path, bytes)
    this.targets.set(path, new TargetFile({path, length: bytes.length, hashes: {sha256: createHash('sha256').update(bytes).digest('hex')}, unrecognizedFields: {custom: {tether: custom}}}))
    this.publish({targetsKey: options.signWith})
  }

  /** New targets (if `targetsKey` or by default), snapshot and timestamp, as the publish and the server's online signing do. */
  publish(options: {targetsKey?: SigningKey; targetsExpiresDays?: number; timestampExpiresDays?: number; snapshotTargetsVersion?: number} = {}): void {
    const targets = new Targets({version: ++this.targetsVersion, specVersion: SPEC_VERSION, expires: tufExpires(inDays(options.targetsExpiresDays ?? 90)), targets: Object.fromEntries(this.targets)})
    const targetsMd = new Metadata(targets)
    signMetadata(targetsMd as never, [options.targetsKey ?? this.targetsKey])
    const targetsBytes = serializeMetadata(targetsMd as never)
    const snapshot = serializeMetadata(signSnapshot({version: ++this.snapshotVersion, expires: inDays(7), keys: [this.snapshotKey], targetsVersion: options.snapshotTargetsVersion ?? this.targetsVersion}) as never)
    const timestamp = serializeMetadata(signTimestamp({version: ++this.timestampVersion, expires: inDays(options.timestampExpiresDays ?? 1), keys: [this.timestampKey], snapshotVersion: this.snapshotVersion, snapshotBytes: snapshot}) as never)
    this.files.set('targets.json', targetsBytes)
    this.files.set('snapshot.json', snapshot)
    this.files.set('timestamp.json', timestamp)
    this.roots.forEach((r, i) => this.files.set(`${i + 1}.root.json`, r))
  }

  /** Root rotation: new root and targets keys (and timestamp key if asked); the new root is signed by the old and the new root key, as TUF requires. */
  rotateRoot(options: {timestamp?: boolean; signOldKey?: boolean} = {}): void {
    const oldRoot = this.rootKey
    this.rootKey = generateSigningKey()
    this.targetsKey = generateSigningKey()
    if (options.timestamp) this.timestampKey = generateSigningKey()
    const signers = options.signOldKey === false ? [this.rootKey] : [oldRoot, this.rootKey]
    this.roots.push(serializeMetadata(this.signRoot(this.roots.length + 1, signers) as never))
    this.publish()
  }
}

export function custom(version: string, extra: Partial<TargetCustom> = {}): TargetCustom {
  return {version, models: ['Analyzer X200'], ...extra}
}
