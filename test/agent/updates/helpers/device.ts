import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Clock} from '../../../../src/agent/clock.js'
import {AgentConfig, agentFiles, readAgentConfig, writeAgentConfig, type AgentFiles} from '../../../../src/agent/data-dir.js'
import {EventRecorder} from '../../../../src/agent/events.js'
import {JobFailure} from '../../../../src/agent/jobs/runner.js'
import {updateExecutor} from '../../../../src/agent/updates/executor.js'
import {UndiciUpdatesHttp} from '../../../../src/agent/updates/http.js'
import {updateFiles} from '../../../../src/agent/updates/paths.js'
import {checkDeviceEvent, type JobProgress} from '../../../../src/protocol/agent/index.js'
import type {AgentUpdatesConfig, UpdateJobParams} from '../../../../src/protocol/updates/index.js'
import {FakeUpdateServer} from './update-server.js'
import {TestTufRepo} from './tuf-repo.js'

/**
 * A device for update tests: a data dir with agent.json (model "Analyzer X200", updates allowed,
 * install / health-check / rollback hooks that are small node scripts leaving traces in the dir),
 * a loopback update server over a real signed repository, and the executor as the agent builds it.
 */
export class TestDevice {
  dir!: string
  files!: AgentFiles
  repo = new TestTufRepo()
  server = new FakeUpdateServer(this.repo)
  url!: URL

  static async create(updates: Partial<AgentUpdatesConfig> = {}, options: {trustRoot?: boolean} = {}): Promise<TestDevice> {
    const d = new TestDevice()
    d.dir = await mkdtemp(join(tmpdir(), 'tether-updates-'))
    d.files = agentFiles(d.dir)
    d.url = await d.server.start()
    const config = AgentConfig.parse({
      version: 1,
      server: 'https://support.example.invalid',
      serial: 'SN-1',
      model: 'Analyzer X200',
      pollMs: 20,
      acceptedJobKinds: ['diagnostics', 'logs', 'updates'],
      updates: {
        allowed: true,
        ...(await writeHooks(d.dir)),
        hookTimeoutSeconds: 30,
        ...updates,
      },
    })
    await writeAgentConfig(d.files, config)
    if (options.trustRoot ?? true) {
      const {mkdir} = await import('node:fs/promises')
      await mkdir(updateFiles(d.files.updates).dir, {recursive: true})
      await writeFile(updateFiles(d.files.updates).trustedRoot, d.repo.rootJson)
    }
    return d
  }

  get updates() {
    return updateFiles(this.files.updates)
  }

  executor(clock?: Clock) {
    return updateExecutor({config: () => readAgentConfig(this.files), files: this.files, recorder: new EventRecorder(this.files), http: () => new UndiciUpdatesHttp(this.url), clock})
  }

  /** Runs one update job; resolves with its result or its JobFailure, and the progress it reported. */
  async run(params: UpdateJobParams, options: {executor?: ReturnType<TestDevice['executor']>; jobId?: string; signal?: AbortSignal; progress?: JobProgress[]} = {}): Promise<{result?: unknown; failure?: JobFailure; progress: JobProgress[]}> {
    const progress = options.progress ?? []
    const exec = options.executor ?? this.executor()
    try {
      const result = await exec({jobId: options.jobId ?? 'job-1', params, signal: options.signal ?? new AbortController().signal, progress: (p) => progress.push(p)})
      return {result, progress}
    } catch (error) {
      if (!(error instanceof JobFailure)) throw error
      return {failure: error, progress}
    }
  }

  async hookLog(): Promise<string[]> {
    return (await readFile(join(this.dir, 'hooks.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean)
  }

  /** The device.update.step events queued for the server (the outbox), in order; each must pass the server's registry check. */
  async steps(): Promise<Array<Record<string, unknown>>> {
    const text = await readFile(this.files.outbox, 'utf8').catch(() => '')
    const events = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as {action: string; details: Record<string, unknown>})
    for (const e of events) {
      const check = checkDeviceEvent(e.action, e.details)
      if (!check.ok) throw new Error(`the server would refuse ${e.action}: ${check.message}`)
    }
    return events.filter((e) => e.action === 'device.update.step').map((e) => e.details)
  }

  async auditActions(): Promise<string[]> {
    const text = await readFile(this.files.audit, 'utf8').catch(() => '')
    return text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as {action: string}).action)
  }

  async stop(): Promise<void> {
    await this.server.stop()
    await rm(this.dir, {recursive: true, force: true})
  }
}

/**
 * install / healthCheck / rollback commands: node scripts that append "NAME VERSION ARGS" to
 * DIR/hooks.log, and fail when DIR/fail-install, fail-health or fail-rollback exists.
 */
export async function writeHooks(dir: string): Promise<{install: string[]; healthCheck: string[]; rollback: string[]}> {
  const hook = async (name: string, body: string) => {
    const path = join(dir, `${name}.cjs`)
    await writeFile(path, `const fs = require('fs'); const trace = ${JSON.stringify(join(dir, 'hooks.log'))};\nfs.appendFileSync(trace, ${JSON.stringify(name)} + ' ' + process.env.TETHER_UPDATE_VERSION + ' ' + process.argv.slice(2).join(' ') + '\\n');\n${body}\n`)
    return [process.execPath, path]
  }
  return {
    install: await hook('install', `if (fs.existsSync(${JSON.stringify(join(dir, 'fail-install'))})) process.exit(3)`),
    healthCheck: await hook('health', `if (fs.existsSync(${JSON.stringify(join(dir, 'fail-health'))})) { console.error('selftest: pump offline'); process.exit(1) }`),
    rollback: await hook('rollback', `if (fs.existsSync(${JSON.stringify(join(dir, 'fail-rollback'))})) process.exit(1)`),
  }
}

export function params(version: string, targetPath = `${version}/analyzer-${version}.pkg`): UpdateJobParams {
  return {deploymentId: 'dep-1', targetPath, version}
}
