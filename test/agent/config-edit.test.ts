import {strict as assert} from 'node:assert'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {editConfig, getConfig} from '../../src/agent/config-edit.js'
import {resolvePath} from '../../src/agent/config-path.js'
import {AgentConfig, agentFiles} from '../../src/agent/data-dir.js'
import {LocalAudit} from '../../src/agent/local-audit.js'
import {UsageError} from '../../src/shared/errors.js'

async function refused(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof UsageError, `expected UsageError, got ${String(error)}`)
    assert.match(`${error.message} ${error.suggestions.join(' ')}`, pattern)
    return true
  })
}

describe('agent config get|set|add|remove', () => {
  let dir: string
  const onDisk = async (): Promise<Record<string, unknown>> => JSON.parse(await readFile(join(dir, 'agent.json'), 'utf8'))

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-agent-config-'))
    await writeFile(join(dir, 'agent.json'), JSON.stringify({version: 1, server: 'https://127.0.0.1:8443', serial: 'SN-1'}))
  })
  afterEach(() => rm(dir, {recursive: true, force: true}))

  it('round-trips every kind of setting: lists, numbers, nested keys, named scripts, tunnel targets', async () => {
    await editConfig(dir, 'add', 'logSources', '/var/log/analyzer/*.log')
    await editConfig(dir, 'add', 'allowedTunnelPorts', '22')
    await editConfig(dir, 'add', 'allowedTunnelPorts', '5900')
    await editConfig(dir, 'add', 'allowedTunnelTargets', '10.0.5.20:22')
    await editConfig(dir, 'set', 'acceptedJobKinds', '["diagnostics"]')
    await editConfig(dir, 'set', 'jobs.concurrency', '4')
    await editConfig(dir, 'set', 'diagnostics.db.check', '{"command": ["/usr/bin/df", "-h"]}')
    await editConfig(dir, 'set', 'diagnostics.db.check.timeoutSeconds', '10')
    const all = (await getConfig(dir)).value as AgentConfig
    assert.deepEqual(all.logSources, ['/var/log/analyzer/*.log'])
    assert.deepEqual(all.allowedTunnelPorts, [22, 5900])
    assert.deepEqual(all.allowedTunnelTargets, ['10.0.5.20:22'])
    assert.deepEqual(all.acceptedJobKinds, ['diagnostics'])
    assert.equal(all.jobs.concurrency, 4)
    assert.deepEqual(all.diagnostics['db.check'], {command: ['/usr/bin/df', '-h'], timeoutSeconds: 10})
    assert.deepEqual((await getConfig(dir, 'diagnostics.db.check.command')).value, ['/usr/bin/df', '-h'])
    // What is on disk is what the agent reads.
    assert.ok(AgentConfig.safeParse(await onDisk()).success)

    assert.equal((await editConfig(dir, 'set', 'backoff.capMs', '30000')).restartNeeded, true, 'read once at start')
    assert.equal((await editConfig(dir, 'set', 'jobs.logsTimeoutSeconds', '600')).restartNeeded, false, 'read per job')
    assert.equal((await editConfig(dir, 'add', 'logSources', '/var/log/b.log')).restartNeeded, false)
    await editConfig(dir, 'remove', 'logSources', '/var/log/b.log')
    const again = await editConfig(dir, 'add', 'allowedTunnelPorts', '22')
    assert.equal(again.changed, false, 'adding what is there changes nothing')
    await editConfig(dir, 'remove', 'allowedTunnelPorts', '22')
    await editConfig(dir, 'remove', 'diagnostics.db.check')
    await editConfig(dir, 'remove', 'jobs.concurrency')
    const after = (await getConfig(dir)).value as AgentConfig
    assert.deepEqual(after.allowedTunnelPorts, [5900])
    assert.deepEqual(after.diagnostics, {})
    assert.equal(after.jobs.concurrency, 2, 'remove without VALUE restores the default')
  })

  it('refuses values the agent would refuse, naming the key and what is allowed, and writes nothing', async () => {
    const before = await readFile(join(dir, 'agent.json'), 'utf8')
    await refused(editConfig(dir, 'add', 'allowedTunnelPorts', '70000'), /^allowedTunnelPorts: .*65535 \(given: 70000\)/)
    await refused(editConfig(dir, 'add', 'acceptedJobKinds', 'reboot'), /^acceptedJobKinds: .*"diagnostics".*"logs".*"updates" \(given: reboot\)/)
    await refused(editConfig(dir, 'add', 'allowedTunnelTargets', 'db-server'), /^allowedTunnelTargets: expected "host:port", e\.g\. "10\.0\.5\.20:22" \(given: db-server\)/)
    await refused(editConfig(dir, 'set', 'jobs.concurrency', 'many'), /^jobs\.concurrency: .*number/)
    await refused(editConfig(dir, 'set', 'allowedTunnelPorts', '22'), /^allowedTunnelPorts: .*array.*agent config add allowedTunnelPorts VALUE/)
    await refused(editConfig(dir, 'set', 'diagnostics.system-info', '{"command": ["true"]}'), /^diagnostics: a diagnostic script cannot take the name of a built-in/)
    await refused(editConfig(dir, 'set', 'logSource', '/x'), /"logSource" is not a setting of agent\.json; did you mean logSources\? .*logSources/)
    await refused(editConfig(dir, 'set', 'jobs.parallel', '2'), /"jobs\.parallel" is not a setting of agent\.json .*jobs has: concurrency, queueMax/)
    await refused(editConfig(dir, 'set', 'server', 'https://elsewhere.example'), /^server: cannot be changed with agent config; .*agent enroll --force/)
    await refused(editConfig(dir, 'add', 'jobs.concurrency', '3'), /is not a list; use `tether agent config set jobs\.concurrency VALUE`/)
    await refused(editConfig(dir, 'set', 'proxy', 'socks5://10.0.0.1:1080'), /^proxy: "socks5:" proxies are not supported/)
    assert.equal(await readFile(join(dir, 'agent.json'), 'utf8'), before)
  })

  it('keeps a proxy password out of agent.json, in the credential store', async () => {
    const saved = process.env.TETHER_CREDENTIAL_STORE
    process.env.TETHER_CREDENTIAL_STORE = 'file'
    try {
      await editConfig(dir, 'set', 'proxy', 'http://svc:s3cret@proxy.hospital.local:3128')
    } finally {
      if (saved === undefined) delete process.env.TETHER_CREDENTIAL_STORE
      else process.env.TETHER_CREDENTIAL_STORE = saved
    }
    const config = await onDisk()
    assert.equal(config.proxy, 'http://svc@proxy.hospital.local:3128')
    assert.equal(config.proxyPasswordStore, 'file')
    assert.doesNotMatch(JSON.stringify(config), /s3cret/)
    assert.match(await readFile(agentFiles(dir).proxySecrets, 'utf8'), /s3cret/)
    await editConfig(dir, 'remove', 'proxy')
    assert.deepEqual([(await onDisk()).proxy, (await onDisk()).proxyPasswordStore], [null, null])
  })

  it('records each change in the hash-chained local audit (and nothing for a no-op)', async () => {
    await editConfig(dir, 'add', 'logSources', '/var/log/a.log')
    await editConfig(dir, 'add', 'logSources', '/var/log/a.log')
    await editConfig(dir, 'set', 'pollMs', '500')
    const audit = new LocalAudit(agentFiles(dir).audit)
    const entries = (await audit.readAll()).filter((e) => e.action === 'agent.config.changed')
    assert.deepEqual(entries.map((e) => [e.details.key, e.details.operation, e.details.from, e.details.to]), [
      ['logSources', 'add', [], ['/var/log/a.log']],
      ['pollMs', 'set', 1000, 500],
    ])
    assert.match(entries[0].actor, /^local:/)
    assert.equal((await audit.verify()).ok, true)
  })

  it('resolves dotted keys through the schema, including names with dots', () => {
    assert.deepEqual(resolvePath(AgentConfig, 'backoff.capMs').path, ['backoff', 'capMs'])
    assert.deepEqual(resolvePath(AgentConfig, 'diagnostics.db.check').path, ['diagnostics', 'db.check'])
    assert.deepEqual(resolvePath(AgentConfig, 'diagnostics.db.check.command').path, ['diagnostics', 'db.check', 'command'])
    assert.equal(resolvePath(AgentConfig, 'backoff.nope').path, undefined)
  })
})
