import {Flags} from '@oclif/core'
import {JOB_KIND_LABELS, type JobKindLabel} from '../../protocol/agent/jobs.js'
import {agentDataDirFlag} from '../../agent/cli-flags.js'
import {TetherCommand} from '../../shared/command.js'
import {renderFields} from '../../shared/output.js'
import type {EnrollResult} from '../../agent/enroll.js'

export default class AgentEnroll extends TetherCommand {
  static override description = `Enroll this device with a support center, using a one-time token.

Generates the device key pair here (it never leaves the device), sends a certificate request for CN=SERIAL with the token, and stores the signed device certificate, the CA chain, the server CA and the key (0600) in the agent data dir. The server is trusted through --ca or
--fingerprint (or the system store); there is no way to skip the check.
A proxy password given in --proxy is moved to the OS keychain (or a 0600 file), never agent.json.`

  static override examples = [
    '<%= config.bin %> agent enroll --server https://support.example.org:8443 --token "$TOKEN" --ca server-ca.pem',
    '<%= config.bin %> agent enroll --server https://support.example.org:8443 --token "$TOKEN" --fingerprint 3A:7F:...:C2',
    '<%= config.bin %> agent enroll --server https://support.example.org:8443 --token "$TOKEN" --ca ca.pem --allow-updates --update-root /usr/share/device/update-root.json',
    '<%= config.bin %> agent enroll --server https://support.example.org:8443 --token "$TOKEN" --ca ca.pem --proxy http://user:pass@proxy.hospital.local:3128 --allow-port 22 --allow-port 5900',
  ]

  static override enableJsonFlag = true

  static override flags = {
    server: Flags.string({description: 'Support-center URL (https://HOST:PORT).', required: true, helpValue: 'URL'}),
    token: Flags.string({description: 'One-time enrollment token (from `tether devices enroll-token`).', required: true, env: 'TETHER_ENROLL_TOKEN', helpValue: 'TOKEN'}),
    serial: Flags.string({description: "This device's serial number (default: the one the token was issued for; if given, it must match).", env: 'TETHER_AGENT_SERIAL', helpValue: 'SERIAL'}),
    model: Flags.string({description: 'Device model for the inventory, when the server has none for this device (it normally comes with the token).', helpValue: 'MODEL'}),
    ca: Flags.string({description: 'PEM file of the server CA to trust.', exclusive: ['fingerprint'], helpValue: 'FILE'}),
    fingerprint: Flags.string({description: 'SHA-256 fingerprint of the server CA (or certificate) to trust.', exclusive: ['ca'], helpValue: 'SHA256'}),
    proxy: Flags.string({description: 'HTTP proxy for CONNECT (http://[user:pass@]host:port). Default: HTTPS_PROXY; NO_PROXY applies.', helpValue: 'URL'}),
    'allow-port': Flags.integer({description: 'Local TCP port tunnels may reach through this device (repeatable).', multiple: true, min: 1, max: 65535}),
    'allow-target': Flags.string({description: 'A HOST:PORT on this device\'s network that tunnels may reach (repeatable), e.g. 10.1.2.3:443.', multiple: true, helpValue: 'HOST:PORT'}),
    'session-hook': Flags.string({description: 'Command run at remote-session start and end with a JSON event on stdin (argv split on spaces, no shell).', helpValue: 'COMMAND'}),
    'job-kind': Flags.string({description: 'Job kinds this device accepts (repeatable).', multiple: true, options: JOB_KIND_LABELS}),
    'allow-updates': Flags.boolean({description: 'Allow software updates on this device (agent.json updates.allowed, and "updates" as an accepted job kind).'}),
    'update-root': Flags.string({description: 'The TUF root.json baked into the device image: the trust anchor of updates (without it the first update trusts the server\'s root, a weaker option).', helpValue: 'FILE'}),
    force: Flags.boolean({description: 'Enroll again over an existing enrollment: new key and certificate, the settings in agent.json are kept.'}),
    'data-dir': agentDataDirFlag,
  }

  async run(): Promise<EnrollResult> {
    const {flags} = await this.parse(AgentEnroll)
    const [{enrollAgent}, {agentDataDir}, {readCaFile, normalizeFingerprint}, {proxyFromSettings}] = await Promise.all([
      import('../../agent/enroll.js'),
      import('../../agent/data-dir.js'),
      import('../../client/trust.js'),
      import('../../shared/proxy-connect.js'),
    ])
    const proxy = proxyFromSettings(flags.proxy)
    const proxyUrl = flags.proxy ?? (proxy ? process.env[proxy.origin] : undefined)
    const result = await enrollAgent({
      dataDir: agentDataDir(flags['data-dir']),
      server: flags.server,
      token: flags.token,
      serial: flags.serial,
      model: flags.model,
      caPem: flags.ca ? await readCaFile(flags.ca) : undefined,
      fingerprint: flags.fingerprint ? normalizeFingerprint(flags.fingerprint) : undefined,
      // Only a --proxy is remembered in agent.json; HTTPS_PROXY keeps applying from the environment.
      proxy: proxy && flags.proxy && proxyUrl ? {...proxy, url: proxyUrl} : undefined,
      proxyForEnroll: proxy,
      force: flags.force,
      allowUpdates: flags['allow-updates'],
      updateRoot: flags['update-root'] ? {path: flags['update-root'], bytes: await readUpdateRoot(flags['update-root'])} : undefined,
      settings: {
        ...(flags['allow-port'] ? {allowedTunnelPorts: flags['allow-port']} : {}),
        ...(flags['allow-target'] ? {allowedTunnelTargets: flags['allow-target']} : {}),
        ...(flags['session-hook'] ? {sessionHook: flags['session-hook'].split(' ').filter(Boolean)} : {}),
        ...(flags['job-kind'] ? {acceptedJobKinds: flags['job-kind'] as JobKindLabel[]} : {}),
      },
    })
    if (!this.jsonEnabled()) {
      this.log(renderFields([
        ['enrolled', result.serial],
        ['model', result.model],
        ['server', result.server],
        ['data dir', result.dataDir],
        ['certificate', result.certificateFingerprint],
        ['proxy', result.proxy ? `${result.proxy}${result.proxyPasswordStore ? ` (password in ${result.proxyPasswordStore === 'file' ? 'proxy-credentials.json, 0600' : 'the OS keychain'})` : ''}` : 'none'],
        ...(flags.force ? [['settings', result.settingsKept ? 'kept from the previous enrolment (a running agent switches to the new identity by itself)' : 'defaults (no readable previous agent.json)'] as [string, string]] : []),
      ]))
      this.log(`\nNext: \`${this.config.bin} agent start${process.env.TETHER_AGENT_DIR || !this.argv.includes('--data-dir') ? '' : ` --data-dir ${result.dataDir}`}\` (or \`${this.config.bin} agent install-service\`).`)
    }
    return result
  }
}

async function readUpdateRoot(path: string): Promise<Buffer> {
  const [{readFile}, {UsageError}] = await Promise.all([import('node:fs/promises'), import('../../shared/errors.js')])
  return readFile(path).catch((error: Error) => {
    throw new UsageError(`--update-root: cannot read ${path}: ${error.message}`)
  })
}
