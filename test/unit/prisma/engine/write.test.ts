import { writeContext, type Obj } from '../../../../src/prisma/engine/context'
import { InMemoryTenantKeyStore, LocalKeyProvider } from '../../../../src'
import { RowLevelEncryption } from '../../../../src/fields/row'
import { newRow, newRows, updatedRow } from '../../../../src/prisma/engine/write'
import { CIPHERTEXT_FORMAT, engineOf, fakeIO, info, keylessUser, migratingTable, NOT_FOUND, rejectionCode, scopeAs, storedRow, TENANT_MISSING, UNSUPPORTED } from './fixture'

const ctxAs = (tenantId: string | null = 'A', io = fakeIO()) => writeContext(scopeAs(tenantId), io)

describe('newRows', () => {
  it('makes a list of rows without a promise when the key provider has what it needs', () => {
    const engine = engineOf()
    const rows = newRows(
      engine,
      info('Post'),
      [
        { id: 'a', slug: 'a', title: 'x', authorId: 1 },
        { id: 'b', slug: 'b', title: 'y', authorId: 1 },
      ],
      ctxAs(),
    )
    expect(Array.isArray(rows)).toBe(true)
    expect((rows as Obj[]).map((r) => r.id)).toEqual(['a', 'b'])
  })

  it('waits for the first row that cannot go without a promise, then makes the others without one', async () => {
    // A tenant key not yet cached: only the first row's key is generated asynchronously.
    const keyProvider = new LocalKeyProvider({ keys: { v1: Buffer.alloc(32, 7) }, activeVersion: 'v1', tenantKeyStore: new InMemoryTenantKeyStore() })
    const engine = engineOf()
    const rle = RowLevelEncryption.fromSpecs(keyProvider, [info('Post').spec!], undefined)
    const calls = { async: 0 }
    const generate = keyProvider.generateDataKey.bind(keyProvider)
    const counting = Object.assign(Object.create(keyProvider) as LocalKeyProvider, {
      generateDataKey: (...a: Parameters<typeof generate>) => (calls.async++, generate(...a)),
      generateDataKeySync: keyProvider.generateDataKeySync.bind(keyProvider),
    })
    const counted = { ...engine, rle: RowLevelEncryption.fromSpecs(counting, [info('Post').spec!], undefined) }
    const data = Array.from({ length: 5 }, (_, i) => ({ id: `p${i}`, slug: `s${i}`, title: `t${i}`, authorId: 1 }))
    const made = newRows(counted, info('Post'), data, ctxAs())
    expect(made).toBeInstanceOf(Promise)
    const rows = (await made) as Obj[]
    expect(calls.async).toBe(1)
    expect(rows.map((r) => r.id)).toEqual(data.map((d) => d.id))
    for (const [i, r] of rows.entries()) expect(await rle.decryptRow(r, { model: 'Post', tenantId: 'A' })).toMatchObject({ title: `t${i}` })
  })
})

describe('newRow', () => {
  it('binds a new scoped row to the tenant and encrypts it under a fresh key', async () => {
    const engine = engineOf()
    const ctx = ctxAs()
    const row = (await newRow(engine, info('Post'), { id: 'p', slug: 's', title: 'hello', authorId: 1 }, ctx)) as Obj
    expect(row).toMatchObject({ id: 'p', tenantId: 'A', keyVersion: 'v1' })
    expect(await engine.rle.decryptRow(row, { model: 'Post', tenantId: 'A' })).toMatchObject({ title: 'hello' })
    // Its foreign keys are checked once the whole write is encrypted.
    expect(ctx.foreignKeys).toEqual([[info('Post'), row]])
  })

  it('encrypts and binds the scoped rows nested in an unscoped one, and confines what they connect', async () => {
    const engine = engineOf()
    const ctx = ctxAs()
    const team = (await newRow(engine, info('Team'), { name: 't', members: { create: [{ id: 1, name: 'n', email: 'a@x.io' }], connect: { id: 3 } } }, ctx)) as Obj
    const members = team.members as { create: Obj[]; connect: Obj }
    expect(team.name).toBe('t')
    expect(members.connect).toEqual({ id: 3, tenantId: 'A' })
    expect(members.create[0]).toMatchObject({ id: 1, tenantId: 'A' })
    expect(await engine.rle.decryptRow(members.create[0]!, { model: 'User', tenantId: 'A' })).toMatchObject({ email: 'a@x.io' })
    expect(ctx.foreignKeys.map(([i]) => i.name)).toEqual(['User', 'Team'])
  })

  it('refuses nested writes into a scoped model outside a tenant', async () => {
    expect(await rejectionCode(newRow(engineOf(), info('Team'), { name: 't', members: { create: { id: 1, email: 'e' } } }, ctxAs(null)))).toBe(TENANT_MISSING)
  })
})

