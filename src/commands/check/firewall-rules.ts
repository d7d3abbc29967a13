import {Flags} from '@oclif/core'
import type {FirewallFormat, FirewallRulesResult} from '../../checks/firewall-rules.js'
import {loadProfileFromFlags, profileFlags} from '../../checks/flags.js'
import {TetherCommand} from '../../shared/command.js'

export type {FirewallRulesResult} from '../../checks/firewall-rules.js'

export default class CheckFirewallRules extends TetherCommand {
  static override summary = 'Print the outbound allow rules a profile needs, for nftables, iptables, Windows or a spreadsheet.'
  static override description = 'Sends no network traffic. Hosts without a documented IP are listed as comments: allow what they resolve to, or allow them on the proxy.'
  static override examples = [
    '<%= config.bin %> check firewall-rules --profile virtualcare --format nftables > virtualcare.nft',
    '<%= config.bin %> check firewall-rules --profile virtualcare --format iptables | iptables-restore --noflush',
    '<%= config.bin %> check firewall-rules --file vendor-table.csv --format windows > allow-vendor.ps1',
    'pbpaste | <%= config.bin %> check firewall-rules --file - --format iptables',
    '<%= config.bin %> check firewall-rules --profile virtualcare --format csv --json',
  ]

  static override enableJsonFlag = true

  static override flags = {
    ...profileFlags,
    format: Flags.string({description: 'Rule syntax.', options: ['nftables', 'iptables', 'windows', 'csv'], default: 'nftables'}),
  }

  async run(): Promise<FirewallRulesResult> {
    const {flags} = await this.parse(CheckFirewallRules)
    const {firewallRules, renderFirewallRules} = await import('../../checks/firewall-rules.js')
    const profile = await loadProfileFromFlags(flags)
    const format = flags.format as FirewallFormat
    const text = renderFirewallRules(profile, format)
    const warnings = profile.warnings ?? []
    if (!this.jsonEnabled()) {
      for (const w of warnings) this.warn(w)
      process.stdout.write(text)
    }
    return {profile: profile.name, format, rules: firewallRules(profile), text, warnings}
  }
}
