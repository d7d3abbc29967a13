import {Command, Flags} from '@oclif/core'
import {debugEnabled, reportFor} from './error-report.js'
import {TetherError, type ExitCodeValue} from './errors.js'
import {paint} from './output.js'

/**
 * Thrown by a command that has a complete result to show but must still exit non-zero
 * (a check that found failures). The result is printed as the --json document; in human
 * mode the command has already rendered it and only the summary line goes to stderr.
 */
export class ResultWithExitCode<T> extends TetherError {
  constructor(
    message: string,
    readonly result: T,
    exitCode: ExitCodeValue,
    code = 'FAILED',
  ) {
    super(message, {code, exitCode})
  }
}

/** Base of every tether command: --debug, and the one rendering of errors to exit codes. */
export abstract class TetherCommand extends Command {
  static override baseFlags = {
    debug: Flags.boolean({
      description: 'Show stack traces for errors (same as DEBUG=tether*).',
      helpGroup: 'GLOBAL',
    }),
  }

  protected override async catch(err: Error & {oclif?: {exit?: number}; code?: string}): Promise<unknown> {
    // this.exit() throws an oclif ExitError: let it through untouched.
    if (err.oclif?.exit !== undefined && err.code === 'EEXIT') throw err

    if (err instanceof ResultWithExitCode) {
      if (this.jsonEnabled()) this.logJson(this.toSuccessJson(err.result))
      else this.logToStderr(paint('red', err.message, process.stderr))
      this.exit(err.exitCode)
    }

    const report = reportFor(err)
    if (this.jsonEnabled()) {
      this.logJson({
        error: {code: report.code, exitCode: report.exitCode, message: report.message, suggestions: report.suggestions, ...(report.details ? {details: report.details} : {})},
      })
    } else {
      this.logToStderr(`${paint('red', 'Error:', process.stderr)} ${report.message}`)
      for (const hint of report.suggestions) this.logToStderr(`  ${paint('dim', '→', process.stderr)} ${hint}`)
    }

    if (debugEnabled() && err.stack) this.logToStderr(err.stack)
    this.exit(report.exitCode)
  }
}
