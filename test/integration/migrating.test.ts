// Existing plaintext data: migrating mode reads rows without a key as plaintext, only those of the
// legacy set (ids named at cutover), and encrypts them on their next write; encryptExistingRows
// encrypts the rest in batches, idempotent and resumable. Every plaintext read is counted.
import * as promClient from 'prom-client'
import { auditTrail, encryptExistingRows, rotationStatus, rowcrypt, rowcryptMetrics, withTenant, type AuditEvent, type OperationEvent, type RowcryptObserver } from '../../src'
import { statusCommand, type JobIO } from '../../src/cli/rotate'
import { DATABASES, openDatabase, type TestDatabase } from '../support/db'
import { line, series } from '../support/prom-text'
import { extend, noDisconnect, rlsOf, testKeyProvider } from '../support/setup'

describe.each(DATABASES)('migrating plaintext data on %s', (kind) => {
  let db: TestDatabase
  // The rows that existed at cutover, as a Set loaded from an export would name them.
  const legacyIds = new Set<string>()
  const migratingClient = (d: TestDatabase, observers: RowcryptObserver[] = []) =>
    d.prisma.$extends(
      rowcrypt({
        ...rlsOf(d),
        schema: d.manifest,
        keyProvider: testKeyProvider(),
        models: {
          User: { fields: ['email', 'ssn', 'notes', { name: 'prefs', type: 'json' }, { name: 'avatar', type: 'bytes' }], migrating: { legacyIds: (id) => legacyIds.has(String(id)) } },
          Post: { fields: ['title', 'body'] },
        },
        observers,
      }),
    )
  let prisma: ReturnType<typeof migratingClient>
  let n = 0
  const tenant = () => `mg_${kind}_${++n}`

  /** A row as an application wrote it before rowcrypt: plaintext, no key, its id in the legacy set. */
  async function legacy(tenantId: string, email: string, ssn: string | null = null): Promise<number> {
    await db.raw('INSERT INTO "User" ("name", "email", "ssn", "tenantId") VALUES ($1, $2, $3, $4)', ['legacy', email, ssn, tenantId])
    const [row] = await db.raw<{ id: unknown }>('SELECT "id" FROM "User" WHERE "email" = $1', [email])
    legacyIds.add(String(row!.id))
    return Number(row!.id)
  }
  const stored = async (id: number) => (await db.raw<Record<string, unknown>>('SELECT * FROM "User" WHERE "id" = $1', [id]))[0]!

  beforeAll(async () => {
    db = await openDatabase(kind, 'migrating')
    prisma = migratingClient(db)
  })
  afterAll(() => db.close())

  it('reads rows without a key as plaintext, confined to the tenant; outside migrating mode they are an error', async () => {
    const [a, b] = [tenant(), tenant()]
    const id = await legacy(a, 'legacy-read@a', '111')
    expect(await withTenant(a, () => prisma.user.findUnique({ where: { id } }))).toMatchObject({ email: 'legacy-read@a', ssn: '111' })
    expect(await withTenant(b, () => prisma.user.findUnique({ where: { id } }))).toBeNull()
    const strict = extend(db)
    await expect(withTenant(a, () => strict.user.findUnique({ where: { id } }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CIPHERTEXT_FORMAT' })
  })

  it('encrypts a plaintext row on its next write, keeping the values it does not change', async () => {
    const t = tenant()
    const id = await legacy(t, 'legacy-write@t', '222')
    const r = await withTenant(t, () => prisma.user.update({ where: { id }, data: { name: 'renamed' } }))
    expect(r).toMatchObject({ name: 'renamed', email: 'legacy-write@t', ssn: '222' })
    const row = await stored(id)
    expect(row.email).toMatch(/^rc1\./)
    expect(row.ssn).toMatch(/^rc1\./)
    expect(row.wrappedDek).toBeTruthy()
    const id2 = await legacy(t, 'legacy-write2@t')
    const r2 = await withTenant(t, () => prisma.user.update({ where: { id: id2 }, data: { email: 'new-secret@t' } }))
    expect(r2.email).toBe('new-secret@t')
    expect(JSON.stringify(await stored(id2))).not.toContain('legacy-write2@t')
    // Once encrypted, a strict client reads it.
    expect(await withTenant(t, () => extend(db).user.findUniqueOrThrow({ where: { id: id2 } }))).toMatchObject({ email: 'new-secret@t' })
  })

  it('a row without a key that holds a ciphertext is an error, never returned', async () => {
    const t = tenant()
    const id = await legacy(t, 'rc1.A256GCM.s.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA')
    await expect(withTenant(t, () => prisma.user.findUnique({ where: { id } }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CIPHERTEXT_FORMAT' })
    await db.raw('DELETE FROM "User" WHERE "id" = $1', [id])
  })

  it('encryptExistingRows encrypts the rest across tenants, in batches, resumably and idempotently', async () => {
    const [a, b] = [tenant(), tenant()]
    await db.raw('DELETE FROM "User"')
    const ids: number[] = []
    for (let i = 0; i < 7; i++) ids.push(await legacy(i % 2 ? a : b, `bulk-${i}@x`, `ssn-${i}`))
    const orphan = await legacy('', 'orphan@x')
    // Stop after the first batch, then resume.
    const abort = new AbortController()
    const first = await encryptExistingRows(prisma, { model: 'User', batchSize: 3, signal: abort.signal, onBatch: () => abort.abort() })
    expect(first).toEqual({ encrypted: 3, skipped: 0 })
    const rest = await encryptExistingRows(prisma, { model: 'User', batchSize: 3 })
    expect(rest).toEqual({ encrypted: 4, skipped: 1 })
    expect(await encryptExistingRows(prisma, { model: 'User', batchSize: 3 })).toEqual({ encrypted: 0, skipped: 1 })
    for (const [i, id] of ids.entries()) {
      const row = await stored(id)
      expect(row.email).toMatch(/^rc1\./)
      const back = await withTenant(i % 2 ? a : b, () => extend(db).user.findUniqueOrThrow({ where: { id } }))
      expect(back).toMatchObject({ email: `bulk-${i}@x`, ssn: `ssn-${i}` })
    }
    expect((await stored(orphan)).email).toBe('orphan@x')
  })

  it('a row written through rowcrypt, then forged at rest as plaintext without its key, fails to read and to update and stays unchanged at rest', async () => {
    const t = tenant()
    const { id } = await withTenant(t, () => prisma.user.create({ data: { name: 'written', email: 'written@t', ssn: 'written-ssn' } }))
    expect(legacyIds.has(String(id))).toBe(false)
    await db.raw('UPDATE "User" SET "wrappedDek" = NULL, "keyVersion" = NULL, "email" = $1, "ssn" = $2 WHERE "id" = $3', ['forged@t', 'forged-ssn', id])
    await expect(withTenant(t, () => prisma.user.findUnique({ where: { id } }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CIPHERTEXT_FORMAT' })
    await expect(withTenant(t, () => prisma.user.findMany({ where: { name: 'written' } }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CIPHERTEXT_FORMAT' })
    const atRest = await stored(id)
    // An update of another field, or of an encrypted one, must not encrypt the forged values.
    await expect(withTenant(t, () => prisma.user.update({ where: { id }, data: { name: 'renamed' } }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CIPHERTEXT_FORMAT' })
    await expect(withTenant(t, () => prisma.user.update({ where: { id }, data: { notes: 'new' } }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CIPHERTEXT_FORMAT' })
    expect(await stored(id)).toEqual(atRest)
    expect(atRest).toMatchObject({ name: 'written', email: 'forged@t', wrappedDek: null })
    await db.raw('DELETE FROM "User" WHERE "id" = $1', [id])
  })

  it('a legacy row reads as plaintext and every plaintext read is counted: operation event, Prometheus counter, audit event with its id', async () => {
    const t = tenant()
    const id = await legacy(t, 'legacy-counted@t', 'ssn-legacy-counted')
    const events: OperationEvent[] = []
    const audit: AuditEvent[] = []
    const registry = new promClient.Registry()
    const metrics = rowcryptMetrics({ client: promClient, registry })
    const observed = migratingClient(db, [{ operation: (e) => void events.push(e) }, metrics, auditTrail((e) => void audit.push(e))])
    const reads = async () => series(await registry.metrics(), 'row_encryption_plaintext_reads_total')

    expect(await withTenant(t, () => observed.user.findUnique({ where: { id } }))).toMatchObject({ email: 'legacy-counted@t', ssn: 'ssn-legacy-counted' })
    expect(events.at(-1)).toMatchObject({ operation: 'findUnique', outcome: 'ok', rowsDecrypted: 0, rowsPlaintext: 1, plaintextRowIds: [String(id)] })
    expect(audit.at(-1)).toMatchObject({ operation: 'findUnique', tenantId: t, rowsPlaintext: 1, plaintextRowIds: [String(id)] })
    expect(await reads()).toEqual([line('row_encryption_plaintext_reads_total', { model: 'User' }, 1)])

    // Encrypting it on its next write takes its stored values as they are: counted too.
    await withTenant(t, () => observed.user.update({ where: { id }, data: { name: 'renamed' } }))
    expect(events.at(-1)).toMatchObject({ operation: 'update', outcome: 'ok', rowsPlaintext: 1, plaintextRowIds: [String(id)] })
    expect(audit.at(-1)).toMatchObject({ operation: 'update', rowsPlaintext: 1, plaintextRowIds: [String(id)] })
    // Encrypted now: read as any other row, nothing counted.
    await withTenant(t, () => observed.user.findMany({ where: { id } }))
    expect(events.at(-1)).toMatchObject({ operation: 'findMany', rowsDecrypted: 1, rowsPlaintext: 0 })
    expect(events.at(-1)!.plaintextRowIds).toBeUndefined()
    expect(audit.at(-1)).toMatchObject({ rowsPlaintext: 0, plaintextRowIds: [] })
    expect(await reads()).toEqual([line('row_encryption_plaintext_reads_total', { model: 'User' }, 2)])
    expect(JSON.stringify([events, audit]) + (await registry.metrics())).not.toMatch(/legacy-counted/)
  })

  it('rotationStatus and rowcrypt status (--json and text) count plaintext rows, and set the plaintext_rows gauge', async () => {
    const t = tenant()
    await legacy(t, 'status-1@t')
    await legacy(t, 'status-2@t')
    const keyless = Number((await db.raw<{ n: unknown }>('SELECT COUNT(*) AS n FROM "User" WHERE "wrappedDek" IS NULL'))[0]!.n)
    expect(keyless).toBeGreaterThanOrEqual(2)
    const status = await rotationStatus({ prisma, model: 'User', byTenant: true })
    expect(status.models[0]).toMatchObject({ model: 'User', plaintextRows: keyless })
    expect(status.models[0]!.tenants!.find((x) => x.tenantId === t)).toMatchObject({ total: 2, plaintextRows: 2 })

    const registry = new promClient.Registry()
    const metrics = rowcryptMetrics({ client: promClient, registry })
    const run = async (args: string[]) => {
      const out: string[] = []
      const io: JobIO = {
        out: (s) => void out.push(s),
        err: () => undefined,
        cwd: process.cwd(),
        interactive: false,
        prompt: async () => '',
        importModule: async () => ({ default: { prisma: noDisconnect(prisma), metrics } }),
      }
      expect(await statusCommand([...args, '--model', 'User', '--config', __filename], io)).toBe(0)
      return out.join('')
    }
    expect((JSON.parse(await run(['--json'])) as { models: unknown[] }).models[0]).toMatchObject({ model: 'User', plaintextRows: keyless })
    expect(await run([])).toMatch(new RegExp(`User: .*, ${keyless} plaintext \\(no wrapped key\\)\\n`))
    expect(series(await registry.metrics(), 'row_encryption_plaintext_rows')).toEqual([line('row_encryption_plaintext_rows', { model: 'User' }, keyless)])
  })

  it('refuses migrating: true at construction with ERR_ROWCRYPT_CONFIG', () => {
    const build = (migrating: unknown) => () => rowcrypt({ schema: db.manifest, keyProvider: testKeyProvider(), models: { User: { fields: ['email'], migrating: migrating as false } } })
    expect(build(true)).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
    expect(build({})).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
    expect(build({ legacyIds: () => false })).not.toThrow()
  })

  it('refuses models that are not in migrating mode', async () => {
    await expect(encryptExistingRows(extend(db), { model: 'User' })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
    await expect(encryptExistingRows(prisma, { model: 'Post' })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
  })
})
