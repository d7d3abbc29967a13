import {connect, isIP, type Socket} from 'node:net'
import {UsageError} from './errors.js'

/** An HTTP proxy to tunnel probes through with CONNECT. */
export interface ProxyConfig {
  host: string
  port: number
  /** The URL with the password masked, for output. */
  display: string
  /** Value of Proxy-Authorization, from the URL's userinfo. */
  authorization?: string
  /** NO_PROXY entries: hostnames, .domain suffixes, IPs, CIDRs, host:port, or "*". */
  noProxy: string[]
  /** Where it came from: --proxy or the environment variable's name. */
  origin: string
}

export type ProxyStatus = 'tunnel' | 'refused' | 'auth-required' | 'upstream-failed' | 'timeout' | 'error' | 'bypassed' | 'blocked'

/** The Proxy column: the proxy's own answer to CONNECT. */
export interface ProxyResult {
  via: string
  status: ProxyStatus
  statusCode: number | null
  statusText: string | null
  ms: number | null
  error?: string
}

export function parseProxyUrl(text: string, origin: string, noProxy: string[] = []): ProxyConfig {
  let url: URL
  try {
    url = new URL(text.includes('://') ? text : `http://${text}`)
  } catch {
    throw new UsageError(`${origin}: "${text}" is not a proxy URL; use e.g. http://user:pass@proxy.example.org:3128`)
  }
  if (url.protocol !== 'http:') throw new UsageError(`${origin}: "${url.protocol}" proxies are not supported; use an http:// proxy URL (CONNECT is sent in the clear to the proxy)`)
  if (!url.hostname) throw new UsageError(`${origin}: "${text}" has no host`)
  const user = decodeURIComponent(url.username)
  const pass = decodeURIComponent(url.password)
  const display = `http://${user ? `${url.username}${url.password ? ':***' : ''}@` : ''}${url.host}`
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 80,
    display,
    ...(user ? {authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`} : {}),
    noProxy,
    origin,
  }
}

/** --proxy wins; else HTTPS_PROXY / HTTP_PROXY (either case), with NO_PROXY. */
export function proxyFromSettings(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): ProxyConfig | undefined {
  const noProxy = (env.NO_PROXY ?? env.no_proxy ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)
  if (flag !== undefined) return parseProxyUrl(flag, '--proxy', noProxy)
  for (const name of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy']) {
    const value = env[name]
    if (value) return parseProxyUrl(value, name, noProxy)
  }
  return undefined
}

/** NO_PROXY matching as curl does it: exact host, domain suffix, IP or CIDR, optional :port, "*". */
export function bypassesProxy(host: string, port: number, noProxy: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, '')
  return noProxy.some((raw) => {
    if (raw === '*') return true
    let entry = raw
    const portMatch = /^(.*):(\d+)$/.exec(entry)
    if (portMatch && isIP(entry) !== 6) {
      if (Number(portMatch[2]) !== port) return false
      entry = portMatch[1]
    }
    entry = entry.replace(/^\[|\]$/g, '')
    if (entry.includes('/') && isIP(h)) return inCidr(h, entry)
    if (entry.startsWith('*.')) entry = entry.slice(1)
    if (entry.startsWith('.')) return h.endsWith(entry) || h === entry.slice(1)
    return h === entry || h.endsWith(`.${entry}`)
  })
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/')
  if (isIP(ip) !== 4 || isIP(base) !== 4) return false
  const bits = Number(bitsText)
  const toInt = (a: string): number => a.split('.').reduce((n, o) => (n << 8) + Number(o), 0) >>> 0
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0
  return (toInt(ip) & mask) === (toInt(base) & mask)
}

const MAX_HEADER_BYTES = 16 * 1024

/**
 * Opens a tunnel to target:port through the proxy with HTTP CONNECT. On 200 the socket is
 * the tunnel (for TLS); otherwise the proxy's status line says why (403: proxy policy).
 */
export function connectViaProxy(proxy: ProxyConfig, proxyAddress: string, target: string, port: number, timeoutMs: number): Promise<{result: ProxyResult; socket?: Socket}> {
  return new Promise((resolve) => {
    const start = performance.now()
    const authority = isIP(target) === 6 ? `[${target}]:${port}` : `${target}:${port}`
    const socket = connect({host: proxyAddress, port: proxy.port, autoSelectFamily: false})
    let buffered = Buffer.alloc(0)
    let settled = false
    const elapsed = (): number => Math.round((performance.now() - start) * 10) / 10
    const finish = (result: Omit<ProxyResult, 'via'>, keep = false): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.removeListener('data', onData)
      if (!keep) socket.destroy()
      resolve({result: {via: proxy.display, ...result}, ...(keep ? {socket} : {})})
    }
    const timer = setTimeout(() => finish({status: 'timeout', statusCode: null, statusText: null, ms: null, error: `no answer from the proxy within ${timeoutMs}ms`}), timeoutMs)

    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk])
      const end = buffered.indexOf('\r\n\r\n')
      if (end < 0) {
        if (buffered.length > MAX_HEADER_BYTES) finish({status: 'error', statusCode: null, statusText: null, ms: elapsed(), error: 'proxy answer too long'})
        return
      }
      const statusLine = buffered.subarray(0, buffered.indexOf('\r\n')).toString('latin1')
      const m = /^HTTP\/\d(?:\.\d)?\s+(\d{3})\s*(.*)$/.exec(statusLine)
      if (!m) return finish({status: 'error', statusCode: null, statusText: null, ms: elapsed(), error: `not an HTTP answer: ${JSON.stringify(statusLine.slice(0, 60))}`})
      const code = Number(m[1])
      const text = m[2].trim()
      const rest = buffered.subarray(end + 4)
      if (code === 200) {
        // Bytes after the header already belong to the tunnel.
        if (rest.length > 0) socket.unshift(rest)
        return finish({status: 'tunnel', statusCode: code, statusText: text, ms: elapsed()}, true)
      }
      // tinyproxy answers wrong credentials with 401 rather than 407.
      const status: ProxyStatus = code === 407 || code === 401 ? 'auth-required' : code === 502 || code === 503 || code === 504 || code === 500 ? 'upstream-failed' : 'refused'
      finish({status, statusCode: code, statusText: text, ms: elapsed()})
    }

    socket.once('connect', () => {
      const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`, 'User-Agent: tether-check', ...(proxy.authorization ? [`Proxy-Authorization: ${proxy.authorization}`] : [])]
      socket.write(`${lines.join('\r\n')}\r\n\r\n`)
    })
    socket.on('data', onData)
    socket.on('error', (error: NodeJS.ErrnoException) => finish({status: 'error', statusCode: null, statusText: null, ms: elapsed(), error: `proxy ${proxy.host}:${proxy.port}: ${error.code ?? error.message}`}))
    socket.once('close', () => finish({status: 'error', statusCode: null, statusText: null, ms: elapsed(), error: 'proxy closed the connection without an answer'}))
  })
}
