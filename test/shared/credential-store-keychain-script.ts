// Run by credential-store.test.ts inside `dbus-run-session` with an unlocked gnome-keyring:
// exercises the real keytar backend end to end and prints one JSON line of observations.
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {CredentialStore} from '../../src/shared/credential-store.js'
import {loadKeytar} from '../../src/shared/credential-store-keytar.js'

const dir = process.argv[2]
const server = `https://127.0.0.1:${process.pid}`
const store = new CredentialStore({dir, prefer: 'auto'})
const session = {server, username: 'alice', accessToken: 'a1', refreshToken: 'r1', ca: 'PEM', savedAt: new Date().toISOString()}
const saved = await store.save(session)
const loaded = await store.load()
const keytar = await loadKeytar()
const raw = keytar instanceof Error ? null : await keytar.getPassword('tether', server)
const fileExists = existsSync(join(dir, 'credentials.json'))
await store.remove(server)
const afterRemove = await store.load(server)
const rawAfter = keytar instanceof Error ? null : await keytar.getPassword('tether', server)
console.log(JSON.stringify({saved, loadedToken: loaded?.session.refreshToken, where: loaded?.where.store, raw: raw ? JSON.parse(raw).accessToken : null, fileExists, afterRemove, rawAfter}))
