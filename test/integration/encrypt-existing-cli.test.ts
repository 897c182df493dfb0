// `rowcrypt encrypt-existing`: the CLI around encryptExistingRows, with the application's config.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { rowcrypt, withTenant } from '../../src'
import { encryptExistingCommand } from '../../src/cli/encrypt-existing'
import type { CommandIO } from '../../src/cli/tenant'
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

  function harness(config: unknown) {
    const out: string[] = []
    const err: string[] = []
    const io: CommandIO = { out: (s) => out.push(s), err: (s) => err.push(s), cwd, interactive: false, prompt: async () => '', importModule: async () => ({ default: config }) }
    return { io, out, err }
  }
  // Autoincrement ids: the legacy set is every id up to the largest one at cutover.
  let cutover = 0
  const migrating = () =>
    db.prisma.$extends(rowcrypt({ schema: db.manifest, keyProvider: testKeyProvider(), models: { User: { fields: ['email', 'ssn'], migrating: { legacyIds: (id) => Number(id) <= cutover } } } }))
  const largestId = async () => Number((await db.raw<{ m: unknown }>('SELECT MAX("id") AS m FROM "User"'))[0]!.m)

  it('encrypts the plaintext rows and reports JSON lines; a second run finds nothing to do', async () => {
    for (let i = 0; i < 5; i++) await db.raw('INSERT INTO "User" ("name", "email", "tenantId") VALUES ($1, $2, $3)', ['legacy', `cli-${i}@x`, 't_cli'])
    cutover = await largestId()
    const first = harness({ prisma: migrating() })
    expect(await encryptExistingCommand(['--model', 'User', '--batch-size', '2', '--json'], first.io)).toBe(0)
    const lines = first.out.join('').trim().split('\n').map((l) => JSON.parse(l) as { encrypted: number; done: boolean })
    expect(lines.at(-1)).toMatchObject({ model: 'User', encrypted: 5, skipped: 0, done: true })
    expect(lines.length).toBeGreaterThan(2) // one line per batch, then the total
    const stored = await db.raw<{ email: string }>('SELECT "email" FROM "User"')
    expect(stored.every((r) => r.email.startsWith('rc1.'))).toBe(true)
    const back = await withTenant('t_cli', () => extend(db).user.findMany({ orderBy: { id: 'asc' } }))
    expect(back.map((u) => u.email)).toEqual([0, 1, 2, 3, 4].map((i) => `cli-${i}@x`))
    const again = harness({ prisma: migrating() })
    expect(await encryptExistingCommand(['--model', 'User', '--json'], again.io)).toBe(0)
    expect(JSON.parse(again.out.join('').trim().split('\n').at(-1)!)).toMatchObject({ encrypted: 0, done: true })
  })

  it('a row without a key outside the legacy set stops it with ERR_ROWCRYPT_CIPHERTEXT_FORMAT, its plaintext not encrypted', async () => {
    await db.raw('INSERT INTO "User" ("name", "email", "tenantId") VALUES ($1, $2, $3)', ['after cutover', 'cli-late@x', 't_cli'])
    expect(await largestId()).toBeGreaterThan(cutover)
    const run = harness({ prisma: migrating() })
    expect(await encryptExistingCommand(['--model', 'User'], run.io)).toBe(1)
    expect(run.err.join('')).toContain('ERR_ROWCRYPT_CIPHERTEXT_FORMAT')
    expect(run.err.join('')).not.toContain('cli-late@x')
    expect(await db.raw('SELECT "email" FROM "User" WHERE "email" = $1', ['cli-late@x'])).toHaveLength(1)
    await db.raw('DELETE FROM "User" WHERE "email" = $1', ['cli-late@x'])
  })

  it('usage errors exit 2; a config without the extended client or a model not migrating exits 1', async () => {
    expect(await encryptExistingCommand([], harness({}).io)).toBe(2)
    expect(await encryptExistingCommand(['--model', 'User', '--batch-size', '0'], harness({}).io)).toBe(2)
    expect(await encryptExistingCommand(['--help'], harness({}).io)).toBe(0)
    const base = harness({ prisma: db.prisma })
    expect(await encryptExistingCommand(['--model', 'User'], base.io)).toBe(1)
    expect(base.err.join('')).toContain('ERR_ROWCRYPT_CONFIG')
    const strict = harness({ prisma: extend(db) })
    expect(await encryptExistingCommand(['--model', 'User'], strict.io)).toBe(1)
    expect(strict.err.join('')).toContain('ERR_ROWCRYPT_CONFIG')
  })
})
