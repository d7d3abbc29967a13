import {Flags} from '@oclif/core'
import type {CheckPortsResult, TargetMode} from '../../checks/check-ports.js'
import {loadProfileFromFlags, parsePortList, profileFlags} from '../../checks/flags.js'
import {ResultWithExitCode, TetherCommand} from '../../shared/command.js'
import {parseDuration} from '../../shared/duration.js'
import {ExitCode, UsageError} from '../../shared/errors.js'
import {paint, renderTable} from '../../shared/output.js'

export type {CheckPortsResult} from '../../checks/check-ports.js'

const MAX_TIMEOUT_MS = 120_000

export default class CheckPorts extends TetherCommand {
  static override summary = "Probe a profile's endpoints and say, per host and port, whether remote support will work."
  static override description = `Checks DNS, TCP (open / closed / filtered / unreachable), TLS (version, certificate, trust, possible interception) and an HTTP proxy's CONNECT answer for every host:port of an endpoint profile, concurrently.

Exit codes: 0 every required endpoint passed (warnings allowed), 1 a required endpoint failed or was blocked, 2 usage error (bad flag, profile, file, proxy URL or timeout).

Set TETHER_PROBE_ALLOW=CIDR,... to restrict which addresses probes may reach.`

  static override examples = [
    '<%= config.bin %> check ports --profile virtualcare',
    '<%= config.bin %> check ports --profile virtualcare --proxy http://user:secret@proxy.hospital.local:3128 --report ticket-4711.md',
    '<%= config.bin %> check ports --file vendor-table.csv --target both --timeout 5s',
    '<%= config.bin %> check ports --file white-paper-table.txt --dry-run   # pasted from the PDF: tabs, "Port 443" headers',
    'pbpaste | <%= config.bin %> check ports --file -',
    '<%= config.bin %> check ports --profile tether --server https://tether.example.org',
    '<%= config.bin %> check ports --profile virtualcare --map medrad.axeda.com=10.20.0.15 --json',
    '<%= config.bin %> check ports --profile virtualcare --dry-run',
  ]

  static override enableJsonFlag = true

  static override flags = {
    ...profileFlags,
    target: Flags.string({description: 'Which address to probe: the documented IP, what DNS says, or both.', options: ['ip', 'dns', 'both'], default: 'dns'}),
    'tls-ports': Flags.string({description: 'Comma-separated ports that speak TLS.', default: '443', helpValue: 'PORTS'}),
    proxy: Flags.string({description: 'HTTP proxy to CONNECT through (default: HTTPS_PROXY / HTTP_PROXY, honouring NO_PROXY). Basic auth in the URL.', helpValue: 'URL'}),
    'no-proxy': Flags.boolean({description: 'Ignore HTTPS_PROXY / HTTP_PROXY from the environment.', exclusive: ['proxy']}),
    map: Flags.string({description: 'Use IP for HOST (a hostname or a documented IP) instead of resolving it. Repeatable.', multiple: true, helpValue: 'HOST=IP'}),
    timeout: Flags.string({description: 'Upper bound for each step of a probe (connect, proxy answer, TLS handshake, DNS).', default: '3s', helpValue: 'DURATION'}),
    adaptive: Flags.boolean({description: 'Shorten the wait for unanswered SYNs from round-trip times measured on this run (see docs/check.md).', default: true, allowNo: true}),
    concurrency: Flags.integer({description: 'Probes in flight at once.', default: 64, min: 1, max: 512}),
    ca: Flags.string({description: 'Extra CA certificates (PEM) to trust, e.g. your TLS-inspecting proxy.', helpValue: 'FILE'}),
    'dry-run': Flags.boolean({description: 'Print what would be probed; send nothing (no DNS either).'}),
    report: Flags.string({description: 'Also write the results to FILE (CSV or Markdown, by extension).', helpValue: 'FILE'}),
    'report-format': Flags.string({description: 'Report format when the extension does not say.', options: ['csv', 'md'], dependsOn: ['report']}),
  }

