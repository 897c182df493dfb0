// Existing plaintext data: migrating mode reads rows without a key as plaintext and encrypts them
// on their next write; encryptExistingRows encrypts the rest in batches, idempotent and resumable.
import { encryptExistingRows, rowcrypt, withTenant } from '../../src'
import { DATABASES, openDatabase, type TestDatabase } from '../support/db'
import { extend, rlsOf, testKeyProvider } from '../support/setup'

describe.each(DATABASES)('migrating plaintext data on %s', (kind) => {
  let db: TestDatabase
  const migratingClient = (d: TestDatabase) =>
    d.prisma.$extends(
      rowcrypt({
        ...rlsOf(d),
        schema: d.manifest,
        keyProvider: testKeyProvider(),
        models: { User: { fields: ['email', 'ssn', 'notes', { name: 'prefs', type: 'json' }, { name: 'avatar', type: 'bytes' }], migrating: true }, Post: { fields: ['title', 'body'] } },
      }),
    )
  let prisma: ReturnType<typeof migratingClient>
  let n = 0
  const tenant = () => `mg_${kind}_${++n}`

  /** A row as an application wrote it before rowcrypt: plaintext, no key. */
  async function legacy(tenantId: string, email: string, ssn: string | null = null): Promise<number> {
    await db.raw('INSERT INTO "User" ("name", "email", "ssn", "tenantId") VALUES ($1, $2, $3, $4)', ['legacy', email, ssn, tenantId])
    const [row] = await db.raw<{ id: unknown }>('SELECT "id" FROM "User" WHERE "email" = $1', [email])
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

  it('refuses models that are not in migrating mode', async () => {
    await expect(encryptExistingRows(extend(db), { model: 'User' })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
    await expect(encryptExistingRows(prisma, { model: 'Post' })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
  })
})
