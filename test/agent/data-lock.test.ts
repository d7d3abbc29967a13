import {strict as assert} from 'node:assert'
import {spawn} from 'node:child_process'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {withDataLock} from '../../src/agent/data-lock.js'

/** The pid of a process that has exited (nothing runs under it now, barring reuse in a few ms). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], {stdio: 'ignore'})
  await new Promise((resolve) => child.once('exit', resolve))
  return child.pid!
}

describe('agent data lock', () => {
  let dir: string
  let lock: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-lock-'))
    lock = join(dir, 'lock')
  })
  afterEach(() => rm(dir, {recursive: true, force: true}))

  it('breaks at once a lock whose holder died (an agent killed with a record in flight), not after staleMs', async () => {
    await writeFile(lock, String(await deadPid()))
    const started = Date.now()
    assert.equal(await withDataLock(lock, async () => 'ran', {timeoutMs: 2000, staleMs: 60_000}), 'ran')
    assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`)
  })

  it('waits for a live holder and gives up at the timeout, naming the lock', async () => {
    // The parent of this process is alive and is not this process.
    await writeFile(lock, String(process.ppid))
    await assert.rejects(withDataLock(lock, async () => 'ran', {timeoutMs: 300, staleMs: 60_000}), /could not lock .*lock within 300ms/)
    assert.equal(await readFile(lock, 'utf8'), String(process.ppid), 'a live holder\'s lock is left alone')
  })

  it('runs callers of one process one at a time, in the order they asked, with no overlap', async () => {
    await writeFile(lock, String(await deadPid()))
    const order: number[] = []
    let inside = 0
    let most = 0
    await Promise.all(
      Array.from({length: 50}, (_, i) =>
        withDataLock(lock, async () => {
          inside++
          most = Math.max(most, inside)
          await new Promise((resolve) => setImmediate(resolve))
          order.push(i)
          inside--
        }),
      ),
    )
    assert.equal(most, 1)
    assert.deepEqual(order, Array.from({length: 50}, (_, i) => i))
  })

  it('a caller that throws releases the lock for the next one', async () => {
    await assert.rejects(withDataLock(lock, async () => Promise.reject(new Error('boom'))), /boom/)
    assert.equal(await withDataLock(lock, async () => 'next', {timeoutMs: 500}), 'next')
  })
})
