import {strict as assert} from 'node:assert'
import {readFile} from 'node:fs/promises'
import {MATRIX_BEGIN, MATRIX_END, renderPermissionMatrix} from '../../../src/server/auth/rbac-table.js'

describe('docs/rbac.md', () => {
  it('shows the permission matrix of the code', async () => {
    const doc = await readFile(new URL('../../../docs/rbac.md', import.meta.url), 'utf8')
    const start = doc.indexOf(MATRIX_BEGIN)
    const end = doc.indexOf(MATRIX_END)
    assert.ok(start >= 0 && end > start, 'markers missing')
    const embedded = doc.slice(start + MATRIX_BEGIN.length, end).trim()
    assert.equal(embedded, renderPermissionMatrix(), 'regenerate the table with renderPermissionMatrix()')
  })
})
