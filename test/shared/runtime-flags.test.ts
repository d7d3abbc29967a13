import {strict as assert} from 'node:assert'
import {runtimeFlags} from '../../src/shared/runtime-flags.js'

describe('runtime flags', () => {
  it('pins the young generation for the server and the CLI, not for tunnels', () => {
    assert.deepEqual(runtimeFlags(['server', 'start'], [], ''), ['--semi-space-growth-factor=1', '--liftoff-only'])
    assert.deepEqual(runtimeFlags(['logs', 'pull'], [], ''), ['--semi-space-growth-factor=1', '--liftoff-only'])
    assert.deepEqual(runtimeFlags(['tunnels', 'connect'], [], ''), ['--liftoff-only'])
  })

  it("leaves the young generation to an operator's own setting (NODE_OPTIONS or node's flags)", () => {
    assert.deepEqual(runtimeFlags(['server', 'start'], [], '--max-semi-space-size=16'), ['--liftoff-only'])
    assert.deepEqual(runtimeFlags(['server', 'start'], ['--expose-gc', '--max-semi-space-size=16'], ''), ['--liftoff-only'])
    assert.deepEqual(runtimeFlags(['server', 'start'], [], '--max-old-space-size=1024'), ['--semi-space-growth-factor=1', '--liftoff-only'])
  })
})
