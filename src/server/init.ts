import {randomBytes} from 'node:crypto'
import {chmod, mkdir, readdir, rename, rm, stat} from 'node:fs/promises'
import {basename, dirname, join, relative, resolve} from 'node:path'
import {writeFileAtomic} from '../shared/atomic-file.js'
import {ConflictError, UsageError} from '../shared/errors.js'
import type {ServerConfig} from './config.js'
import {defaultServerConfig} from './config-defaults.js'
import {isDatabaseUrl, writeServerConfig} from './config-store.js'
import {migrateToLatest, openDatabase} from './db/connect.js'
import {generateJwtSecret} from './auth/jwt.js'
import {generateMfaKey} from './auth/mfa-key.js'
import {generateCheckpointKeyPem} from '../shared/checkpoint-signature.js'
import {assertPasswordStrength} from './auth/passwords.js'
import {createFirstAdmin} from './init-admin.js'
import {createCa, issueServerCert, loadCa} from './pki/ca.js'
import {defaultHostnames} from './pki/hostnames.js'
import {loadOperatorCert, type OperatorCertFiles} from './pki/operator-cert.js'
import {fingerprintOf} from '../shared/x509.js'
import {generateSigningKey, signingKeyPem} from '../shared/tuf/index.js'


export interface InitOptions {
  dataDir: string
  /** Names for the server certificate; default localhost, 127.0.0.1, ::1. */
  hostnames?: string[]
  /** Replace an existing data dir. */
  force?: boolean
  /** postgres://… stored in config.json; default the SQLite file in the data dir. */
  database?: string
  /** Used for this run's migrations and admin user but not written to config.json (env). */
  runtimeDatabase?: string
  host?: string
  port?: number
  adminUsername?: string
  /** Absent: a password is generated and returned once. */
  adminPassword?: string
  /** Operator-supplied certificate instead of the generated root CA and server certificate. */
  tls?: OperatorCertFiles
}

/** The JSON document of `tether server init --json`. */
export interface InitResult {
  dataDir: string
  configFile: string
  hostnames: string[]
  database: string
  tls: {certFile: string; keyFile: string; caFile: string | null; operatorSupplied: boolean}
  /** SHA-256 of the root CA (what clients pin); null for an operator cert without --tls-ca. */
  caFingerprint: string | null
  serverCertFingerprint: string
  deviceCa: {certFile: string; fingerprint: string}
  jwtSecretFile: string
  /** Seals TOTP secrets in the database; copy it with the rest of the data dir. */
  mfaKeyFile: string
  /** Ed25519 key that signs audit checkpoints (docs/audit-format.md, "Anchoring"). */
  checkpointKeyFile: string
  admin: {username: string; generatedPassword?: string}
}

/**
 * Creates a complete data dir, atomically: everything is built in a hidden sibling directory
 * that is renamed into place at the end, so a failure leaves no half-initialised server.
 */
