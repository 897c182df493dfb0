// An upsert's update branch is a compare-and-swap on the row's key, like an update's: a row
// re-keyed between rowcrypt's read of its key and the write is retried on the new key, never left
// with a field sealed under the old one, and the create branch a missed compare-and-swap falls
// through to never adds a second row.
import type { BindingContext, GeneratedDataKey, KeyProvider } from '../../src'
import { RowLevelEncryption, withTenant } from '../../src'
import { DATABASES, openDatabase, type TestDatabase } from '../support/db'
import { extend, testKeyProvider, type Extended } from '../support/setup'

/** A key provider that runs `beforeUnwrap` once, just before the next unwrap (the key read is done). */
class HookedProvider implements KeyProvider {
  beforeUnwrap: (() => Promise<void>) | undefined
  constructor(private readonly inner: KeyProvider) {}
  get activeKeyVersion(): string {
    return this.inner.activeKeyVersion
  }
  generateDataKey(context: BindingContext): Promise<GeneratedDataKey> {
    return this.inner.generateDataKey(context)
  }
  wrapDataKey(plaintextKey: Uint8Array, context: BindingContext, keyVersion?: string) {
    return this.inner.wrapDataKey(plaintextKey, context, keyVersion)
  }
  async unwrapDataKey(wrappedKey: Uint8Array, keyVersion: string, context: BindingContext): Promise<Uint8Array> {
    const hook = this.beforeUnwrap
    this.beforeUnwrap = undefined
    if (hook !== undefined) await hook()
    return this.inner.unwrapDataKey(wrappedKey, keyVersion, context)
  }
}

describe.each(DATABASES)('upsert compare-and-swap on %s', (kind) => {
  let db: TestDatabase
  let prisma: Extended
  let provider: HookedProvider
  const rle = new RowLevelEncryption({ keyProvider: testKeyProvider(), models: { User: { fields: ['email', 'ssn'], idField: 'id' }, Post: { fields: ['title', 'body'], idField: 'id' } } })

  beforeAll(async () => {
    db = await openDatabase(kind, 'upsert_cas')
    provider = new HookedProvider(testKeyProvider())
    prisma = extend(db, provider)
  })
  afterAll(() => db.close())

  /** Re-keys a row at rest (a new data key under v2), as `rowcrypt rotate --rekey` would. */
  const rekey = (table: 'User' | 'Post', id: unknown, tenantId: string, columns: string[]) => async () => {
    const [raw] = await db.raw<Record<string, unknown>>(`SELECT * FROM ${db.table(table)} WHERE "id" = $1`, [id])
    const moved = await rle.rekeyRow(raw!, 'v2', { model: table, tenantId })
    const sets = [...columns, 'wrappedDek', 'keyVersion'].map((c, i) => `"${c}" = $${i + 1}`).join(', ')
    const values = [...columns, 'wrappedDek', 'keyVersion'].map((c) => (moved[c] instanceof Uint8Array ? Buffer.from(moved[c] as Uint8Array) : moved[c]))
    await db.raw(`UPDATE ${db.table(table)} SET ${sets} WHERE "id" = $${columns.length + 3}`, [...values, id])
  }
  const readBack = (t: string, id: number) => withTenant(t, () => extend(db, testKeyProvider('v2')).user.findUniqueOrThrow({ where: { id } }))

  it('an autoincrement row re-keyed between the key read and the write: retried, every field readable, no second row', async () => {
    const t = `ucas_${kind}_1`
    const u = await withTenant(t, () => prisma.user.create({ data: { name: 'u', email: 'old@x', ssn: 'ssn-1' } }))
    provider.beforeUnwrap = rekey('User', u.id, t, ['email', 'ssn'])
    const r = await withTenant(t, () => prisma.user.upsert({ where: { id: u.id }, update: { email: 'new@x' }, create: { name: 'never', email: 'never@x' }, omit: { keyVersion: false } }))
    expect(r).toMatchObject({ id: u.id, email: 'new@x', ssn: 'ssn-1', keyVersion: 'v2' })
    expect(await readBack(t, u.id)).toMatchObject({ email: 'new@x', ssn: 'ssn-1' })
    expect(await withTenant(t, () => prisma.user.count())).toBe(1)
  })

  it('a row-bound uuid row re-keyed meanwhile: the same', async () => {
    const t = `ucas_${kind}_2`
    const u = await withTenant(t, () => prisma.user.create({ data: { name: 'a', email: 'a@x' } }))
    const p = await withTenant(t, () => prisma.post.create({ data: { title: 'old title', body: 'body', authorId: u.id } }))
    provider.beforeUnwrap = rekey('Post', p.id, t, ['title', 'body'])
    const r = await withTenant(t, () => prisma.post.upsert({ where: { id: p.id }, update: { title: 'new title' }, create: { title: 'never', authorId: u.id }, omit: { keyVersion: false } }))
    expect(r).toMatchObject({ id: p.id, title: 'new title', body: 'body', keyVersion: 'v2' })
    const back = await withTenant(t, () => extend(db, testKeyProvider('v2')).post.findMany())
    expect(back.map((x) => [x.id, x.title, x.body])).toEqual([[p.id, 'new title', 'body']])
  })

  it('without a race the update and create branches are unchanged', async () => {
    const t = `ucas_${kind}_3`
    const created = await withTenant(t, () =>
      prisma.user.upsert({ where: { id: 2_000_000 + DATABASES.indexOf(kind) }, update: { email: 'x' }, create: { name: 'c', email: 'created@x' }, omit: { tenantId: false } }),
    )
    expect(created).toMatchObject({ email: 'created@x', tenantId: t })
    const updated = await withTenant(t, () => prisma.user.upsert({ where: { id: created.id }, update: { email: 'updated@x' }, create: { name: 'c', email: 'never' } }))
    expect(updated).toMatchObject({ id: created.id, email: 'updated@x' })
    expect(await withTenant(t, () => prisma.user.count())).toBe(1)
  })
})
