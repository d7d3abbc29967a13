import {strict as assert} from 'node:assert'
import {customerVisible, inScope, scopeFromRows} from '../../../src/server/auth/scope.js'
import {backoffSeconds} from '../../../src/server/auth/throttle.js'

describe('server/auth/scope', () => {
  const scope = {all: false, entries: [{customerId: 'acme', siteId: null}, {customerId: 'globex', siteId: 'globex-er'}]}

  it('decides single objects', () => {
    assert.equal(inScope(scope, 'acme', null), true)
    assert.equal(inScope(scope, 'acme', 'any-site'), true)
    assert.equal(inScope(scope, 'globex', 'globex-er'), true)
    assert.equal(inScope(scope, 'globex', 'globex-icu'), false)
    assert.equal(inScope(scope, 'globex', null), false)
    assert.equal(inScope(scope, 'initech', null), false)
    assert.equal(inScope({all: true, entries: []}, 'anything', 'x'), true)
    assert.equal(inScope({all: false, entries: []}, 'acme', null), false)
    assert.equal(customerVisible(scope, 'globex'), true)
  })

  it('builds scopes from rows', () => {
    assert.deepEqual(scopeFromRows(1, [{customer_id: 'x', site_id: null}]), {all: true, entries: []})
    assert.deepEqual(scopeFromRows(0, [{customer_id: null, site_id: null}]), {all: false, entries: []})
  })

  it('grows the login back-off', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 20].map(backoffSeconds), [0, 0, 1, 2, 4, 30])
  })
})