export async function initDataDir(options: InitOptions): Promise<InitResult> {
  const dataDir = resolve(options.dataDir)
  if (!options.force && !(await isEmptyOrMissing(dataDir))) {
    throw new ConflictError(`${dataDir} already exists and is not empty`, {
      suggestions: ['Use it with `tether server start`, or pass --force to replace it (its CA, keys and SQLite database are deleted).'],
    })
  }
  const username = options.adminUsername ?? 'admin'
  if (!/^[a-zA-Z0-9][a-zA-Z0-9._@-]{0,63}$/.test(username)) throw new UsageError(`--admin-username: "${username}" is not a valid username`)
  // Before any key is generated: a weak password should fail fast.
  if (options.adminPassword !== undefined) assertPasswordStrength(options.adminPassword, '--admin-password-file', username)

  const config: ServerConfig = defaultServerConfig(dataDir)
  if (options.host !== undefined) config.host = options.host
  const hostnames = unique(options.hostnames?.length ? options.hostnames : defaultHostnames(config.host))
  config.hostnames = hostnames
  if (options.port !== undefined) config.port = options.port
  if (options.database) config.database = isDatabaseUrl(options.database) ? options.database : resolve(options.database.replace(/^sqlite:/, ''))
  if (options.tls && !options.tls.caFile) config.tls.caFile = join(dataDir, 'tls', 'ca.crt')

  await mkdir(dirname(dataDir), {recursive: true, mode: 0o700})
  const tmp = join(dirname(dataDir), `.${basename(dataDir)}.init-${randomBytes(6).toString('hex')}`)
  // Files inside the data dir are built in the temp dir; a SQLite file elsewhere is used in place.
  const at = (p: string): string => {
    const rel = relative(dataDir, p)
    return rel.startsWith('..') ? p : join(tmp, rel)
  }
  await mkdir(tmp, {mode: 0o700})
  try {
    for (const sub of ['tls', 'device-ca', 'secrets']) await mkdir(join(tmp, sub), {mode: 0o700})

    let caFingerprint: string | null
    let serverCertFingerprint: string
    let caFile: string | null = config.tls.caFile
    if (options.tls) {
      const supplied = await loadOperatorCert(options.tls, options.hostnames ?? [])
      await writeFileAtomic(at(config.tls.certFile), supplied.certPem, 0o644)
      await writeFileAtomic(at(config.tls.keyFile), supplied.keyPem, 0o600)
      if (supplied.caPem) await writeFileAtomic(at(config.tls.caFile), supplied.caPem, 0o644)
      else caFile = null
      caFingerprint = supplied.caFingerprint
      serverCertFingerprint = supplied.fingerprint
    } else {
      const rootCa = await createCa('Tether Root CA')
      const caKeyFile = join(dirname(config.tls.caFile), 'ca.key')
      await writeFileAtomic(at(config.tls.caFile), rootCa.certPem, 0o644)
      await writeFileAtomic(at(caKeyFile), rootCa.keyPem, 0o600)
      const server = await issueServerCert(await loadCa(at(config.tls.caFile), at(caKeyFile)), hostnames)
      // Leaf then root: clients that pin the CA fingerprint find the CA in the handshake.
      await writeFileAtomic(at(config.tls.certFile), server.certPem + rootCa.certPem, 0o644)
      await writeFileAtomic(at(config.tls.keyFile), server.keyPem, 0o600)
      caFingerprint = rootCa.fingerprint
      serverCertFingerprint = server.fingerprint
    }

    const deviceCa = await createCa('Tether Device CA')
    await writeFileAtomic(at(config.deviceCa.certFile), deviceCa.certPem, 0o644)
    await writeFileAtomic(at(config.deviceCa.keyFile), deviceCa.keyPem, 0o600)
    await writeFileAtomic(at(config.auth.jwtSecretFile), generateJwtSecret(), 0o600)
    await writeFileAtomic(at(config.auth.mfaKeyFile), generateMfaKey(), 0o600)
    await writeFileAtomic(at(config.audit.checkpointKeyFile), generateCheckpointKeyPem(), 0o600)
    // The online TUF keys (docs/updates.md): `tether server updates-keys` prints their public halves.
    await writeFileAtomic(at(config.updates.snapshotKeyFile), signingKeyPem(generateSigningKey()), 0o600)
    await writeFileAtomic(at(config.updates.timestampKeyFile), signingKeyPem(generateSigningKey()), 0o600)
    await writeServerConfig(config, tmp)

    const runtimeDb = options.runtimeDatabase && !isDatabaseUrl(options.runtimeDatabase) ? resolve(options.runtimeDatabase.replace(/^sqlite:/, '')) : (options.runtimeDatabase ?? config.database)
    const generated = await createAdminIn(isDatabaseUrl(runtimeDb) ? runtimeDb : at(runtimeDb), username, options.adminPassword)

    await swapIntoPlace(tmp, dataDir, Boolean(options.force))
    return {
      dataDir,
      configFile: join(dataDir, 'config.json'),
      hostnames,
      database: redactUrl(runtimeDb),
      tls: {certFile: config.tls.certFile, keyFile: config.tls.keyFile, caFile, operatorSupplied: Boolean(options.tls)},
      caFingerprint,
      serverCertFingerprint,
      deviceCa: {certFile: config.deviceCa.certFile, fingerprint: fingerprintOf(deviceCa.certPem)},
      jwtSecretFile: config.auth.jwtSecretFile,
      mfaKeyFile: config.auth.mfaKeyFile,
      checkpointKeyFile: config.audit.checkpointKeyFile,
      admin: {username, ...(generated ? {generatedPassword: generated} : {})},
    }
  } catch (error) {
    await rm(tmp, {recursive: true, force: true})
    throw error
  }
}

/** Migrates the database and adds the admin; returns the generated password, if any. */
async function createAdminIn(database: string, username: string, password: string | undefined): Promise<string | undefined> {
  const opened = await openDatabase(database)
  let generated: string | undefined
  try {
    await migrateToLatest(opened)
    generated = await createFirstAdmin(opened, username, password)
  } finally {
    await opened.close()
  }
  if (!isDatabaseUrl(database)) await chmod(database.replace(/^sqlite:/, ''), 0o600)
  return generated
}

/** Renames the finished directory into place; with --force the old one goes only after that. */
async function swapIntoPlace(tmp: string, dataDir: string, force: boolean): Promise<void> {
  if (await isEmptyOrMissing(dataDir)) {
    await rm(dataDir, {recursive: true, force: true})
    await rename(tmp, dataDir)
    return
  }
  if (!force) throw new ConflictError(`${dataDir} appeared while initialising; not replacing it`)
  const old = `${tmp}.old`
  await rename(dataDir, old)
  try {
    await rename(tmp, dataDir)
  } catch (error) {
    await rename(old, dataDir)
    throw error
  }
  await rm(old, {recursive: true, force: true})
}

export async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    const info = await stat(dir)
    if (!info.isDirectory()) return false
    return (await readdir(dir)).length === 0
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true
    throw error
  }
}

function unique(names: string[]): string[] {
  return [...new Set(names.map((n) => n.trim()).filter(Boolean))]
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')
}
