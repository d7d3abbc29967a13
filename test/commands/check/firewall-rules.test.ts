import {strict as assert} from 'node:assert'
import {runCommand} from '@oclif/test'
import type {FirewallRulesResult} from '../../../src/commands/check/firewall-rules.js'

describe('tether check firewall-rules', () => {
  it('returns the 9 virtualcare hosts and 26 ports as JSON, with the rendered text', async () => {
    const {stdout, error} = await runCommand(['check', 'firewall-rules', '--profile', 'virtualcare', '--format', 'csv', '--json'])
    assert.equal(error, undefined)
    const doc = JSON.parse(stdout) as FirewallRulesResult
    assert.equal(doc.profile, 'virtualcare')
    assert.equal(doc.format, 'csv')
    assert.equal(doc.rules.length, 9)
    assert.equal(doc.rules.reduce((n, r) => n + r.ports.length, 0), 26)
    assert.deepEqual(doc.rules[3], {host: 'medrad.axeda.com', address: '209.202.167.124', family: 4, ports: [443, 17001, 17002], protocol: 'tcp', direction: 'outbound', required: true})
    assert.equal(doc.text.split('\n')[1], 'subversion.assembla.com,64.250.188.50,tcp,443 80,outbound,yes')
  })

  it('prints nftables rules', async () => {
    const {stdout} = await runCommand(['check', 'firewall-rules', '--profile', 'virtualcare'])
    const rules = stdout.split('\n').filter((l) => l.startsWith('add rule'))
    assert.equal(rules.length, 9)
    assert.equal(rules[1], 'add rule inet filter output ip daddr 184.106.132.50 tcp dport { 443, 80, 8080 } accept comment "supportserver.radimetrics.com"')
  })

  it('prints iptables-restore input', async () => {
    const {stdout} = await runCommand(['check', 'firewall-rules', '--profile', 'virtualcare', '--format', 'iptables'])
    assert.match(stdout, /^\*filter$/m)
    assert.match(stdout, /^COMMIT$/m)
    assert.match(stdout, /^-A OUTPUT -d 89\.234\.8\.217\/32 -p tcp -m multiport --dports 443,17001,17002 -m comment --comment "ghuk1\.axeda\.com" -j ACCEPT$/m)
  })

  it('prints Windows firewall commands', async () => {
    const {stdout} = await runCommand(['check', 'firewall-rules', '--profile', 'virtualcare', '--format', 'windows'])
    assert.match(stdout, /New-NetFirewallRule -DisplayName 'Tether virtualcare Gas-aus\.axeda\.com' -Direction Outbound -Action Allow -Protocol TCP -RemoteAddress 122\.202\.65\.179 -RemotePort 443,17001,17002/)
  })

  it('notes hosts without a documented IP instead of inventing one', async () => {
    const {stdout} = await runCommand(['check', 'firewall-rules', '--profile', 'tether', '--server', 'https://tether.example.org:8443'])
    assert.match(stdout, /# tether\.example\.org has no documented IP: .*ports 8443/)
    assert.doesNotMatch(stdout, /^add rule/m)
  })

  it('rejects an unknown format and profile with the usage exit code', async () => {
    const bad = await runCommand(['check', 'firewall-rules', '--profile', 'virtualcare', '--format', 'pf'])
    assert.equal(bad.error?.oclif?.exit, 2)
    const unknown = await runCommand(['check', 'firewall-rules', '--profile', 'nope'])
    assert.equal(unknown.error?.oclif?.exit, 2)
  })
})
