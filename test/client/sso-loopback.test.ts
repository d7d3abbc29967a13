import {strict as assert} from 'node:assert'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {listenForRedirect, openBrowser} from '../../src/client/sso-loopback.js'
import {eventually} from '../helpers/eventually.js'

describe('SSO loopback redirect listener', () => {
  it('listens on 127.0.0.1 and hands back the full callback URL once the browser arrives', async () => {
    const listener = await listenForRedirect()
    try {
      assert.match(listener.redirectUri, /^http:\/\/127\.0\.0\.1:\d+\/callback$/)
      assert.equal((await fetch(listener.redirectUri.replace('/callback', '/other'))).status, 404)
      const response = await fetch(`${listener.redirectUri}?code=abc&state=xyz`)
      assert.equal(response.status, 200)
      assert.equal(await listener.callback, `${listener.redirectUri}?code=abc&state=xyz`)
    } finally {
      await listener.close()
    }
  })
})

describe('openBrowser', () => {
  let dir: string
  const path = process.env.PATH
  before(async () => {
    // A fake xdg-open on PATH that leaves a mark, so the test sees whether a browser was started.
    dir = await mkdtemp(join(tmpdir(), 'tether-browser-'))
    await writeFile(join(dir, 'xdg-open'), `#!/bin/sh\necho "$1" >> '${join(dir, 'opened')}'\n`, {mode: 0o755})
    process.env.PATH = `${dir}:${path}`
  })
  after(async () => {
    process.env.PATH = path
    await rm(dir, {recursive: true, force: true})
  })

  it('starts the desktop opener, and nothing when TETHER_NO_BROWSER=1 (the URL is printed instead)', async () => {
    assert.equal(await openBrowser('https://idp.example/one', 'linux', {}), true)
    await eventually(async () => (await readFile(join(dir, 'opened'), 'utf8').catch(() => '')) === 'https://idp.example/one\n', 'the fake opener ran')
    assert.equal(await openBrowser('https://idp.example/two', 'linux', {TETHER_NO_BROWSER: '1'}), false)
    assert.equal(await readFile(join(dir, 'opened'), 'utf8'), 'https://idp.example/one\n')
  })
})
