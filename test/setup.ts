import nock from 'nock'

// The network rule: tests may only reach loopback. nock enforces it for node:http(s) and
// fetch inside the test process; child processes get TETHER_PROBE_ALLOW (see helpers/cli.ts).
export const mochaHooks = {
  beforeAll(): void {
    nock.disableNetConnect()
    nock.enableNetConnect((host: string) => /^(127\.\d+\.\d+\.\d+|localhost|\[::1\]|::1)(:\d+)?$/.test(host))
  },
  afterEach(): void {
    nock.cleanAll()
  },
  afterAll(): void {
    nock.enableNetConnect()
  },
}
