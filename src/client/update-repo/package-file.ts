import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {copyFile, mkdir, rename, rm, stat} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {UsageError} from '../../shared/errors.js'

/** A file name the server can store and a device can fetch as a URL path segment without escaping. */
const SAFE_FILE_NAME = /^[0-9A-Za-z][0-9A-Za-z._+-]{0,199}$/

/** The package's file name, refused with a one-line reason when the file is missing or its name is unsafe. */
export async function checkPackageFile(path: string): Promise<string> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`PACKAGE ${path}: ${error.code === 'ENOENT' ? 'not found' : error.message}`)
  })
  if (!info.isFile()) throw new UsageError(`PACKAGE ${path}: not a regular file`)
  const name = basename(path)
  if (!SAFE_FILE_NAME.test(name)) {
    throw new UsageError(`PACKAGE ${path}: the file name may hold only letters, digits and . _ + - (and start with a letter or digit); rename it`)
  }
  return name
}

export interface PackageDigest {
  length: number
  hashes: {sha256: string; sha512: string}
}

/** Copies the package into the repository (temp file + rename) and hashes the copy, the bytes that get published. */
export async function copyPackage(from: string, to: string): Promise<PackageDigest> {
  await mkdir(dirname(to), {recursive: true})
  const tmp = join(dirname(to), `.${basename(to)}.tmp`)
  await copyFile(from, tmp)
  try {
    const digest = await digestFile(tmp)
    await rename(tmp, to)
    return digest
  } catch (error) {
    await rm(tmp, {force: true})
    throw error
  }
}

export async function digestFile(path: string): Promise<PackageDigest> {
  const sha256 = createHash('sha256')
  const sha512 = createHash('sha512')
  let length = 0
  for await (const chunk of createReadStream(path)) {
    const bytes = chunk as Buffer
    length += bytes.length
    sha256.update(bytes)
    sha512.update(bytes)
  }
  return {length, hashes: {sha256: sha256.digest('hex'), sha512: sha512.digest('hex')}}
}