  async run(): Promise<CheckPortsResult> {
    const {flags} = await this.parse(CheckPorts)
    const timeoutMs = parseDuration(flags.timeout, '--timeout')
    if (timeoutMs > MAX_TIMEOUT_MS) throw new UsageError(`--timeout: ${flags.timeout} is longer than the 120s maximum`)
    const tlsPorts = parsePortList(flags['tls-ports'], '--tls-ports')

    const [{checkPorts}, {parseHostMap}, {proxyFromSettings}, {probeAllowFromEnv}, report] = await Promise.all([
      import('../../checks/check-ports.js'),
      import('../../checks/resolver.js'),
      import('../../shared/proxy-connect.js'),
      import('../../checks/probe-allow.js'),
      import('../../checks/report.js'),
    ])
    const map = parseHostMap(flags.map)
    const proxy = flags['no-proxy'] ? undefined : proxyFromSettings(flags.proxy)
    const allow = probeAllowFromEnv()
    const reportFormat = flags.report ? report.reportFormatOf(flags.report, flags['report-format']) : undefined
    if (flags.report && !reportFormat) throw new UsageError(`--report: cannot tell the format of "${flags.report}"; name it .csv or .md, or pass --report-format`)
    const extraCa = flags.ca ? [await readCa(flags.ca)] : undefined
    const profile = await loadProfileFromFlags(flags)
    if (!this.jsonEnabled()) for (const w of profile.warnings ?? []) this.warn(w)

    const progress = this.progress()
    const result = await checkPorts({
      profile, target: flags.target as TargetMode, tlsPorts, map, timeoutMs, concurrency: flags.concurrency, adaptive: flags.adaptive,
      dryRun: flags['dry-run'], proxy, allow, extraCa, onProgress: progress.update,
    }).finally(progress.stop)

    if (flags.report && reportFormat) {
      const {writeFileAtomic} = await import('../../shared/atomic-file.js')
      await writeFileAtomic(flags.report, reportFormat === 'csv' ? report.renderCsv(result) : report.renderMarkdown(result))
    }

    if (!this.jsonEnabled()) {
      const columns = [...report.COLUMNS]
      const keep = columns.map((c) => c !== 'Proxy' || result.proxy !== null)
      const head = columns.filter((_, i) => keep[i])
      const align = head.map((c) => (c === 'Port' ? 'right' : 'left') as 'left' | 'right')
      this.log(renderTable(head, report.reportRows(result).map((r) => r.filter((_, i) => keep[i])), {align}))
      if (flags.report) this.log(`Report written to ${flags.report}`)
      if (result.ok) this.log(paint('green', report.summaryLine(result)))
    }
    if (!result.ok) throw new ResultWithExitCode(report.summaryLine(result), result, ExitCode.FAILED)
    return result
  }

  /** A one-line progress counter on a terminal's stderr; nothing for --json or pipes. */
  private progress(): {update: (done: number, total: number) => void; stop: () => void} {
    if (this.jsonEnabled() || !process.stderr.isTTY) return {update: () => undefined, stop: () => undefined}
    const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']
    let frame = 0
    let text = 'resolving…'
    const draw = (): void => {
      process.stderr.write(`\r${frames[frame++ % frames.length]} ${text}\u001B[K`)
    }
    const timer = setInterval(draw, 80)
    draw()
    return {
      update: (done, total) => {
        text = `probing ${done}/${total}`
      },
      stop: () => {
        clearInterval(timer)
        process.stderr.write('\r\u001B[K')
      },
    }
  }
}

async function readCa(path: string): Promise<string> {
  const {readFile} = await import('node:fs/promises')
  const pem = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`--ca: cannot read ${path}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`)
  })
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--ca: ${path} holds no PEM certificate`)
  return pem
}
