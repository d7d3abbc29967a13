import {strict as assert} from 'node:assert'
import Fastify, {type FastifyInstance} from 'fastify'
import {useErrorHandler} from '../../../src/server/http/error-handler.js'
import {ERROR_CODES, TetherError} from '../../../src/shared/errors.js'

describe('the server error handler answers from the one table', () => {
  let app: FastifyInstance
  const logged: string[] = []
  before(async () => {
    app = Fastify({logger: {level: 'error', stream: {write: (line: string) => void logged.push(line)}}})
    app.decorate('config', {limits: {bodyLimitBytes: 1024}} as never)
    useErrorHandler(app)
    app.get('/throw/:code', async (request) => {
      throw new TetherError(`thrown with ${(request.params as {code: string}).code}`, {code: (request.params as {code: string}).code})
    })
    await app.ready()
  })
  after(async () => app.close())

  it('answers every code with the status declared beside it', async () => {
    for (const [code, entry] of Object.entries(ERROR_CODES)) {
      const res = await app.inject({method: 'GET', url: `/throw/${code}`})
      assert.equal(res.statusCode, entry.status, code)
      if (entry.status < 500) assert.deepEqual(res.json(), {error: {code, message: `thrown with ${code}`}})
    }
  })

  it('answers a code missing from the table with a logged 500, never a silent 400', async () => {
    logged.length = 0
    const res = await app.inject({method: 'GET', url: '/throw/NOT_DECLARED_ANYWHERE'})
    assert.equal(res.statusCode, 500)
    assert.deepEqual(res.json(), {error: {code: 'INTERNAL', message: 'internal server error'}})
    assert.match(logged.join('\n'), /error code NOT_DECLARED_ANYWHERE has no HTTP status/)
  })
})
