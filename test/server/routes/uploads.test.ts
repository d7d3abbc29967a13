import {strict as assert} from 'node:assert'
import {createHash, randomBytes} from 'node:crypto'
import {Readable} from 'node:stream'
import {Agent, request} from 'undici'
import {AGENT_UPLOADS_PATH} from '../../../src/protocol/agent/jobs.js'
import {bundleView, findBundle, readBundle} from '../../../src/server/logs/bundles.js'
import {UNSCOPED} from '../../../src/server/auth/scope.js'
import {BLOB_VARIANTS} from '../helpers/blobs.js'
import {type HubFixture, startHubFixture} from '../hub/server-fixture.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read loosely-typed API answers
type Loose = any

const MiB = 1024 * 1024
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

/**
 * The agent's upload routes over real mTLS (device certificate), as the agent calls them. A
 * chunk that runs past the declared size is a 400 that names the problem, and the upload stays
 * where it was: same committed offset, and the right chunk still completes it.
 */
for (const {kind, blobs} of BLOB_VARIANTS) {
  describe(`agent upload routes over mTLS (${kind}, ${blobs} blobs)`, function () {
    this.timeout(30_000)
    let fx: HubFixture
    let dispatcher: Agent

    /** PUT/GET/POST as the device; `body` as a Buffer sends Content-Length, as a Readable sends it chunked. */
    const call = async (method: 'GET' | 'POST' | 'PUT', path: string, body?: Buffer | Readable | object): Promise<{status: number; json: Loose}> => {
      const raw = body instanceof Buffer || body instanceof Readable
      const res = await request(`${fx.server.url}${AGENT_UPLOADS_PATH}${path}`, {
        method,
        dispatcher,
        headers: body === undefined ? {} : {'content-type': raw ? 'application/octet-stream' : 'application/json'},
        ...(body === undefined ? {} : {body: raw ? body : JSON.stringify(body)}),
      })
      const text = await res.body.text()
      return {status: res.statusCode, json: text ? JSON.parse(text) : null}
    }

    before(async () => {
      fx = await startHubFixture(kind, {TETHER_BLOB_STORAGE: blobs})
      const device = await fx.issue('SN-UP')
      dispatcher = new Agent({connect: {ca: fx.serverCaPem, cert: device.certPem, key: device.keyPem}})
    })
    after(async () => {
      await dispatcher?.close()
      if (fx) await fx.close()
    })

    // Not a multiple of the 1 MiB segment: the last segment is short (where the 500 came from).
    const data = randomBytes(2 * MiB + 1000)

    it('refuses a chunk with a Content-Length past the declared size (400) and leaves the upload resumable', async () => {
      const created = await call('POST', '', {size: data.length, sha256: sha(data)})
      assert.equal(created.status, 201, JSON.stringify(created.json))
      const id = created.json.uploadId as string
      const tooLong = Buffer.concat([data, randomBytes(100)])
      const refused = await call('PUT', `/${id}?offset=0`, tooLong)
      assert.equal(refused.status, 400, JSON.stringify(refused.json))
      assert.equal(refused.json.error.code, 'USAGE')
      assert.equal(refused.json.error.message, `chunk ends at byte ${tooLong.length}, past the declared size ${data.length}`)
      assert.equal(refused.json.error.field, 'body')
      assert.equal((await call('GET', `/${id}`)).json.offset, 0)
      const done = await call('PUT', `/${id}?offset=0`, data)
      assert.equal(done.status, 200, JSON.stringify(done.json))
      assert.deepEqual({offset: done.json.offset, status: done.json.status}, {offset: data.length, status: 'complete'})
      // Declared up front without a format: an agent from before zstd, whose bundle is a tar.gz and stays one.
      assert.ok((await served(id))?.equals(data))
      const row = await findBundle(fx.server.app.db, UNSCOPED, id)
      assert.equal(bundleView(row).format, 'tar.gz')
    })

    it('refuses a chunked body that runs past the declared size (400): none of it is kept, the offset stays', async () => {
      const created = await call('POST', '', {size: data.length, sha256: sha(data)})
      const id = created.json.uploadId as string
      assert.equal((await call('PUT', `/${id}?offset=0`, data.subarray(0, MiB))).json.offset, MiB)
      const refused = await call('PUT', `/${id}?offset=${MiB}`, Readable.from([data.subarray(MiB), randomBytes(10)]))
      assert.equal(refused.status, 400, JSON.stringify(refused.json))
      assert.equal(refused.json.error.code, 'USAGE')
      assert.match(refused.json.error.message, new RegExp(`^chunk from byte ${MiB} runs past the declared size ${data.length}`))
      const state = await call('GET', `/${id}`)
      assert.deepEqual({offset: state.json.offset, status: state.json.status}, {offset: MiB, status: 'open'})
      const done = await call('PUT', `/${id}?offset=${MiB}`, Readable.from([data.subarray(MiB)]))
      assert.equal(done.status, 200, JSON.stringify(done.json))
      assert.deepEqual({offset: done.json.offset, status: done.json.status}, {offset: data.length, status: 'complete'})
    })

    /** A streamed bundle as the server hands it out: only once complete, and byte-identical. */
    const served = async (id: string): Promise<Buffer | null> => {
      const app = fx.server.app
      const row = await findBundle(app.db, UNSCOPED, id).catch((error: Error & {code?: string}) => {
        if (error.code === 'NOT_FOUND') return null
        throw error
      })
      if (!row) return null
      const parts: Buffer[] = []
      for await (const p of readBundle(app.logs.blobs, await app.logs.keyring(), row)) parts.push(p)
      return Buffer.concat(parts)
    }

    // Sizes at segment edges: one short of, exactly, and one past whole segments.
    for (const size of [2 * MiB - 1, 2 * MiB, 2 * MiB + 1]) {
      it(`streams ${size} bytes: size unknown until the final chunk, nothing served before it, then byte-identical`, async () => {
        const bundle = randomBytes(size)
        const created = await call('POST', '', {format: 'tar.zst'})
        assert.equal(created.status, 201, JSON.stringify(created.json))
        assert.equal(created.json.size, null)
        const id = created.json.uploadId as string
        // A non-final chunk of 1.5 MiB: one whole segment is kept, the rest is sent again.
        const first = await call('PUT', `/${id}?offset=0`, bundle.subarray(0, MiB + MiB / 2))
        assert.deepEqual({offset: first.json.offset, size: first.json.size, status: first.json.status}, {offset: MiB, size: null, status: 'open'})
        assert.equal(await served(id), null, 'an upload without its final chunk is not a bundle')
        const finalQuery = `final=1&size=${size}&sha256=${sha(bundle)}`
        const done = await call('PUT', `/${id}?offset=${MiB}&${finalQuery}`, bundle.subarray(MiB))
        assert.equal(done.status, 200, JSON.stringify(done.json))
        assert.deepEqual({offset: done.json.offset, size: done.json.size, status: done.json.status, bundleId: done.json.bundleId}, {offset: size, size, status: 'complete', bundleId: id})
        assert.ok((await served(id))?.equals(bundle))
        const row = await fx.server.app.db.selectFrom('log_uploads').select(['format', 'size', 'sha256']).where('id', '=', id).executeTakeFirstOrThrow()
        assert.deepEqual({format: row.format, size: Number(row.size), sha256: row.sha256}, {format: 'tar.zst', size, sha256: sha(bundle)})
      })
    }

    it('refuses a final chunk without the last byte, a final chunk short of its size, and a half declaration (400)', async () => {
      const bundle = randomBytes(MiB)
      const id = (await call('POST', '', {format: 'tar.zst'})).json.uploadId as string
      assert.equal((await call('PUT', `/${id}?offset=0`, bundle)).json.offset, MiB)
      const empty = await call('PUT', `/${id}?offset=${MiB}&final=1&size=${MiB}&sha256=${sha(bundle)}`, Buffer.alloc(0))
      assert.equal(empty.status, 400, JSON.stringify(empty.json))
      assert.match(empty.json.error.message, /must carry the bundle's last byte/)
      const id2 = (await call('POST', '', {format: 'tar.zst'})).json.uploadId as string
      const short = await call('PUT', `/${id2}?offset=0&final=1&size=${MiB + 10}&sha256=${sha(bundle)}`, bundle)
      assert.equal(short.status, 400, JSON.stringify(short.json))
      assert.match(short.json.error.message, /not at the declared size/)
      const half = await call('PUT', `/${id2}?offset=0&final=1`, bundle)
      assert.equal(half.status, 400, JSON.stringify(half.json))
      assert.equal(half.json.error.field, 'size')
      assert.equal((await call('POST', '', {size: 10})).status, 400)
    })

    it('a streamed upload whose final chunk declares a wrong SHA-256 is discarded (422), never served', async () => {
      const bundle = randomBytes(MiB + 5)
      const id = (await call('POST', '', {format: 'tar.zst'})).json.uploadId as string
      const bad = await call('PUT', `/${id}?offset=0&final=1&size=${bundle.length}&sha256=${sha(Buffer.from('other'))}`, bundle)
      assert.equal(bad.status, 422, JSON.stringify(bad.json))
      assert.equal(await served(id), null)
      assert.equal((await call('GET', `/${id}`)).status, 404)
    })
  })
}
