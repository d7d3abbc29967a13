import type {Kysely} from 'kysely'
import fp from 'fastify-plugin'
import type {DialectName, OpenedDatabase} from './connect.js'
import type {Database} from './schema.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>
    dbDialect: DialectName
  }
}

/** Exposes an opened, migrated database to the routes; closes it with the server. */
export const dbPlugin = fp<{opened: OpenedDatabase}>(
  async (app, {opened}) => {
    app.decorate('db', opened.db)
    app.decorate('dbDialect', opened.dialect)
    app.addHook('onClose', async () => opened.close())
  },
  {name: 'tether-db'},
)
