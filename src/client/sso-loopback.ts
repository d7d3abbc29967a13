import {spawn} from 'node:child_process'
import {createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {UsageError} from '../shared/errors.js'

export interface LoopbackRedirect {
  /** http://127.0.0.1:PORT/callback, what the IdP redirects the browser to (RFC 8252 7.3). */
  redirectUri: string
  /** The full URL the browser arrived at (code, state, iss), once it has. */
  callback: Promise<string>
  close(): Promise<void>
}

const DONE_PAGE = '<!doctype html><title>Tether</title><p>Signed in to Tether. You can close this window and return to the terminal.</p>'

/**
 * The CLI's loopback redirect listener: 127.0.0.1 only, a random port unless one is given (for
 * IdPs that match the port exactly), one callback, then done. It relays; the server checks.
 */
export async function listenForRedirect(port = 0): Promise<LoopbackRedirect> {
  let resolve!: (url: string) => void
  const callback = new Promise<string>((r) => (resolve = r))
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    if (url.pathname !== '/callback') {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, {'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store'}).end(DONE_PAGE)
    resolve(`${redirectUri}${url.search}`)
  })
  await new Promise<void>((ok, fail) => {
    server.once('error', (error) => fail(new UsageError(`--port ${port}: cannot listen on 127.0.0.1 (${error.message})`, {cause: error})))
    server.listen(port, '127.0.0.1', () => ok())
  })
  const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`
  return {
    redirectUri,
    callback,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok())
        server.closeAllConnections()
      }),
  }
}

/**
 * Opens the URL in the desktop's browser; false when there is no way to (a headless machine) or
 * TETHER_NO_BROWSER=1 says not to (scripts, tests, a browser on another machine): the URL is
 * printed either way.
 */
export function openBrowser(url: string, platform = process.platform, env = process.env): Promise<boolean> {
  if (env.TETHER_NO_BROWSER && env.TETHER_NO_BROWSER !== '0') return Promise.resolve(false)
  const command = platform === 'darwin' ? 'open' : platform === 'win32' ? 'explorer' : 'xdg-open'
  return new Promise((done) => {
    try {
      const child = spawn(command, [url], {stdio: 'ignore', detached: true})
      child.once('error', () => done(false))
      child.once('spawn', () => {
        child.unref()
        done(true)
      })
    } catch {
      // spawn throws synchronously only for invalid arguments: treat as "cannot open".
      done(false)
    }
  })
}
