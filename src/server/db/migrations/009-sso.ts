import type {Kysely} from 'kysely'

/**
 * OpenID Connect single sign-on (docs/sso.md, src/server/auth/sso):
 * - sso_settings: the one identity provider (a single row, id "default"); the client secret is
 *   sealed with the MFA key of the data dir, like TOTP secrets;
 * - sso_identities: which IdP subject a Tether user is (unique issuer + subject);
 * - sso_logins: sign-ins in progress (state, nonce, PKCE verifier), single use, short-lived;
 * - sso_sessions: one per SSO sign-in, holding the IdP's sealed refresh token that every Tether
 *   refresh of the session re-checks; refresh_tokens.sso_session_id links the rotating tokens.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('sso_settings')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('client_secret', 'text', (c) => c.notNull())
    .addColumn('settings', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema
    .createTable('sso_identities')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('groups', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_login_at', 'text', (c) => c.notNull())
    .addColumn('deprovisioned_at', 'text')
    .execute()
  await db.schema.createIndex('sso_identities_subject').unique().on('sso_identities').columns(['issuer', 'subject']).execute()
  await db.schema
    .createTable('sso_logins')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('nonce', 'text', (c) => c.notNull())
    .addColumn('code_verifier', 'text', (c) => c.notNull())
    .addColumn('redirect_uri', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('used_at', 'text')
    .addColumn('pending', 'text')
    .execute()
  await db.schema.createIndex('sso_logins_expiry').on('sso_logins').column('expires_at').execute()
  await db.schema
    .createTable('sso_sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('refresh_token', 'text')
    .addColumn('idp_mfa', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_checked_at', 'text', (c) => c.notNull())
    .addColumn('ended_at', 'text')
    .execute()
  await db.schema.createIndex('sso_sessions_user').on('sso_sessions').column('user_id').execute()
  await db.schema.alterTable('refresh_tokens').addColumn('sso_session_id', 'text').execute()
}
