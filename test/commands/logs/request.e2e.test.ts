import {strict as assert} from 'node:assert'
import type {ChildProcess} from 'node:child_process'
import {mkdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {AgentUnderTest} from '../../agent/helpers/agent-process.js'
import {runTether, startTether} from '../../helpers/cli.js'
import {eventually, exitOf, expectExit, json, stopChild, SupportCenter} from '../../agent/helpers/support-center.js'
import {DB_KINDS} from '../../server/helpers/database.js'

/** A `tether` admin command running in the background, its output collected as it comes. */
class Running {
  stdout = ''
  stderr = ''
  readonly started = Date.now()
  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d) => (this.stdout += d))
    child.stderr?.on('data', (d) => (this.stderr += d))
  }

  /** Fails at once (with the output) if the command exits before `what` shows on stderr. */
  async stderrShows(pattern: RegExp, what: string): Promise<void> {
    await eventually(async () => {
      if (this.child.exitCode !== null) throw new Error(`exited ${this.child.exitCode} first\nstdout: ${this.stdout}\nstderr: ${this.stderr}`)
      return pattern.test(this.stderr)
    }, what, 30_000, 100)
  }

  async exit(): Promise<{code: number | null; ms: number}> {
    const code = await exitOf(this.child)
    return {code, ms: Date.now() - this.started}
  }
}

/**
 * `--wait` outlives a server restart: the server is killed -9 while `logs request --wait` polls,
 * comes back on the same port and data dir, and the command still ends with the job's outcome
 * within its --timeout. Exit 7 only when the server is still away as the bound passes.
 */
for (const kind of DB_KINDS) describe(`logs request --wait across a server restart (${kind}, e2e)`, function () {
  this.timeout(180_000)
  let sc: SupportCenter
  let agent: AgentUnderTest
  const SERIAL = `SN-WAIT-${kind}`
  const admin = (args: string[]) => new Running(startTether(args, {env: sc.adminEnv()}))

  before(async () => {
    sc = await SupportCenter.create({database: kind})
    await sc.start()
    await sc.loginAdmin()
    agent = new AgentUnderTest(join(sc.dir, 'agent'))
    expectExit(await agent.run(['agent', 'enroll', '--server', sc.url, '--token', await sc.enrollToken(SERIAL), '--fingerprint', sc.caFingerprint, '--json']), 0)
    const logDir = join(sc.dir, 'device-logs')
    await mkdir(logDir)
    await writeFile(join(logDir, 'device.log'), '2026-11-22T10:00:00Z analyzer started\n'.repeat(1000))
    await agent.tune({logSources: [join(logDir, '*.log')]})
  })
  after(async () => {
    await agent?.stop()
    await sc?.dispose()
  })

  it('keeps waiting while the server is down, tells the user, and exits 0 once the job succeeds', async () => {
    // The device is offline: the job stays queued until the agent connects after the restart.
    const waiting = admin(['logs', 'request', SERIAL, '--wait', '--timeout', '120s'])
    try {
      await eventually(async () => json<{jobs: unknown[]}>(expectExit(await sc.admin(['jobs', 'list', '--device', SERIAL, '--json']), 0)).jobs.length === 1, 'job queued')
      await sc.kill9()
      await waiting.stderrShows(/Server unreachable: .*connection refused.*\. Still waiting for job [0-9a-f-]+ until \d\d:\d\d:\d\d\./, 'the unreachable notice')
      await sc.start(sc.port)
      agent.start()
      const {code, ms} = await waiting.exit()
      assert.equal(code, 0, `stdout: ${waiting.stdout}\nstderr: ${waiting.stderr}`)
      assert.ok(ms < 120_000, `took ${ms} ms`)
      assert.match(waiting.stdout, /^Bundle [0-9a-f-]+ stored \(\d+ bytes\): tether logs pull /m)
      assert.match(waiting.stderr, /Server reachable again; waiting for job/)
    } finally {
      await stopChild(waiting.child, 'SIGKILL')
      // Killed and not restarted (the command gave up first): the next test needs a server.
      if (sc.server?.signalCode) await sc.start(sc.port)
    }
  })

  it('exits 8 when the bound passes with the server up, and 7 only when the server is still down then', async () => {
    await agent.stop()
    const pending = await runTether(['diag', 'run', SERIAL, 'memory', '--wait', '--timeout', '2s', '--json'], {env: sc.adminEnv()})
    assert.equal(json<{status: string}>(expectExit(pending, 8)).status, 'queued')
    const waiting = admin(['diag', 'run', SERIAL, 'memory', '--wait', '--timeout', '6s', '--json'])
    try {
      await eventually(async () => json<{jobs: Array<{status: string}>}>(expectExit(await sc.admin(['jobs', 'list', '--device', SERIAL, '--status', 'queued', '--json']), 0)).jobs.length === 2, 'second job queued')
      await sc.kill9()
      const {code, ms} = await waiting.exit()
      assert.equal(code, 7, `stdout: ${waiting.stdout}\nstderr: ${waiting.stderr}`)
      // Waited out the bound rather than giving up at the first refused connection.
      assert.ok(ms >= 5000, `gave up after ${ms} ms`)
      const error = json<{error: {code: string; message: string; details: {jobId: string}}}>({code, stdout: waiting.stdout, stderr: waiting.stderr, ms})
      assert.equal(error.error.code, 'UNAVAILABLE')
      assert.match(error.error.message, /connection refused.*gave up waiting for job .* after 6s, its state is unknown/)
      // --json: no human notices on stderr.
      assert.doesNotMatch(waiting.stderr, /Server unreachable/)
    } finally {
      await stopChild(waiting.child, 'SIGKILL')
      await sc.start(sc.port)
    }
  })
})
