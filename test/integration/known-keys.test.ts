// An update by id right after the row was read skips reading its key again; a stale remembered
// key (the row re-wrapped or re-keyed meanwhile) costs a failed compare-and-swap and a fresh read,
// never a field under the wrong key.
import { RowLevelEncryption, withTenant } from '../../src'
import { DATABASES, openDatabase, type TestDatabase } from '../support/db'
import { extend, testKeyProvider, type Extended } from '../support/setup'

describe.each(DATABASES)('remembered row keys on %s', (kind) => {
  let db: TestDatabase
  let prisma: Extended
  beforeAll(async () => {
    db = await openDatabase(kind, 'known_keys')
    prisma = extend(db)
  })
  afterAll(() => db.close())
  const selects = (from: number) => db.queries.slice(from).filter((q) => /^\s*SELECT/i.test(q) && !/set_config/i.test(q)).length

  it('an update after a read sends no extra read of the row key', async () => {
    const t = `kk_${kind}_1`
    const u = await withTenant(t, () => prisma.user.create({ data: { name: 'k', email: 'kk-1' } }))
    const cold = extend(db) // a new client remembers nothing
    let from = db.queries.length
    await withTenant(t, () => cold.user.update({ where: { id: u.id }, data: { email: 'kk-2' } }))
    const coldSelects = selects(from)
    from = db.queries.length
    await withTenant(t, () => cold.user.update({ where: { id: u.id }, data: { email: 'kk-3' } }))
    expect(selects(from)).toBe(coldSelects - 1)
    expect((await withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id: u.id } }))).email).toBe('kk-3')
  })

  it('a row re-wrapped under another key version since it was read still updates correctly', async () => {
    const t = `kk_${kind}_2`
    const u = await withTenant(t, () => prisma.user.create({ data: { name: 'k', email: 'kk-old', ssn: 'kk-ssn' } }))
    await withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id: u.id } })) // remembered now
    // Rotation elsewhere: re-wrap the row's key under v2 behind this client's back.
    const [raw] = await db.raw<Record<string, unknown>>('SELECT * FROM "User" WHERE "id" = $1', [u.id])
    const rle = new RowLevelEncryption({ keyProvider: testKeyProvider(), models: { User: { fields: ['email', 'ssn'], idField: 'id' } } })
    const moved = await rle.reEncryptRow(raw!, 'v2', { model: 'User', tenantId: t })
    await db.raw('UPDATE "User" SET "wrappedDek" = $1, "keyVersion" = $2 WHERE "id" = $3', [Buffer.from(moved.wrappedDek as Uint8Array), moved.keyVersion, u.id])
    const updated = await withTenant(t, () => prisma.user.update({ where: { id: u.id }, data: { email: 'kk-new' }, omit: { keyVersion: false } }))
    expect(updated).toMatchObject({ email: 'kk-new', ssn: 'kk-ssn', keyVersion: 'v2' })
    const back = await withTenant(t, () => extend(db, testKeyProvider('v2')).user.findUniqueOrThrow({ where: { id: u.id } }))
    expect(back).toMatchObject({ email: 'kk-new', ssn: 'kk-ssn' })
  })

  it('a row deleted since it was read: the update fails as not found, and writes nothing', async () => {
    const t = `kk_${kind}_3`
    const u = await withTenant(t, () => prisma.user.create({ data: { name: 'k', email: 'kk-del' } }))
    await db.raw('DELETE FROM "User" WHERE "id" = $1', [u.id])
    await expect(withTenant(t, () => prisma.user.update({ where: { id: u.id }, data: { email: 'kk-ghost' } }))).rejects.toMatchObject({ code: 'P2025' })
  })
})
