/**
 * Preloaded with NODE_OPTIONS=--import (Node 20 refuses --cpu-prof there): profiles the whole
 * process with the inspector and writes DIR/<command>-<pid>.cpuprofile when it exits normally
 * (the server and agent on SIGTERM, `tunnels open` on SIGINT). Open it in Chrome DevTools or
 * summarise it with bench/tunnel-throughput/profile-top.ts.
 */
import {writeFileSync} from 'node:fs'
import inspector from 'node:inspector'
import {join} from 'node:path'
import process from 'node:process'

const dir = process.env.TETHER_BENCH_PROFILE_DIR
if (dir) {
  const session = new inspector.Session()
  session.connect()
  session.post('Profiler.enable')
  session.post('Profiler.setSamplingInterval', {interval: 500})
  session.post('Profiler.start')
  process.on('exit', () => {
    // A same-thread session answers synchronously, so this runs before the process is gone.
    session.post('Profiler.stop', (error, result) => {
      if (error) process.stderr.write(`cpu profile: ${error.message}\n`)
      else writeFileSync(join(dir, `${process.argv.slice(2, 4).join('-')}-${process.pid}.cpuprofile`), JSON.stringify(result.profile))
    })
  })
}
