// Row binding of ids that Prisma generates on the client (cuid, cuid(2), ulid, nanoid, nanoid(n),
// uuid(7)): rowcrypt makes the id before the insert, in Prisma's format, and binds the row's key and
// ciphertexts to it. Whoever can write the database copies one row's encrypted columns and sidecars
// onto another row of the same tenant: reading that row must fail, on every database and for every
// kind of write that creates rows. `requireRowBinding` refuses models whose rows cannot be bound.
import { rowcrypt, withTenant } from '../../src'
import { openDatabase, type TestDatabase } from '../support/db'
import { extend, testKeyProvider } from '../support/setup'

const DECRYPTION_FAILED = 'ERR_ROWCRYPT_DECRYPTION_FAILED'

// The formats of Prisma 7's generators (each also checked against a plain client below).
const KINDS = [
  { model: 'IdCuid', delegate: 'idCuid', format: /^c[0-9a-z]{24}$/ },
  { model: 'IdCuid2', delegate: 'idCuid2', format: /^[a-z][0-9a-z]{23}$/ },
  { model: 'IdUlid', delegate: 'idUlid', format: /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/ },
  { model: 'IdNanoid', delegate: 'idNanoid', format: /^[A-Za-z0-9_-]{21}$/ },
  { model: 'IdNanoid10', delegate: 'idNanoid10', format: /^[A-Za-z0-9_-]{10}$/ },
  { model: 'IdUuid7', delegate: 'idUuid7', format: /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/ },
] as const
type Model = (typeof KINDS)[number]['model']

interface Row {
  id: string
  secret: string
  note: string | null
}
/** The part of a generated delegate these tests use; every id model has the same columns. */
interface Delegate {
  create(args: { data: Record<string, unknown> }): Promise<Row>
  createMany(args: { data: Array<Record<string, unknown>> }): Promise<{ count: number }>
  createManyAndReturn(args: { data: Array<Record<string, unknown>> }): Promise<Row[]>
  upsert(args: { where: { id: string }; create: Record<string, unknown>; update: Record<string, unknown> }): Promise<Row>
  findUnique(args: { where: { id: string } }): Promise<Row | null>
  findMany(args: { where?: Record<string, unknown>; orderBy?: Record<string, string> }): Promise<Row[]>
}

const ID_MODELS = Object.fromEntries(KINDS.map((k) => [k.model, { fields: ['secret', 'note'] }])) as Record<Model, { fields: ['secret', 'note'] }>

