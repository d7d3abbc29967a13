import {strict as assert} from 'node:assert'
import {checkDocument} from '../../scripts/check-doc-tests.js'

describe('the evidence documents\' test references (npm run lint)', () => {
  const tests: Record<string, string> = {'test/a.test.ts': "it('refuses a lone surrogate', …)\nit(`catches ${kind} with a checkpoint`, …)"}
  const read = (path: string) => tests[path] ?? null

  it('accepts a reference whose file holds every named title', () => {
    const doc = '| AUDT | yes | `test/a.test.ts` › "refuses a lone surrogate" › "with a checkpoint" |'
    assert.deepEqual(checkDocument('d.md', doc, read), {references: 1, problems: []})
  })

  it('names the line of a missing file or a title no longer in it', () => {
    const doc = 'intro\n`test/gone.test.ts` › "x"\n`test/a.test.ts` › "a renamed test"'
    assert.deepEqual(checkDocument('d.md', doc, read).problems, [
      {doc: 'd.md', line: 2, message: 'test/gone.test.ts does not exist'},
      {doc: 'd.md', line: 3, message: 'test/a.test.ts has no test titled "a renamed test"'},
    ])
  })
})
