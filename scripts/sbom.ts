/**
 * `npm run sbom`: the CycloneDX SBOM of what ships (runtime dependencies, from the lockfile),
 * written to sbom.cdx.json beside package.json, where `tether version --json` finds it and
 * reports its SHA-256. npm's own `npm sbom` does the work; this script only makes the output
 * reproducible (a serial number derived from the lockfile, no timestamp) so that the same
 * lockfile always gives the same digest, and names the component by its package name (npm
 * uses the directory's).
 */
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {readFileSync, renameSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

const root = join(import.meta.dirname, '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {name: string; version: string}
const lock = readFileSync(join(root, 'package-lock.json'))
const raw = execFileSync('npm', ['sbom', '--sbom-format', 'cyclonedx', '--omit', 'dev', '--package-lock-only'], {cwd: root, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8'})
const bom = JSON.parse(raw) as {serialNumber: string; metadata: {timestamp?: string; component: {name: string; version: string}}; components: unknown[]}

const digest = createHash('sha256').update(lock).digest('hex')
bom.serialNumber = `urn:uuid:${digest.slice(0, 8)}-${digest.slice(8, 12)}-5${digest.slice(13, 16)}-8${digest.slice(17, 20)}-${digest.slice(20, 32)}`
delete bom.metadata.timestamp
bom.metadata.component.name = pkg.name

const out = join(root, 'sbom.cdx.json')
writeFileSync(`${out}.tmp`, `${JSON.stringify(bom, null, 2)}\n`)
renameSync(`${out}.tmp`, out)
console.log(`wrote ${out}: ${bom.components.length} components, sha256 ${createHash('sha256').update(readFileSync(out)).digest('hex')}`)
