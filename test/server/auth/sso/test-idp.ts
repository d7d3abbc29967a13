import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {createServer, type Server} from 'node:https'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {decodeJwt, exportJWK, generateKeyPair, type JWK, SignJWT} from 'jose'
import Provider from 'oidc-provider'
import {Agent, fetch} from 'undici'
import {createCa, issueServerCert, loadCa} from '../../../../src/server/pki/ca.js'

type CryptoKeyLike = Parameters<SignJWT['sign']>[0]

/** A test user at the IdP: its groups and how it authenticates (amr). */
export interface IdpUser {
  sub: string
  username: string
  groups: string[]
  amr: string[]
}

export const CLIENT_ID = 'tether'
export const CLIENT_SECRET = 'test-client-secret-0123456789abcdef'

/**
 * A real OpenID provider (panva's oidc-provider) on loopback HTTPS, with test users, groups and
 * amr claims. The interaction step (login + consent) is a tiny endpoint that signs in whoever
 * `nextLogin` names, so tests drive the whole redirect dance over HTTP without a browser.
 * `mutateIdToken` lets a test make the IdP misbehave (bad signature, wrong issuer, expired).
 */
export class TestIdp {
  readonly users = new Map<string, IdpUser>()
  nextLogin = ''
  mutateIdToken: ((idToken: string) => Promise<string>) | undefined
  issuer = ''
  caFile = ''
  private server: Server | undefined
  private dir = ''
  private signingKey: {privateKey: CryptoKeyLike; kid: string} | undefined
  readonly dispatcher: Agent

  private constructor(private readonly ca: string) {
    this.dispatcher = new Agent({connect: {ca}})
  }

