import fp from 'fastify-plugin'

/** Two years, the preload-list minimum; the API is HTTPS-only so subdomains lose nothing. */
export const HSTS = 'max-age=63072000; includeSubDomains'

/**
 * Headers on every response, errors included: HSTS, and the API never being sniffed, framed
 * or cached by a browser or a proxy (responses carry device data and tokens).
 */
export const securityPlugin = fp(
  async (app) => {
    app.addHook('onSend', async (_request, reply, payload) => {
      reply.header('strict-transport-security', HSTS)
      reply.header('x-content-type-options', 'nosniff')
      reply.header('x-frame-options', 'DENY')
      reply.header('referrer-policy', 'no-referrer')
      reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'")
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
      return payload
    })
  },
  {name: 'tether-security'},
)
