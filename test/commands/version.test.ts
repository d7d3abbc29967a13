import {strict as assert} from 'node:assert'
import {runCommand} from '@oclif/test'

describe('tether version', () => {
  it('prints a JSON document with the version', async () => {
    const {stdout, error} = await runCommand(['version', '--json'])
    assert.equal(error, undefined)
    const doc = JSON.parse(stdout)
    assert.match(doc.version, /^\d+\.\d+\.\d+/)
    assert.equal(doc.node, process.version)
  })
})
