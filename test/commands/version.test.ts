import {strict as assert} from 'node:assert'
import {createHash} from 'node:crypto'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {runCommand} from '@oclif/test'
import {readSbomInfo} from '../../src/shared/sbom.js'

describe('tether version', () => {
  it('prints a JSON document with the version', async () => {
    const {stdout, error} = await runCommand(['version', '--json'])
    assert.equal(error, undefined)
    const doc = JSON.parse(stdout)
    assert.match(doc.version, /^\d+\.\d+\.\d+/)
    assert.equal(doc.node, process.version)
  })

  it('reports the SHA-256 of the SBOM shipped beside package.json (npm run sbom runs at install)', async () => {
    const {stdout} = await runCommand(['version', '--json'])
    const doc = JSON.parse(stdout)
    assert.ok(doc.sbom, 'npm ci runs npm run sbom through prepare')
    const bytes = await readFile(doc.sbom.file)
    assert.equal(doc.sbom.sha256, createHash('sha256').update(bytes).digest('hex'))
    const bom = JSON.parse(bytes.toString('utf8'))
    assert.equal(bom.bomFormat, 'CycloneDX')
    assert.equal(bom.metadata.component.name, '@tether-oss/tether')
    assert.ok(bom.components.some((c: {name: string}) => c.name === 'fastify'), 'runtime dependencies are listed')
    assert.ok(!bom.components.some((c: {name: string}) => c.name === 'mocha'), 'dev dependencies are not shipped, so not listed')
  })

  it('says there is no SBOM rather than failing when none was generated', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tether-sbom-'))
    try {
      assert.equal(await readSbomInfo(dir), null)
      await writeFile(join(dir, 'sbom.cdx.json'), JSON.stringify({bomFormat: 'CycloneDX', specVersion: '1.5', components: [{}, {}]}))
      const info = await readSbomInfo(dir)
      assert.equal(info?.components, 2)
      assert.equal(info?.format, 'CycloneDX 1.5')
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })
})