  /** deviceFlow: offer the device authorization grant (RFC 8628); on unless a test says otherwise. */
  static async start(options: {deviceFlow?: boolean} = {}): Promise<TestIdp> {
    const dir = await mkdtemp(join(tmpdir(), 'tether-idp-'))
    const caPair = await createCa('Test IdP CA')
    await writeFile(join(dir, 'ca.crt'), caPair.certPem)
    await writeFile(join(dir, 'ca.key'), caPair.keyPem)
    const ca = await loadCa(join(dir, 'ca.crt'), join(dir, 'ca.key'))
    const leaf = await issueServerCert(ca, ['127.0.0.1'])
    const idp = new TestIdp(caPair.certPem)
    idp.dir = dir
    idp.caFile = join(dir, 'ca.crt')
    let handler: (req: never, res: never) => void = () => undefined
    const server = createServer({key: leaf.keyPem, cert: leaf.certPem}, (req, res) => handler(req as never, res as never))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    idp.server = server
    idp.issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`

    const {privateKey} = await generateKeyPair('RS256', {extractable: true})
    const jwk: JWK = {...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig'}
    idp.signingKey = {privateKey: privateKey as CryptoKeyLike, kid: 'test-key'}
    const provider = new Provider(idp.issuer, {
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          application_type: 'native',
          redirect_uris: ['http://127.0.0.1/callback'],
          grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
      jwks: {keys: [jwk]},
      claims: {openid: ['sub', 'amr', 'acr'], profile: ['preferred_username', 'groups'], email: ['email']},
      features: {devInteractions: {enabled: false}, deviceFlow: {enabled: options.deviceFlow ?? true}},
      interactions: {url: (_ctx: unknown, interaction: {uid: string}) => `/interaction/${interaction.uid}`},
      findAccount: (_ctx: unknown, sub: string) => {
        const user = idp.users.get(sub)
        if (!user) return undefined
        return {accountId: sub, claims: () => ({sub, preferred_username: user.username, groups: user.groups, email: `${user.username}@example.org`})}
      },
      issueRefreshToken: () => true,
      rotateRefreshToken: true,
      cookies: {keys: ['test-cookie-key-0123456789']},
      ttl: {Session: 3600, Interaction: 600, Grant: 3600, AccessToken: 600, IdToken: 600, RefreshToken: 3600, AuthorizationCode: 60, DeviceCode: 600},
    })
    provider.use(async (ctx: {path: string; body: unknown}, next: () => Promise<void>) => {
      await next()
      const body = ctx.body as {id_token?: string} | undefined
      if (ctx.path === '/token' && idp.mutateIdToken && body?.id_token) ctx.body = {...body, id_token: await idp.mutateIdToken(body.id_token)}
    })
    const callback = provider.callback()
    handler = (req: never, res: never) => {
      const url = (req as {url: string}).url
      if (url.startsWith('/interaction/')) void idp.interact(provider, req, res)
      else callback(req, res)
    }
    return idp
  }

  private async interact(provider: Provider, req: never, res: never): Promise<void> {
    const details = await provider.interactionDetails(req, res)
    const user = this.users.get(this.nextLogin)
    if (details.prompt.name === 'login') {
      await provider.interactionFinished(req, res, {login: {accountId: this.nextLogin, amr: user?.amr ?? ['pwd']}}, {mergeWithLastSubmission: false})
      return
    }
    const grant = new provider.Grant({accountId: String(details.session?.accountId), clientId: CLIENT_ID})
    grant.addOIDCScope('openid profile email offline_access')
    await provider.interactionFinished(req, res, {consent: {grantId: await grant.save()}}, {mergeWithLastSubmission: true})
  }

  addUser(user: IdpUser): void {
    this.users.set(user.sub, user)
  }

  /**
   * What the browser does: follows the IdP's redirects (keeping its cookies) until the IdP
   * redirects to the loopback redirect URI; returns that URL, which the CLI would receive.
   */
  async browse(authorizationUrl: string, as: string): Promise<string> {
    this.nextLogin = as
    const cookies = new Map<string, string>()
    let url = authorizationUrl
    for (let hop = 0; hop < 20; hop++) {
      if (url.startsWith('http://127.0.0.1') && !url.startsWith(this.issuer)) return url
      const response = await fetch(url, {redirect: 'manual', dispatcher: this.dispatcher, headers: {cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ')}})
      for (const line of response.headers.getSetCookie()) {
        const [pair] = line.split(';')
        const at = pair.indexOf('=')
        cookies.set(pair.slice(0, at), pair.slice(at + 1))
      }
      await response.arrayBuffer()
      const location = response.headers.get('location')
      if (!location) throw new Error(`the IdP answered ${response.status} without a redirect at ${url}`)
      url = new URL(location, url).href
    }
    throw new Error('too many redirects at the IdP')
  }

  /**
   * What a person does on another device for `--device`: opens the verification URL, submits the
   * IdP's form (the code, then the confirmation), signs in through the interaction, and stops at
   * the IdP's success page. `abort` presses the page's Abort button instead (access_denied).
   */
  async browseDevice(verificationUriComplete: string, as: string, options: {abort?: boolean} = {}): Promise<void> {
    this.nextLogin = as
    const cookies = new Map<string, string>()
    let request: {url: string; form?: URLSearchParams} = {url: verificationUriComplete}
    for (let hop = 0; hop < 20; hop++) {
      const response = await fetch(request.url, {
        method: request.form ? 'POST' : 'GET',
        body: request.form,
        redirect: 'manual',
        dispatcher: this.dispatcher,
        headers: {cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; '), ...(request.form ? {'content-type': 'application/x-www-form-urlencoded'} : {})},
      })
      for (const line of response.headers.getSetCookie()) {
        const [pair] = line.split(';')
        const at = pair.indexOf('=')
        cookies.set(pair.slice(0, at), pair.slice(at + 1))
      }
      const body = await response.text()
      const location = response.headers.get('location')
      if (location) {
        request = {url: new URL(location, request.url).href}
        continue
      }
      if (response.status !== 200) throw new Error(`the IdP answered ${response.status} at ${request.url}: ${body.slice(0, 300)}`)
      if (/Sign-in Success/.test(body)) return
      if (options.abort && /request was interrupted/.test(body)) return
      const form = body.match(/<form [^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/)
      if (!form) throw new Error(`the IdP page at ${request.url} has no form and no success: ${body.slice(0, 300)}`)
      const fields = new URLSearchParams()
      for (const input of form[2].matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) fields.set(input[1], input[2])
      for (const input of form[2].matchAll(/<input[^>]*value="([^"]*)"[^>]*name="([^"]+)"/g)) fields.set(input[2], input[1])
      if (options.abort && fields.has('confirm')) {
        fields.delete('confirm')
        fields.set('abort', 'yes')
      }
      request = {url: new URL(form[1], request.url).href, form: fields}
    }
    throw new Error('too many steps at the IdP device pages')
  }

  /** Signs claims with the IdP's own key (a token that verifies, for the expiry test). */
  async sign(claims: Record<string, unknown>): Promise<string> {
    const key = this.signingKey!
    return new SignJWT(claims).setProtectedHeader({alg: 'RS256', kid: key.kid}).sign(key.privateKey)
  }

  /** The claims of an ID token the IdP issued. */
  static claimsOf(idToken: string): Record<string, unknown> {
    return decodeJwt(idToken)
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()))
    this.server?.closeAllConnections()
    await this.dispatcher.close()
    await rm(this.dir, {recursive: true, force: true})
  }
}
