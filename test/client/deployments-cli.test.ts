import {strict as assert} from 'node:assert'
import {deployBody, parseStages} from '../../src/client/deployments-cli.js'

describe('updates deploy flags', () => {
  const base = {version: '2.4.1', model: 'Analyzer X200', to: 'st-mary/icu'}

  it('turns flags into the API body (durations, percents, labels)', () => {
    assert.deepEqual(deployBody({...base, label: ['ward=3'], stages: '1%,10%,50%,100%', 'halt-after': '5%', 'stage-wait': '24h', deadline: '72h'}), {
      version: '2.4.1',
      model: 'Analyzer X200',
      customer: 'st-mary',
      site: 'icu',
      labels: {ward: '3'},
      stages: [1, 10, 50, 100],
      haltAfter: '5%',
      stageWaitSeconds: 86_400,
      deadlineSeconds: 259_200,
    })
    assert.equal(deployBody({...base, 'stage-wait': '0'}).stageWaitSeconds, 0)
  })

  it('names the flag at fault', () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{version: '2.4'}, /^--version: /],
      [{to: 'St Mary'}, /^--to: /],
      [{stages: '10%,5%'}, /^--stages: .*ascend/],
      [{stages: '10%,50%'}, /^--stages: .*100%/],
      [{stages: 'ten'}, /^--stages: "ten"/],
      [{'halt-after': '0'}, /^--halt-after: /],
      [{'stage-wait': 'soon'}, /^--stage-wait: /],
      [{deadline: '30s'}, /^--deadline: at least 1m/],
    ]
    for (const [flags, message] of bad) assert.throws(() => deployBody({...base, ...flags}), (e: Error & {exitCode?: number}) => message.test(e.message) && e.exitCode === 2, JSON.stringify(flags))
    assert.deepEqual(parseStages('25,100'), [25, 100])
  })
})
