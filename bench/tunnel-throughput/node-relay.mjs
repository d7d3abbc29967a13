/**
 * The floor for Tether's shape in Node: the same three processes and two TLS hops, and nothing
 * else (no auth, audit, policy, counters; Node's default V8 flags). One process per role:
 *   front  (the CLI's place):    TCP in  -> TLS out
 *   middle (the server's place): TLS in  -> TLS out
 *   back   (the agent's place):  TLS in  -> TCP out
 *   node node-relay.mjs ROLE CERT KEY '[[listenPort, targetPort], ...]'
 * Prints "ready" once every listener is up. Loopback only.
 */
import {readFileSync} from 'node:fs'
import net from 'node:net'
import process from 'node:process'
import tls from 'node:tls'

const [role, certFile, keyFile, pairs] = process.argv.slice(2)
const cert = readFileSync(certFile)
const key = readFileSync(keyFile)

const splice = (a, b) => {
  for (const s of [a, b]) {
    s.setNoDelay(true)
    s.on('error', () => a.destroy())
    s.on('close', () => (s === a ? b : a).destroy())
  }
  a.pipe(b)
  b.pipe(a)
}
const onward = (port, ready) => (role === 'back' ? net.connect(port, '127.0.0.1', ready) : tls.connect({port, host: '127.0.0.1', ca: cert}, ready))
const accept = (handler) => (role === 'front' ? net.createServer(handler) : tls.createServer({cert, key}, handler))

let listening = 0
const all = JSON.parse(pairs)
for (const [listenPort, targetPort] of all) {
  accept((inbound) => {
    inbound.pause()
    inbound.on('error', () => inbound.destroy())
    const out = onward(targetPort, () => splice(inbound, out))
    out.on('error', () => inbound.destroy())
  }).listen(listenPort, '127.0.0.1', () => {
    if (++listening === all.length) process.stdout.write('ready\n')
  })
}
