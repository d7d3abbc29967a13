import {Flags} from '@oclif/core'

/** Flags `tether server init` and `tether server start` share. */
export const dataDirFlag = Flags.string({
  char: 'd',
  description: 'Server data directory (config, CA, keys, SQLite database). Default: $TETHER_DATA_DIR, else ~/.local/share/tether/server.',
  env: 'TETHER_DATA_DIR',
  helpValue: 'DIR',
})

export const hostnameFlag = Flags.string({
  description: 'DNS name or IP address for the server certificate (repeatable). Default: localhost, 127.0.0.1, ::1, and when listening on all addresses (the default 0.0.0.0) also this machine\'s hostname and interface addresses. (server start: used only when it initialises a fresh data dir.)',
  multiple: true,
  helpValue: 'NAME',
})

export const databaseFlag = Flags.string({
  description: 'postgres://USER:PASS@HOST/DB for PostgreSQL, or a SQLite file. Default: DATA_DIR/tether.db.',
  env: 'TETHER_DATABASE_URL',
  helpValue: 'URL',
})
