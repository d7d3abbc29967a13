import {access, copyFile, mkdir, readFile, rename} from 'node:fs/promises'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {BaseFetcher, Updater, type TargetFile} from 'tuf-js'
import {DownloadHTTPError} from 'tuf-js/dist/error.js'
import {AGENT_UPDATES_METADATA_PATH} from '../../protocol/updates/index.js'
import {writeFileAtomic} from '../../shared/atomic-file.js'
import {parseMetadata} from '../../shared/tuf/index.js'
import type {UpdatesHttp} from './http.js'
import type {UpdateFiles} from './paths.js'

/**
 * The TUF client walk (tuf-js's Updater: root rotation, timestamp, snapshot, targets, with every
 * signature, threshold, version and expiry check TUF specifies) over the agent's own connection.
 * Metadata persists in the data dir, so the versions this device has seen survive restarts and a
 * server can never walk it back (rollback of metadata) or freeze it beyond the expiry dates.
 */
const ROOT_MAX_BYTES = 512 * 1024

/** Why a refresh stopped: a check the metadata failed (refuse), or the server/network (retry later). */
export class TufCheckError extends Error {
  constructor(
    readonly check: 'expired' | 'signature' | 'version' | 'hash' | 'length' | 'metadata',
    message: string,
  ) {
    super(message)
  }
}

export class UpdatesNetworkError extends Error {}

/** tuf-js's fetcher on our connection: GET, status 200 or DownloadHTTPError (404 ends the root walk). */
class AgentFetcher extends BaseFetcher {
  constructor(private readonly http: UpdatesHttp) {
    super()
  }

  override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    const {pathname, search} = new URL(url)
    let res
    try {
      res = await this.http.get(pathname + search)
    } catch (error) {
      throw new UpdatesNetworkError(`update connection failed: ${(error as Error).message}`)
    }
    if (res.status !== 200) {
      res.body.resume()
      throw new DownloadHTTPError(`update server answered HTTP ${res.status} for ${pathname}`, res.status)
    }
    return Readable.toWeb(res.body) as ReadableStream<Uint8Array<ArrayBuffer>>
  }
}

export interface TrustSource {
  /**
   * 'image': the baked root.json (enroll --update-root); 'first-use': 1.root.json fetched now;
   * 'kept': metadata already trusted; 'image-after-damage': the trusted root.json did not parse
   * (tuf-js writes it in place: a crash can cut it), so the walk starts again from the image's root.
   */
  source: 'image' | 'first-use' | 'kept' | 'image-after-damage'
}

/**
 * The root this device starts its walk from. Already trusted metadata wins; else the root baked
 * into the image; else — the weaker option, documented as such — 1.root.json from the server over
 * the device's mTLS connection (trust on first use: a server that is already compromised at the
 * device's first update could hand it a root of its own).
 */
export async function ensureTrustedRoot(files: UpdateFiles, http: UpdatesHttp): Promise<TrustSource> {
  const current = join(files.metadata, 'root.json')
  await mkdir(files.metadata, {recursive: true, mode: 0o700})
  const damaged = (await exists(current)) && !(await parsesAsRoot(current))
  if (!damaged && (await exists(current))) return {source: 'kept'}
  if (await exists(files.trustedRoot)) {
    // Walking again from an older root is safe: every later root must still chain to it.
    const tmp = `${current}.tmp`
    await copyFile(files.trustedRoot, tmp)
    await rename(tmp, current)
    return {source: damaged ? 'image-after-damage' : 'image'}
  }
  if (damaged) {
    // Trusting the server's root again would silently downgrade to trust on first use.
    throw new TufCheckError('metadata', `${current} is damaged and this device has no baked root to start again from; re-enrol with --update-root FILE (or remove ${files.metadata} to trust the server's root again)`)
  }
  const bytes = await new AgentFetcher(http).downloadBytes(`http://updates.invalid${AGENT_UPDATES_METADATA_PATH}/1.root.json`, ROOT_MAX_BYTES).catch((error: Error) => {
    throw asCheckError(error)
  })
  let root
  try {
    root = parseMetadata('root', JSON.parse(bytes.toString('utf8')), '1.root.json')
    // A root must at least be signed by its own threshold (tuf-js checks it again on load).
    root.verifyDelegate('root', root)
  } catch (error) {
    throw new TufCheckError('signature', `the server's 1.root.json is not a valid self-signed root: ${(error as Error).message}`)
  }
  await writeFileAtomic(current, bytes, 0o600)
  return {source: 'first-use'}
}

/** Refreshes the metadata (the full TUF client workflow) and returns the signed entry of one target, or undefined. */
export async function signedTarget(files: UpdateFiles, http: UpdatesHttp, targetPath: string): Promise<TargetFile | undefined> {
  try {
    const updater = new Updater({
      metadataDir: files.metadata,
      metadataBaseUrl: `http://updates.invalid${AGENT_UPDATES_METADATA_PATH}`,
      fetcher: new AgentFetcher(http),
      config: {fetchRetries: 0},
    })
    await updater.refresh()
    return await updater.getTargetInfo(targetPath)
  } catch (error) {
    throw asCheckError(error as Error)
  }
}

/**
 * tuf-js reports snapshot and targets failures as a RuntimeError whose message embeds the cause,
 * so the check is read from the text. Network trouble is not a verdict on the update: it fails
 * the job (the server may push it again) instead of refusing it.
 */
export function asCheckError(error: Error): Error {
  if (error instanceof TufCheckError) return error
  const text = `${error.name}: ${error.message}`
  if (error instanceof UpdatesNetworkError || /update connection failed|update server answered HTTP/.test(text)) return new UpdatesNetworkError(error.message)
  if (/Max length reached/i.test(text)) return new TufCheckError('length', `metadata longer than allowed: ${error.message}`)
  if (/expired/i.test(text)) return new TufCheckError('expired', error.message)
  if (/signed by|signature|threshold/i.test(text)) return new TufCheckError('signature', error.message)
  if (/version/i.test(text)) return new TufCheckError('version', error.message)
  if (/length|hash/i.test(text)) return new TufCheckError('hash', error.message)
  return new TufCheckError('metadata', error.message)
}

async function parsesAsRoot(path: string): Promise<boolean> {
  try {
    parseMetadata('root', JSON.parse(await readFile(path, 'utf8')))
    return true
  } catch {
    return false
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  )
}
