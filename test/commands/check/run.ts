import {type RunOptions, type RunResult, runTether} from '../../helpers/cli.js'

export type CheckRunOptions = Pick<RunOptions, 'env' | 'netns' | 'timeoutMs'>

/** runTether for check tests: proxy variables in `env` reach the child, optionally in a netns. */
export function runCheck(args: string[], options: CheckRunOptions = {}): Promise<RunResult> {
  return runTether(args, options)
}
