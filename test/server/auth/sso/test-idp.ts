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

  static async start(): Promise<TestIdp> {
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
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
      jwks: {keys: [jwk]},
      claims: {openid: ['sub', 'amr', 'acr'], profile: ['preferred_username', 'groups'], email: ['email']},
      features: {devInteractions: {enabled: false}},
      interactions: {url: (_ctx: unknown, interaction: {uid: string}) => `/interaction/${interaction.uid}`},
      findAccount: (_ctx: unknown, sub: string) => {
        const user = idp.users.get(sub)
        if (!user) return undefined
        return {accountId: sub, claims: () => ({sub, preferred_username: user.username, groups: user.groups, email: `${user.username}@example.org`})}
      },
      issueRefreshToken: () => true,
      rotateRefreshToken: true,
      cookies: {keys: ['test-cookie-key-0123456789']},
      ttl: {Session: 3600, Interaction: 600, Grant: 3600, AccessToken: 600, IdToken: 600, RefreshToken: 3600, AuthorizationCode: 60},
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
