import {join} from 'node:path'

/**
 * The files of software updates in the agent data dir (`updates/`), docs/updates.md lists them.
 * Everything an update needs to survive a kill -9 or a reboot lives here: the TUF metadata the
 * device trusts now, the partial download and its state, the approvals, the installed version.
 */
export function updateFiles(updatesDir: string) {
  return {
    dir: updatesDir,
    /** The root.json baked into the image (`agent enroll --update-root`): the trust anchor of the first update. */
    trustedRoot: join(updatesDir, 'trusted-root.json'),
    /** tuf-js's metadata dir: root.json (rotated as TUF walks), timestamp, snapshot, targets. */
    metadata: join(updatesDir, 'metadata'),
    /** Partial and complete downloads, named by the signed sha256, with their state files. */
    downloads: join(updatesDir, 'downloads'),
    /** Updates waiting for someone at the device (`tether agent updates pending|approve|defer`). */
    approvals: join(updatesDir, 'approvals.json'),
    /** The version the last successful update installed (also reported in the inventory). */
    installed: join(updatesDir, 'installed.json'),
  }
}
export type UpdateFiles = ReturnType<typeof updateFiles>
