import {strict as assert} from 'node:assert'
import {createServer, type Server} from 'node:net'
import {bypassesProxy, connectViaProxy, parseProxyUrl, proxyFromSettings} from '../../src/shared/proxy-connect.js'
import {UsageError} from '../../src/shared/errors.js'

/** A one-answer fake proxy on a real socket: records the request head, replies with `answer`. */
function fakeProxy(answer: string): Promise<{server: Server; port: number; requests: string[]}> {
  const requests: string[] = []
  const server = createServer((s) => {
    let head = ''
    s.on('error', () => s.destroy())
    s.on('data', (d) => {
      head += d.toString('latin1')
      if (head.includes('\r\n\r\n')) {
        requests.push(head)
        s.write(answer)
        if (!answer.startsWith('HTTP/1.1 200')) s.end()
      }
    })
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({server, port: (server.address() as {port: number}).port, requests})))
}

describe('proxy CONNECT', () => {
  it('parses proxy URLs, masks the password and builds Basic auth', () => {
    const p = parseProxyUrl('http://alice:s%3Acret@proxy.local:3128', '--proxy')
    assert.equal(p.host, 'proxy.local')
    assert.equal(p.port, 3128)
    assert.equal(p.display, 'http://alice:***@proxy.local:3128')
    assert.equal(p.authorization, `Basic ${Buffer.from('alice:s:cret').toString('base64')}`)
    assert.equal(parseProxyUrl('proxy.local', 'HTTPS_PROXY').port, 80)
  })

  it('rejects bad proxy URLs as usage errors naming the source', () => {
    assert.throws(() => parseProxyUrl('http://', '--proxy'), (e: UsageError) => e instanceof UsageError && /--proxy/.test(e.message))
    assert.throws(() => parseProxyUrl('socks5://p:1080', 'HTTPS_PROXY'), (e: UsageError) => e instanceof UsageError && /HTTPS_PROXY.*not supported/.test(e.message))
  })

  it('takes the environment when --proxy is absent, with NO_PROXY', () => {
    const p = proxyFromSettings(undefined, {HTTPS_PROXY: 'http://127.0.0.1:3128', NO_PROXY: '.internal, 10.0.0.0/8,Example.org:8443'})!
    assert.equal(p.origin, 'HTTPS_PROXY')
    assert.deepEqual(p.noProxy, ['.internal', '10.0.0.0/8', 'example.org:8443'])
    assert.equal(proxyFromSettings(undefined, {}), undefined)
    assert.equal(proxyFromSettings('http://127.0.0.2:1', {HTTP_PROXY: 'http://127.0.0.3:1'})!.host, '127.0.0.2')
  })

  it('matches NO_PROXY like curl', () => {
    const list = ['.internal', '10.0.0.0/8', 'example.org:8443', 'exact.com']
    assert.ok(bypassesProxy('a.b.internal', 443, list))
    assert.ok(bypassesProxy('10.9.8.7', 443, list))
    assert.ok(bypassesProxy('www.example.org', 8443, list))
    assert.ok(!bypassesProxy('www.example.org', 443, list))
    assert.ok(bypassesProxy('exact.com', 1, list) && bypassesProxy('sub.exact.com', 1, list))
    assert.ok(!bypassesProxy('notexact.com', 1, list) && !bypassesProxy('11.0.0.1', 1, list))
    assert.ok(bypassesProxy('anything', 1, ['*']))
  })

  it('sends CONNECT with credentials and reports a 200 tunnel', async () => {
    const fake = await fakeProxy('HTTP/1.1 200 Connection established\r\n\r\n')
    try {
      const proxy = parseProxyUrl(`http://bob:pw@127.0.0.1:${fake.port}`, '--proxy')
      const {result, socket} = await connectViaProxy(proxy, '127.0.0.1', '127.0.0.9', 17001, 2000)
      socket?.destroy()
      assert.equal(result.status, 'tunnel')
      assert.equal(result.statusCode, 200)
      assert.ok(socket, 'keeps the tunnel socket')
      assert.match(fake.requests[0], /^CONNECT 127\.0\.0\.9:17001 HTTP\/1\.1\r\n/)
      assert.match(fake.requests[0], new RegExp(`Proxy-Authorization: Basic ${Buffer.from('bob:pw').toString('base64')}`))
    } finally {
      fake.server.close()
    }
  })

  it('reports the proxy refusing, wanting auth, or not speaking HTTP', async () => {
    for (const [answer, status, code] of [
      ['HTTP/1.0 403 Forbidden\r\n\r\n', 'refused', 403],
      ['HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n', 'auth-required', 407],
      ['HTTP/1.1 502 Bad Gateway\r\n\r\n', 'upstream-failed', 502],
      ['SSH-2.0-OpenSSH\r\n\r\n', 'error', null],
    ] as const) {
      const fake = await fakeProxy(answer)
      try {
        const {result, socket} = await connectViaProxy(parseProxyUrl(`http://127.0.0.1:${fake.port}`, '--proxy'), '127.0.0.1', 'h.example', 443, 2000)
        assert.equal(socket, undefined)
        assert.equal(result.status, status, answer)
        assert.equal(result.statusCode, code)
        assert.doesNotMatch(fake.requests[0], /Proxy-Authorization/)
      } finally {
        fake.server.close()
      }
    }
  })
})
