// SECURITY.md maps each security claim to the tests behind it: every test file it names must
// exist, and the first test title it quotes for that file must be in it (so a renamed or deleted
// test cannot leave a claim pointing at nothing).
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = join(__dirname, '..', '..', '..')
const text = readFileSync(join(root, 'SECURITY.md'), 'utf8')
const start = text.indexOf('| claim | test file › test |')
const rows = text
  .slice(start)
  .split('\n')
  .slice(2)
  .filter((l) => l.startsWith('|'))

describe('SECURITY.md claim table', () => {
  it('has its rows', () => {
    expect(start).toBeGreaterThan(0)
    expect(rows.length).toBeGreaterThanOrEqual(25)
  })

  it.each(rows.map((r) => [r.split('|')[1]!.trim().slice(0, 60), r]))('%s…: its test files exist and quote a test they hold', (_claim, row) => {
    const refs = [...row.matchAll(/`(test\/[^`]+\.test\.ts)` › ([^,;|]+)/g)]
    expect(refs.length).toBeGreaterThan(0)
    for (const [, file, titles] of refs) {
      expect(existsSync(join(root, file!))).toBe(true)
      const source = readFileSync(join(root, file!), 'utf8')
      // The last segment of "describe › test" is a test title (placeholders, interpolations and
      // trailing notes aside): three consecutive words of it are in the file.
      const segments = titles!
        .split('›')
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
      const words = segments[segments.length - 1]!.replace(/\(.*?\)$/, '')
        .split(/\s+/)
        .filter((w) => w.length > 0)
      const windows = words.length <= 3 ? [words.join(' ')] : words.slice(0, -2).map((_, i) => words.slice(i, i + 3).join(' '))
      expect(windows.some((w) => source.includes(w))).toBe(true)
    }
  })
})