describe('updatedRow', () => {
  it("encrypts under the row's key, read through `read`, and returns that key as a compare-and-swap condition", async () => {
    const engine = engineOf()
    const stored = await storedRow(engine, 'User', { id: 1, name: 'n', email: 'old' })
    const selects: Obj[] = []
    const read = async (select: Obj) => (selects.push(select), stored)
    const { data, cas } = await updatedRow(engine, info('User'), { email: 'new' }, read, ctxAs(), 'throw')
    expect(selects).toEqual([info('User').plan.requiredSelect])
    expect(cas).toEqual({ wrappedDek: stored.wrappedDek })
    expect(await engine.rle.decryptRow({ ...stored, ...(data as Obj) }, { model: 'User', tenantId: 'A' })).toMatchObject({ email: 'new' })
  })

  it('reads nothing when no encrypted field is written', async () => {
    const read = jest.fn()
    expect(await updatedRow(engineOf(), info('User'), { name: 'm' }, read, ctxAs(), 'throw')).toEqual({ data: { name: 'm' } })
    expect(read).not.toHaveBeenCalled()
  })

  it("with no row there: 'throw' fails, 'guard' drops the encrypted values behind a condition no row meets", async () => {
    const engine = engineOf()
    const none = async () => null
    expect(await rejectionCode(updatedRow(engine, info('User'), { email: 'new' }, none, ctxAs(), 'throw'))).toBe(NOT_FOUND)
    const { data, cas } = await updatedRow(engine, info('User'), { email: 'new', name: 'm' }, none, ctxAs(), 'guard')
    expect(data).toEqual({ name: 'm' })
    expect((cas as Obj).wrappedDek).toBeInstanceOf(Uint8Array)
  })

  it('in migrating mode: encrypts a legacy row on any write; a row without a key outside the legacy set fails before the write', async () => {
    const engine = engineOf(migratingTable)
    const user = migratingTable.get('User')!
    const { data, cas } = await updatedRow(engine, user, { name: 'm' }, async () => keylessUser(1), ctxAs(), 'throw')
    expect(cas).toEqual({ wrappedDek: null })
    expect(await engine.rle.decryptRow({ ...keylessUser(1), ...(data as Obj) }, { model: 'User', tenantId: 'A' })).toMatchObject({ name: 'm', email: 'plain' })
    for (const write of [{ name: 'm' }, { email: 'new' }]) {
      for (const ifMissing of ['throw', 'guard'] as const) {
        expect(await rejectionCode(updatedRow(engine, user, write, async () => keylessUser(2, 'forged'), ctxAs(), ifMissing))).toBe(CIPHERTEXT_FORMAT)
      }
    }
  })

  it('gives an upsert update branch no compare-and-swap', async () => {
    const engine = engineOf()
    const stored = await storedRow(engine, 'User', { id: 1, name: 'n', email: 'old' })
    expect((await updatedRow(engine, info('User'), { email: 'new' }, async () => stored, ctxAs(), 'guard')).cas).toBeUndefined()
  })
})

describe('nested writes', () => {
  it('confine and guard a to-many nested update with the related row key', async () => {
    const engine = engineOf()
    const member = await storedRow(engine, 'User', { id: 3, name: 'n', email: 'old' })
    const io = fakeIO({ readUnique: async () => member })
    const { data } = await updatedRow(engine, info('Team'), { members: { update: { where: { id: 3 }, data: { email: 'new' } } } }, async () => null, ctxAs('A', io), 'throw')
    const update = ((data as Obj).members as Obj).update as Obj
    expect(io.calls[0]!.slice(0, 3)).toEqual(['readUnique', 'User', { id: 3, tenantId: 'A' }])
    expect(update.where).toEqual({ id: 3, tenantId: 'A', AND: [{ wrappedDek: member.wrappedDek }] })
  })

  it('turn a to-one upsert whose relation holds no row of the tenant into a create', async () => {
    const engine = engineOf()
    const others = await storedRow(engine, 'User', { id: 2, name: 'n', email: 'b' }, 'B')
    const readOwner = async () => ({ owner: others })
    const { data } = await updatedRow(engine, info('Team'), { owner: { upsert: { create: { id: 4, name: 'n', email: 'c' }, update: { name: 'm' } } } }, readOwner, ctxAs(), 'throw')
    const owner = (data as Obj).owner as Obj
    expect(Object.keys(owner)).toEqual(['create'])
    expect(owner.create).toMatchObject({ id: 4, tenantId: 'A' })
  })

  it('refuse a nested updateMany that sets encrypted fields, set mixed with connect, and unknown operations', async () => {
    const engine = engineOf()
    const none = async () => null
    expect(await rejectionCode(updatedRow(engine, info('Team'), { members: { updateMany: { where: {}, data: { email: 'x' } } } }, none, ctxAs(), 'throw'))).toBe(UNSUPPORTED)
    expect(await rejectionCode(updatedRow(engine, info('Team'), { members: { set: [{ id: 1 }], connect: { id: 2 } } }, none, ctxAs(), 'throw'))).toBe(UNSUPPORTED)
    expect(await rejectionCode(updatedRow(engine, info('Team'), { members: { frobnicate: {} } }, none, ctxAs(), 'throw'))).toBe(UNSUPPORTED)
  })

  it('confine to-one delete and disconnect of the related row to the tenant', async () => {
    const { data } = await updatedRow(engineOf(), info('Team'), { owner: { disconnect: true }, profile: { delete: true } }, async () => null, ctxAs(), 'throw')
    expect(data).toEqual({ owner: { disconnect: { tenantId: 'A' } }, profile: { delete: { tenantId: 'A' } } })
  })
})
