import {strict as assert} from 'node:assert'
import {buildTestApp, call, seedUser, sessionFor, type TestApp} from '../helpers/app.js'
import {DB_KINDS} from '../helpers/database.js'
import {fakeCatalog} from './engine.test.js'

for (const kind of DB_KINDS) {
  describe(`deployments routes (${kind})`, () => {
    let t: TestApp
    let root: string
    let eng: string
    let viewer: string

    before(async () => {
      t = await buildTestApp(kind, {config: (c) => void (c.deployments.tickSeconds = 3600)})
      t.app.deployments.catalog = fakeCatalog
      await seedUser(t.app, {username: 'root', role: 'admin'})
      root = (await sessionFor(t.app, 'root')).accessToken
      for (const c of ['acme', 'other']) assert.equal((await call(t.app, 'POST', '/customers', {token: root, body: {id: c, name: c}})).statusCode, 201)
      for (const [serial, customer] of [['SN-R1', 'acme'], ['SN-R2', 'acme'], ['SN-R9', 'other']]) {
        assert.equal((await call(t.app, 'POST', '/devices', {token: root, body: {serial, model: 'Analyzer X200', customer}})).statusCode, 201)
      }
      await t.app.db.updateTable('devices').set({enrolled_at: new Date().toISOString()}).execute()
      await seedUser(t.app, {username: 'eng', role: 'service-engineer', scope: {all: false, entries: [{customer: 'acme'}]}})
      await seedUser(t.app, {username: 'view', role: 'viewer', scope: {all: true, entries: []}})
      eng = (await sessionFor(t.app, 'eng')).accessToken
      viewer = (await sessionFor(t.app, 'view')).accessToken
    })
    after(async () => t?.close())

    it('deploys with updates:deploy, shows with devices:read, hides out of scope, moves with 409 on a bad move', async () => {
      const body = {version: '2.4.1', model: 'Analyzer X200', customer: 'acme', stages: [50, 100], haltAfter: '5%', stageWaitSeconds: 3600, deadlineSeconds: 86_400}
      assert.equal((await call(t.app, 'POST', '/deployments', {token: viewer, body})).statusCode, 403)
      assert.equal((await call(t.app, 'POST', '/deployments', {token: eng, body: {...body, customer: 'other'}})).statusCode, 404)
      const bad = await call(t.app, 'POST', '/deployments', {token: eng, body: {...body, stages: [50, 40]}})
      assert.equal(bad.statusCode, 400)
      assert.match(bad.json().error.message, /ascend/)
      const created = await call(t.app, 'POST', '/deployments', {token: eng, body})
      assert.equal(created.statusCode, 201, created.body)
      const d = created.json()
      assert.deepEqual([d.status, d.counts.devices, d.stageDetails.length, d.createdBy], ['running', 2, 2, 'eng'])
      assert.ok(!d.devices.some((x: {serial: string}) => x.serial === 'SN-R9'))
      assert.equal(d.devices.filter((x: {jobId: string | null}) => x.jobId !== null).length, 1)
      assert.equal((await call(t.app, 'GET', `/deployments/${d.id}`, {token: viewer})).json().id, d.id)
      assert.equal((await call(t.app, 'GET', '/deployments', {token: viewer})).json().deployments.length, 1)
      await seedUser(t.app, {username: 'other-eng', role: 'service-engineer', scope: {all: false, entries: [{customer: 'other'}]}})
      const otherEng = (await sessionFor(t.app, 'other-eng')).accessToken
      assert.equal((await call(t.app, 'GET', `/deployments/${d.id}`, {token: otherEng})).statusCode, 404)
      assert.equal((await call(t.app, 'POST', `/deployments/${d.id}/abort`, {token: otherEng})).statusCode, 404)
      assert.deepEqual((await call(t.app, 'GET', '/deployments', {token: otherEng})).json().deployments, [])
      assert.equal((await call(t.app, 'POST', `/deployments/${d.id}/pause`, {token: viewer})).statusCode, 403)
      assert.equal((await call(t.app, 'POST', `/deployments/${d.id}/pause`, {token: eng})).json().status, 'paused')
      assert.equal((await call(t.app, 'POST', `/deployments/${d.id}/resume`, {token: eng})).json().status, 'running')
      assert.equal((await call(t.app, 'POST', `/deployments/${d.id}/abort`, {token: eng})).json().status, 'aborted')
      const again = await call(t.app, 'POST', `/deployments/${d.id}/resume`, {token: eng})
      assert.equal(again.statusCode, 409)
      assert.equal(again.json().error.code, 'DEPLOYMENT_STATE')
      const unpublished = await call(t.app, 'POST', '/deployments', {token: eng, body: {...body, version: '3.0.0'}})
      assert.deepEqual([unpublished.statusCode, unpublished.json().error.code], [404, 'TARGET_NOT_FOUND'])
    })
  })
}