describe.each(['sqlite', 'postgres', 'mysql'] as const)('row binding of client-generated ids (%s)', (kind) => {
  let db: TestDatabase
  let prisma: ReturnType<typeof bound>
  let tenantCounter = 0
  const newTenant = () => `binding_${++tenantCounter}`

  const bound = (d: TestDatabase) => d.prisma.$extends(rowcrypt({ schema: d.manifest, keyProvider: testKeyProvider(), requireRowBinding: true, models: ID_MODELS }))
  const delegate = (name: string, client: unknown = prisma): Delegate => (client as Record<string, Delegate>)[name]!

  beforeAll(async () => {
    db = await openDatabase(kind, 'binding')
    prisma = bound(db)
  })
  afterAll(async () => {
    await db.close()
  })

  /** The stored encrypted columns and sidecars of a row. */
  async function storedRow(table: string, id: string | number): Promise<Record<string, unknown>> {
    const cols = table === 'User' ? '"email", "ssn", "wrappedDek", "keyVersion"' : '"secret", "note", "wrappedDek", "keyVersion"'
    const rows = await db.raw(`SELECT ${cols} FROM "${table}" WHERE "id" = $1`, [id])
    expect(rows).toHaveLength(1)
    return rows[0]!
  }

  /** Copies row `from`'s encrypted columns, wrapped key and key version onto row `to`, as someone with write access to the database could. */
  async function copyRow(table: string, from: string | number, to: string | number): Promise<void> {
    const src = await storedRow(table, from)
    const cols = Object.keys(src)
    const values = cols.map((c) => (src[c] instanceof Uint8Array ? Buffer.from(src[c] as Uint8Array) : src[c]))
    await db.raw(`UPDATE "${table}" SET ${cols.map((c, i) => `"${c}" = $${i + 1}`).join(', ')} WHERE "id" = $${cols.length + 1}`, [...values, to])
    expect(await storedRow(table, to)).toEqual(await storedRow(table, from))
  }

  /** Row `b` of `model`, overwritten with row `a`'s encrypted columns and sidecars, fails to decrypt; `a` still reads. */
  async function expectBound(model: string, delegateName: string, tenantId: string, a: Row, b: Row): Promise<void> {
    // The wrapped key's header says the row id is part of its binding context.
    const stored = (await storedRow(model, a.id)).wrappedDek as Uint8Array
    expect(stored[1]).toBe(0x01)
    await copyRow(model, a.id, b.id)
    const d = delegate(delegateName)
    await expect(withTenant(tenantId, () => d.findUnique({ where: { id: b.id } }))).rejects.toMatchObject({ code: DECRYPTION_FAILED })
    await expect(withTenant(tenantId, () => d.findMany({ where: { id: { in: [b.id] } } }))).rejects.toMatchObject({ code: DECRYPTION_FAILED })
    expect(await withTenant(tenantId, () => d.findUnique({ where: { id: a.id } }))).toMatchObject({ id: a.id, secret: a.secret, note: a.note })
  }

  describe.each(KINDS)('$model', ({ model, delegate: name, format }) => {
    it('create: makes the id in Prisma’s format and binds the row to it', async () => {
      const t = newTenant()
      const d = delegate(name)
      const a = await withTenant(t, () => d.create({ data: { secret: `${model} alpha`, note: 'first' } }))
      const b = await withTenant(t, () => d.create({ data: { secret: `${model} beta`, note: 'second' } }))
      expect(a.id).toMatch(format)
      expect(b.id).toMatch(format)
      expect(a.id).not.toBe(b.id)
      expect(a).toMatchObject({ secret: `${model} alpha`, note: 'first' })
      await expectBound(model, name, t, a, b)
    })

    it('gives ids of the format and length a plain Prisma client gives on the same model', async () => {
      const plain = await delegate(name, db.prisma).create({ data: { secret: 'not encrypted' } })
      const ours = await withTenant(newTenant(), () => delegate(name).create({ data: { secret: 'encrypted' } }))
      expect(plain.id).toMatch(format)
      expect(ours.id).toMatch(format)
      expect(ours.id).toHaveLength(plain.id.length)
    })
  })

  it('createMany: every row gets its own generated id and is bound to it', async () => {
    const t = newTenant()
    const d = delegate('idCuid2')
    expect(await withTenant(t, () => d.createMany({ data: [{ secret: 'many one' }, { secret: 'many two' }] }))).toEqual({ count: 2 })
    // Encrypted fields cannot be sorted on in the database: sorted here.
    const rows = (await withTenant(t, () => d.findMany({}))).sort((x, y) => x.secret.localeCompare(y.secret))
    expect(rows.map((r) => r.secret)).toEqual(['many one', 'many two'])
    for (const r of rows) expect(r.id).toMatch(KINDS[1].format)
    await expectBound('IdCuid2', 'idCuid2', t, rows[0]!, rows[1]!)
  })

  if (kind !== 'mysql') {
    // Prisma has no createManyAndReturn on MySQL.
    it('createManyAndReturn: the returned rows carry the generated ids they are bound to', async () => {
      const t = newTenant()
      const d = delegate('idNanoid')
      const [a, b] = await withTenant(t, () => d.createManyAndReturn({ data: [{ secret: 'cmr one' }, { secret: 'cmr two', note: 'n' }] }))
      expect([a!.id, b!.id].every((id) => /^[A-Za-z0-9_-]{21}$/.test(id))).toBe(true)
      expect([a, b].map((r) => r!.secret)).toEqual(['cmr one', 'cmr two'])
      await expectBound('IdNanoid', 'idNanoid', t, a!, b!)
    })
  }

  it("upsert's create: the new row gets a generated id and is bound to it", async () => {
    const t = newTenant()
    const d = delegate('idUlid')
    const a = await withTenant(t, () => d.upsert({ where: { id: 'no-such-row-a' }, create: { secret: 'upserted a' }, update: {} }))
    const b = await withTenant(t, () => d.upsert({ where: { id: 'no-such-row-b' }, create: { secret: 'upserted b' }, update: {} }))
    expect(a.id).toMatch(KINDS[2].format)
    expect(b.id).toMatch(KINDS[2].format)
    await expectBound('IdUlid', 'idUlid', t, a, b)
  })

  it('nested create and createMany: related rows get generated ids and are bound to them', async () => {
    const t = newTenant()
    const parent = await withTenant(t, () =>
      prisma.idCuid2.create({ data: { secret: 'parent', children: { create: [{ secret: 'child one' }, { secret: 'child two' }] } }, include: { children: true } }),
    )
    const [one, two] = parent.children.sort((x, y) => x.secret.localeCompare(y.secret))
    expect([one?.secret, two?.secret]).toEqual(['child one', 'child two'])
    for (const c of parent.children) expect(c.id).toMatch(KINDS[2].format)
    await withTenant(t, () => prisma.idCuid2.update({ where: { id: parent.id }, data: { children: { createMany: { data: [{ secret: 'child three' }] } } } }))
    const [three, ...more] = await withTenant(t, () => prisma.idUlid.findMany({ where: { parentId: parent.id, id: { notIn: [one!.id, two!.id] } } }))
    expect(more).toEqual([])
    expect(three).toMatchObject({ secret: 'child three' })
    expect(three!.id).toMatch(KINDS[2].format)
    await expectBound('IdUlid', 'idUlid', t, three!, one!)
    await expectBound('IdUlid', 'idUlid', t, two!, three!)
  })

  it('keeps an id the create gives, and binds the row to it', async () => {
    const t = newTenant()
    const d = delegate('idCuid')
    const a = await withTenant(t, () => d.create({ data: { id: 'given-a', secret: 'given a' } }))
    const b = await withTenant(t, () => d.create({ data: { id: 'given-b', secret: 'given b' } }))
    expect([a.id, b.id]).toEqual(['given-a', 'given-b'])
    await expectBound('IdCuid', 'idCuid', t, a, b)
  })

  it('$rowcrypt() tells how each model is bound', () => {
    const models = prisma.$rowcrypt().models
    expect(Object.fromEntries(KINDS.map((k) => [k.model, models[k.model]?.rowBinding]))).toEqual(Object.fromEntries(KINDS.map((k) => [k.model, 'generated'])))
    const unbound = db.prisma.$extends(
      rowcrypt({ schema: db.manifest, keyProvider: testKeyProvider(), models: { User: { fields: ['email'] }, Document: { fields: ['body'], columns: { tenantId: 'orgId' } } } }),
    )
    expect(unbound.$rowcrypt().models.User?.rowBinding).toBe('unbound')
    expect(unbound.$rowcrypt().models.Document?.rowBinding).toBe('supplied')
  })

  it('requireRowBinding refuses an autoincrement model at rowcrypt(), and takes a per-model exemption', () => {
    const options = { schema: db.manifest, keyProvider: testKeyProvider(), requireRowBinding: true }
    let error: unknown
    try {
      rowcrypt({ ...options, models: { ...ID_MODELS, User: { fields: ['email'] } } })
    } catch (e) {
      error = e
    }
    expect(error).toMatchObject({ name: 'ConfigError', code: 'ERR_ROWCRYPT_CONFIG' })
    expect((error as Error).message).toMatch(/model User .*autoincrement.*uuid\(7\).*cuid\(2\)/)
    expect(() => rowcrypt({ ...options, models: { ...ID_MODELS, User: { fields: ['email'], requireRowBinding: false } } })).not.toThrow()
  })

  it('requireRowBinding refuses a create that leaves an id without a default to the database', async () => {
    const strict = db.prisma.$extends(
      rowcrypt({ schema: db.manifest, keyProvider: testKeyProvider(), requireRowBinding: true, models: { Document: { fields: ['body'], columns: { tenantId: 'orgId' } } } }),
    )
    const data = { title: 'no id', body: 'secret body' } as { id: string; title: string; body: string }
    await expect(withTenant(newTenant(), () => strict.document.create({ data }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_UNSUPPORTED_QUERY' })
    expect(await db.raw('SELECT "id" FROM "Document" WHERE "title" = $1', ['no id'])).toEqual([])
  })

  it('without binding (an autoincrement id left to the database), a copied row reads as the other row: what requireRowBinding rules out', async () => {
    const t = newTenant()
    const unbound = extend(db)
    const a = await withTenant(t, () => unbound.user.create({ data: { name: 'a', email: 'a@unbound.example', ssn: 'ssn-a' } }))
    const b = await withTenant(t, () => unbound.user.create({ data: { name: 'b', email: 'b@unbound.example', ssn: 'ssn-b' } }))
    expect(((await storedRow('User', a.id)).wrappedDek as Uint8Array)[1]).toBe(0x00)
    await copyRow('User', a.id, b.id)
    expect(await withTenant(t, () => unbound.user.findUnique({ where: { id: b.id }, select: { email: true, ssn: true } }))).toEqual({ email: 'a@unbound.example', ssn: 'ssn-a' })
  })
})
