import {strict as assert} from 'node:assert'
import {spawnSync} from 'node:child_process'
import {runTether} from '../../helpers/cli.js'
import {createNetns, netnsUnavailable, type Netns} from '../../checks/fixtures/netns.js'

/** The generated rules are loaded by the real tools, inside a throw-away namespace. */
describe('tether check firewall-rules output loads into nft and iptables', function () {
  this.timeout(30_000)
  let ns: Netns | undefined

  before(function () {
    const why = netnsUnavailable()
    if (why) {
      console.warn(`      skipped: ${why}`)
      this.skip()
    }
    ns = createNetns('tether-fw')
  })
  after(() => ns?.destroy())

  function load(cmd: string, args: string[], input: string): void {
    const r = spawnSync('ip', ['netns', 'exec', ns!.name, cmd, ...args], {input, encoding: 'utf8'})
    assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`)
  }

  it('nftables', async function () {
    if (spawnSync('nft', ['--version'], {stdio: 'ignore'}).status !== 0) this.skip()
    const r = await runTether(['check', 'firewall-rules', '--profile', 'virtualcare', '--format', 'nftables'])
    assert.equal(r.code, 0, r.stderr)
    load('nft', ['-f', '-'], 'add table inet filter\nadd chain inet filter output { type filter hook output priority 0; policy accept; }\n')
    load('nft', ['-f', '-'], r.stdout)
    const listed = ns!.exec('nft', ['list', 'chain', 'inet', 'filter', 'output'])
    assert.equal((listed.match(/accept comment/g) ?? []).length, 9)
    assert.match(listed, /ip daddr 52\.192\.51\.252 tcp dport \{ 443, 17001, 17002 \} accept comment "ghjap1\.axeda\.com"/)
  })

  it('iptables', async () => {
    const r = await runTether(['check', 'firewall-rules', '--profile', 'virtualcare', '--format', 'iptables'])
    assert.equal(r.code, 0, r.stderr)
    load('iptables-restore', ['--noflush'], r.stdout)
    const listed = ns!.exec('iptables', ['-S', 'OUTPUT'])
    assert.equal(listed.split('\n').filter((l) => l.startsWith('-A OUTPUT')).length, 9)
    assert.match(listed, /-A OUTPUT -d 64\.250\.188\.50\/32 -p tcp -m multiport --dports 443,80 -m comment --comment "?subversion\.assembla\.com"? -j ACCEPT/)
  })
})
