/**
 * Part of `npm run lint`: the evidence documents (docs/mds2.md, docs/threat-model.md) name the
 * tests that prove each answer, as `test/path/file.test.ts` › "title". This check fails when a
 * named file is gone or no longer contains the named title, so the documents cannot silently rot
 * as the code changes. A title is matched as written in the file (an it() or describe() string,
 * or its literal part when the title is built from a template).
 */
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

const root = join(import.meta.dirname, '..')
const DOCS = ['docs/mds2.md', 'docs/threat-model.md']
// `test/…test.ts` optionally followed by › "title" (several titles: › "a" › "b").
const REFERENCE = /`(test\/[\w./-]+\.test\.ts)`((?:\s*›\s*"[^"]+")*)/g
const TITLE = /›\s*"([^"]+)"/g

export interface DocReferenceProblem {
  doc: string
  line: number
  message: string
}

export function checkDocument(doc: string, text: string, readTest: (path: string) => string | null): {references: number; problems: DocReferenceProblem[]} {
  const problems: DocReferenceProblem[] = []
  let references = 0
  text.split('\n').forEach((lineText, index) => {
    for (const match of lineText.matchAll(REFERENCE)) {
      references++
      const [, file, titles] = match
      const source = readTest(file)
      if (source === null) {
        problems.push({doc, line: index + 1, message: `${file} does not exist`})
        continue
      }
      for (const [, title] of titles.matchAll(TITLE)) {
        if (!source.includes(title)) problems.push({doc, line: index + 1, message: `${file} has no test titled "${title}"`})
      }
    }
  })
  return {references, problems}
}

function main(): void {
  const readTest = (path: string) => (existsSync(join(root, path)) ? readFileSync(join(root, path), 'utf8') : null)
  let failed = false
  for (const doc of DOCS) {
    const path = join(root, doc)
    if (!existsSync(path)) {
      console.error(`${doc}: missing`)
      failed = true
      continue
    }
    const {references, problems} = checkDocument(doc, readFileSync(path, 'utf8'), readTest)
    for (const p of problems) console.error(`${p.doc}:${p.line}: ${p.message}`)
    if (problems.length > 0) failed = true
    else console.log(`${doc}: ${references} test references, all present`)
  }
  if (failed) process.exit(1)
}

if (process.argv[1] === import.meta.filename) main()
