/**
 * What a deployment needs from the published TUF repository (src/server/updates, migration 008):
 * the signed target of a version for a model. The server's update service implements it; a
 * deployment of a version nobody published is refused.
 */
export interface PublishedTarget {
  /** TUF target path, e.g. "2.4.1/analyzer-x200.tar". */
  path: string
  version: string
  models: string[]
  length: number
  sha256: string
}

export interface TargetCatalog {
  findTarget(query: {version: string; model: string}): Promise<PublishedTarget | null>
}

/** Until the update service is wired in: nothing is published, so every deploy is refused. */
export const EMPTY_CATALOG: TargetCatalog = {findTarget: async () => null}
