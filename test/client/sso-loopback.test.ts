import {strict as assert} from 'node:assert'
import {listenForRedirect} from '../../src/client/sso-loopback.js'

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
