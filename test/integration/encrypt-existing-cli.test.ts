// `rowcrypt encrypt-existing`: the CLI around encryptExistingRows, with the application's config:
// JSON lines, text lines, the progress bar, errors. Through the built binary with SIGTERM:
// cli-binary.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { rowcrypt, withTenant } from '../../src'
import type { JobIO } from '../../src/cli/io'
import { runCli } from '../../src/cli/run'
import { openDatabase, type TestDatabase } from '../support/db'
import { extend, testKeyProvider } from '../support/setup'

describe('rowcrypt encrypt-existing', () => {
  let db: TestDatabase
  let cwd: string
  beforeAll(async () => {
    db = await openDatabase('sqlite', 'encrypt_existing_cli')
    cwd = mkdtempSync(join(tmpdir(), 'rowcrypt-cli-'))
    writeFileSync(join(cwd, 'rowcrypt.config.ts'), '// loaded through importModule in these tests\n')
  })
  afterAll(async () => {
    await db.close()
    rmSync(cwd, { recursive: true, force: true })
  })

  function harness(config: unknown, tty = false) {
    const out: string[] = []
    const err: string[] = []
    const io: JobIO = { out: (s) => out.push(s), err: (s) => err.push(s), cwd, interactive: false, prompt: async () => '', tty, importModule: async () => ({ default: config }) }
    return { io, out, err }
  }
  const encryptExisting = (argv: string[], io: JobIO) => runCli(['encrypt-existing', ...argv], io)
  // Autoincrement ids: the legacy set is every id up to the largest one at cutover.
  let cutover = 0
  const migrating = () =>
    db.prisma.$extends(rowcrypt({ schema: db.manifest, keyProvider: testKeyProvider(), models: { User: { fields: ['email', 'ssn'], migrating: { legacyIds: (id) => Number(id) <= cutover } } } }))
  const largestId = async () => Number((await db.raw<{ m: unknown }>('SELECT MAX("id") AS m FROM "User"'))[0]!.m)
  /** Rows written before rowcrypt; the cutover moves past them. */
  const legacyRows = async (n: number, prefix: string) => {
    for (let i = 0; i < n; i++) await db.raw('INSERT INTO "User" ("name", "email", "tenantId") VALUES ($1, $2, $3)', ['legacy', `${prefix}-${i}@x`, 't_cli'])
    cutover = await largestId()
  }

  it('encrypts the plaintext rows and reports JSON lines (a progress event per batch, then done); a second run finds nothing to do', async () => {
    await legacyRows(5, 'cli')
    const first = harness({ prisma: migrating() })
    expect(await encryptExisting(['--model', 'User', '--batch-size', '2', '--json'], first.io)).toBe(0)
    const lines = first.out
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines.map((l) => [l.event, l.encrypted])).toEqual([
      ['progress', 2],
      ['progress', 4],
      ['progress', 5],
      ['done', 5],
    ])
    expect(lines[0]).toMatchObject({ model: 'User', skipped: 0, total: 5, elapsedMs: expect.any(Number), rowsPerSecond: expect.any(Number) })
    expect(lines.at(-1)).toMatchObject({ event: 'done', model: 'User', encrypted: 5, skipped: 0, total: 5, interrupted: false })
    expect(first.err.join('')).toBe('')
    const stored = await db.raw<{ email: string }>('SELECT "email" FROM "User"')
    expect(stored.every((r) => r.email.startsWith('rc1.'))).toBe(true)
    const back = await withTenant('t_cli', () => extend(db).user.findMany({ orderBy: { id: 'asc' } }))
    expect(back.map((u) => u.email)).toEqual([0, 1, 2, 3, 4].map((i) => `cli-${i}@x`))
    const again = harness({ prisma: migrating() })
    expect(await encryptExisting(['--model', 'User', '--json'], again.io)).toBe(0)
    expect(JSON.parse(again.out.join('').trim().split('\n').at(-1)!)).toMatchObject({ event: 'done', encrypted: 0, total: 0 })
  })

  it('prints a text line per batch and a summary when stdout is not a terminal, and a progress bar on stderr on one', async () => {
    await legacyRows(4, 'text')
    const text = harness({ prisma: migrating() })
    expect(await encryptExisting(['--model', 'User', '--batch-size', '2'], text.io)).toBe(0)
    const lines = text.out.join('').split('\n')
    expect(lines[0]).toMatch(/^Progress: User 2\/4 rows \(2 encrypted, 0 skipped\), [\d,]+ rows\/s, ETA \d+:\d\d$/)
    expect(lines[1]).toMatch(/^Progress: User 4\/4 rows \(4 encrypted, 0 skipped\), /)
    expect(lines[2]).toMatch(/^Done: User: 4 rows encrypted, 0 skipped in \d+:\d\d \([\d,]+ rows\/s\)\.$/)
    expect(text.err.join('')).toBe('')
    await legacyRows(3, 'tty')
    const tty = harness({ prisma: migrating() }, true)
    expect(await encryptExisting(['--model', 'User', '--batch-size', '1'], tty.io)).toBe(0)
    expect(tty.err.join('')).toMatch(/encrypt User \[[█░]+\] +\d+% {2}[\d,]+\/3 rows {2}[\d,]+ rows\/s {2}ETA /)
    expect(tty.out.join('')).toMatch(/^Done: User: 3 rows encrypted, 0 skipped in /)
    expect(text.out.join('') + tty.out.join('') + tty.err.join('')).not.toMatch(/text-\d@x|tty-\d@x|rc1\./)
  })

  it('a row without a key outside the legacy set stops it with ERR_ROWCRYPT_CIPHERTEXT_FORMAT, its plaintext not encrypted nor printed', async () => {
    await db.raw('INSERT INTO "User" ("name", "email", "tenantId") VALUES ($1, $2, $3)', ['after cutover', 'cli-late@x', 't_cli'])
    expect(await largestId()).toBeGreaterThan(cutover)
    const run = harness({ prisma: migrating() })
    expect(await encryptExisting(['--model', 'User'], run.io)).toBe(1)
    expect(run.err.join('')).toMatch(/^rowcrypt encrypt-existing: [^\n]*\(ERR_ROWCRYPT_CIPHERTEXT_FORMAT\)\n$/)
    expect(run.err.join('')).not.toContain('cli-late@x')
    const json = harness({ prisma: migrating() })
    expect(await encryptExisting(['--model', 'User', '--json'], json.io)).toBe(1)
    const events = json.out
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(events.at(-1)).toMatchObject({ event: 'error', command: 'encrypt-existing', code: 'ERR_ROWCRYPT_CIPHERTEXT_FORMAT', exitCode: 1 })
    expect(json.out.join('') + json.err.join('')).not.toContain('cli-late@x')
    expect(await db.raw('SELECT "email" FROM "User" WHERE "email" = $1', ['cli-late@x'])).toHaveLength(1)
    await db.raw('DELETE FROM "User" WHERE "email" = $1', ['cli-late@x'])
  })

  it('usage errors exit 2; so do a config without the extended client and a model not migrating (ERR_ROWCRYPT_CONFIG)', async () => {
    expect(await encryptExisting([], harness({}).io)).toBe(2)
    expect(await encryptExisting(['--model', 'User', '--batch-size', '0'], harness({}).io)).toBe(2)
    const help = harness({})
    expect(await encryptExisting(['--help'], help.io)).toBe(0)
    expect(help.out.join('')).toContain('Usage: rowcrypt encrypt-existing --model <Model> [options]')
    const base = harness({ prisma: db.prisma })
    expect(await encryptExisting(['--model', 'User'], base.io)).toBe(2)
    expect(base.err.join('')).toContain('ERR_ROWCRYPT_CONFIG')
    const strict = harness({ prisma: extend(db) })
    expect(await encryptExisting(['--model', 'User'], strict.io)).toBe(2)
    expect(strict.err.join('')).toContain('ERR_ROWCRYPT_CONFIG')
    const unknown = harness({ prisma: migrating() })
    expect(await encryptExisting(['--model', 'Nope'], unknown.io)).toBe(2)
    expect(unknown.err.join('')).toMatch(/model Nope is not configured.*\(ERR_ROWCRYPT_CONFIG\)/)
  })
})
