// Round trips of every supported Prisma operation through rowcrypt, on every database: what the
// application gets back is the plaintext (with exactly the keys it asked for), and what the
// database holds is ciphertext plus filled sidecar columns.
import { withTenant, type KeyProvider, type LocalKeyProvider } from '../../src'
import { Prisma } from '../../generated/sqlite/client/client'
import { DATABASES, openDatabase, type DatabaseKind, type TestDatabase } from '../support/db'
import { extend, testKeyProvider, type Extended } from '../support/setup'

type Row = Record<string, unknown>

const CIPHERTEXT = /^rc1\.A256GCM\.[sjb]\./
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i

/** The encrypted fields of each model, with the type code their ciphertext must carry. */
const ENCRYPTED: Record<'User' | 'Post' | 'Document', Record<string, 's' | 'j' | 'b'>> = {
  User: { email: 's', ssn: 's', notes: 's', prefs: 'j', avatar: 'b' },
  Post: { title: 's', body: 's' },
  Document: { body: 's' },
}
const TENANT_COLUMN = { User: 'tenantId', Post: 'tenantId', Document: 'orgId' } as const

// Distinctive plaintexts, so a leak is found by a substring search of the stored row.
const EMAIL = 'alice.secret@example.com'
const SSN = '123-45-6789'
const NOTES = 'Grüße 🔐 秘密のメモ notes-secret-ü'
const PREFS = {
  theme: 'prefs-secret-theme',
  nested: { list: [1, 'prefs-secret-two', null, { deep: [true, null, 'prefs-secret-deep'] }], none: null },
  empty: [],
  emoji: '🦄',
}
const AVATAR = new Uint8Array([...Buffer.from('AVATAR-SECRET-BYTES'), 0, 255, 1, 128])

/** Needles that must not appear in a stored row, for each plaintext above. */
function needles(...values: unknown[]): string[] {
  const out: string[] = []
  for (const v of values) {
    if (v === null || v === undefined || v === '') continue
    if (v instanceof Uint8Array) {
      const b = Buffer.from(v)
      out.push(b.toString('base64'), b.toString('hex'), 'AVATAR-SECRET-BYTES')
    } else if (typeof v === 'string') {
      out.push(v)
    } else if (typeof v === 'object') {
      out.push(JSON.stringify(v))
      // Every string nested inside a JSON value must be hidden too.
      JSON.stringify(v, (_k, inner) => (typeof inner === 'string' && inner.length >= 4 && out.push(inner), inner))
    }
  }
  return out
}

/** All column values of a stored row as text (bytes in every usual encoding). */
function dump(row: Row): string {
  return Object.values(row)
    .map((v) => {
      if (v instanceof Uint8Array) {
        const b = Buffer.from(v)
        return [b.toString('utf8'), b.toString('latin1'), b.toString('base64'), b.toString('hex')].join('|')
      }
      return typeof v === 'bigint' ? v.toString() : JSON.stringify(v)
    })
    .join('|')
}

/**
 * Reads rows straight from the table and checks they are properly encrypted at rest: no
 * plaintext anywhere, each non-null encrypted value a ciphertext of the right type, and the
 * sidecars filled. Returns the stored rows.
 */
async function expectAtRest(db: TestDatabase, model: 'User' | 'Post' | 'Document', ids: unknown[], tenant: string, plaintexts: unknown[]): Promise<Row[]> {
  expect(ids.length).toBeGreaterThan(0)
  const rows: Row[] = []
  for (const id of ids) {
    const [row] = await db.raw(`SELECT * FROM "${model}" WHERE "id" = $1`, [id])
    expect(row).toBeDefined()
    rows.push(row as Row)
  }
  const forbidden = needles(...plaintexts)
  expect(forbidden.length).toBeGreaterThan(0)
  for (const row of rows) {
    const text = dump(row)
    for (const n of forbidden) expect(text.includes(n)).toBe(false)
    for (const [field, code] of Object.entries(ENCRYPTED[model])) {
      const v = envelopeOf(row[field])
      if (v === null) continue
      expect(typeof v).toBe('string')
      expect(v).toMatch(CIPHERTEXT)
      expect((v as string).split('.')[2]).toBe(code)
    }
    const dek = row.wrappedDek
    expect(dek instanceof Uint8Array).toBe(true)
    expect((dek as Uint8Array).length).toBeGreaterThan(0)
    expect(row.keyVersion).toBe('v1')
    expect(row[TENANT_COLUMN[model]]).toBe(tenant)
  }
  return rows
}

/**
 * The ciphertext envelope a column holds: a String column holds it as it is, a Json column as a JSON
 * string (the driver may give it parsed or as JSON text), a Bytes column as its ASCII bytes.
 */
function envelopeOf(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('latin1')
  return typeof v === 'string' && v.startsWith('"') ? JSON.parse(v) : v
}

const sortedKeys = (o: unknown) => Object.keys(o as Row).sort()
const bytesEqual = (a: unknown, b: Uint8Array) => a instanceof Uint8Array && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0

describe.each(DATABASES)('operations on %s', (kind: DatabaseKind) => {
  let db: TestDatabase
  let prisma: Extended
  let n = 0
  /** A fresh tenant per test, so counts and lists only see that test's rows. */
  const tenant = () => `t_${kind}_${++n}`

  beforeAll(async () => {
    db = await openDatabase(kind, 'operations')
    prisma = extend(db)
  })
  afterAll(async () => {
    await db?.close()
  })

  const fullUser = (extra: Row = {}) => ({
    name: 'Alice',
    email: EMAIL,
    ssn: SSN,
    notes: NOTES,
    prefs: PREFS,
    avatar: AVATAR,
    ...extra,
  })

  async function seedUser(t: string, extra: Row = {}) {
    return withTenant(t, () => prisma.user.create({ data: fullUser(extra) }))
  }

  function expectFullUser(u: Row | null | undefined) {
    expect(u).not.toBeNull()
    expect(u!.email).toBe(EMAIL)
    expect(u!.ssn).toBe(SSN)
    expect(u!.notes).toBe(NOTES)
    expect(u!.prefs).toEqual(PREFS)
    expect(bytesEqual(u!.avatar, AVATAR)).toBe(true)
    // rowcrypt's own columns stay inside unless a call selects them.
    for (const col of ['tenantId', 'wrappedDek', 'keyVersion']) expect(col in u!).toBe(false)
  }

  it('the at-rest check itself catches plaintext, a bad ciphertext type and missing sidecars', async () => {
    const t = tenant()
    const insert = (email: string, dek: Buffer | null, version: string | null) =>
      db.raw(`INSERT INTO "User" ("name", "email", "wrappedDek", "keyVersion", "tenantId") VALUES ($1, $2, $3, $4, $5)`, ['raw', email, dek, version, t])
    await insert(EMAIL, Buffer.from([1, 2, 3]), 'v1')
    await insert('rc1.A256GCM.j.AAAA.BBBB', Buffer.from([1, 2, 3]), 'v1')
    await insert('rc1.A256GCM.s.AAAA.BBBB', null, 'v1')
    const ids = (await db.raw<{ id: number }>(`SELECT "id" FROM "User" WHERE "tenantId" = $1 ORDER BY "id"`, [t])).map((r) => Number(r.id))
    expect(ids).toHaveLength(3)
    for (const id of ids) await expect(expectAtRest(db, 'User', [id], t, [EMAIL])).rejects.toThrow()
  })

  // ---- create ---------------------------------------------------------------------------

  describe('create', () => {
    it('encrypts every marked field, returns plaintext and fills the sidecars', async () => {
      const t = tenant()
      const u = await seedUser(t)
      expectFullUser(u)
      expect(u.name).toBe('Alice')
      await expectAtRest(db, 'User', [u.id], t, [EMAIL, SSN, NOTES, PREFS, AVATAR])
      // The sidecars come back when a call asks for them.
      const shown = await withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id: u.id }, omit: { keyVersion: false, wrappedDek: false, tenantId: false } }))
      expect([shown.keyVersion, shown.wrappedDek instanceof Uint8Array, shown.tenantId]).toEqual(['v1', true, t])
      expect(await withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id: u.id }, select: { keyVersion: true, email: true } }))).toEqual({ keyVersion: 'v1', email: EMAIL })
    })

    it('stores null optional fields as null and an empty string as ciphertext', async () => {
      const t = tenant()
      const u = await withTenant(t, () => prisma.user.create({ data: { name: 'Nully', email: '', ssn: null, notes: null, prefs: Prisma.DbNull, avatar: null } }))
      expect(u.email).toBe('')
      expect(u.ssn).toBeNull()
      expect(u.notes).toBeNull()
      expect(u.prefs).toBeNull()
      expect(u.avatar).toBeNull()
      const [stored] = await expectAtRest(db, 'User', [u.id], t, ['Nully-never-stored'])
      expect(stored!.email).toMatch(CIPHERTEXT)
      expect(stored!.email).not.toBe('')
      for (const f of ['ssn', 'notes', 'prefs', 'avatar']) expect(stored![f]).toBeNull()
      const back = await withTenant(t, () => prisma.user.findUnique({ where: { id: u.id } }))
      expect(back).toMatchObject({ email: '', ssn: null, notes: null, prefs: null, avatar: null })
    })

    it('with select returns exactly the selected keys, decrypted', async () => {
      const t = tenant()
      const u = await withTenant(t, () => prisma.user.create({ data: fullUser(), select: { id: true, email: true, prefs: true, avatar: true } }))
      expect(sortedKeys(u)).toEqual(['avatar', 'email', 'id', 'prefs'])
      expect(u.email).toBe(EMAIL)
      expect(u.prefs).toEqual(PREFS)
      expect(bytesEqual(u.avatar, AVATAR)).toBe(true)
      await expectAtRest(db, 'User', [u.id], t, [EMAIL, SSN, NOTES, PREFS, AVATAR])
    })

    it('with a select of only plain fields returns only those', async () => {
      const t = tenant()
      const u = await withTenant(t, () => prisma.user.create({ data: fullUser(), select: { name: true } }))
      expect(u).toEqual({ name: 'Alice' })
    })

    it('with omit of wrappedDek still decrypts and leaves wrappedDek out', async () => {
      const t = tenant()
      const u = await withTenant(t, () => prisma.user.create({ data: fullUser(), omit: { wrappedDek: true } }))
      expect('wrappedDek' in u).toBe(false)
      expectFullUser(u)
      await expectAtRest(db, 'User', [u.id], t, [EMAIL, SSN, NOTES, PREFS, AVATAR])
    })

    it('generates a uuid for a Post and binds it into the row', async () => {
      const t = tenant()
      const u = await seedUser(t)
      const p = await withTenant(t, () => prisma.post.create({ data: { title: 'Post title secret ✨', body: 'post-body-secret', authorId: u.id } }))
      expect(p.id).toMatch(UUID)
      expect(p.title).toBe('Post title secret ✨')
      expect(p.body).toBe('post-body-secret')
      expect('tenantId' in p).toBe(false)
      await expectAtRest(db, 'Post', [p.id], t, ['Post title secret ✨', 'post-body-secret'])
      const back = await withTenant(t, () => prisma.post.findUnique({ where: { id: p.id } }))
      expect(back).toMatchObject({ id: p.id, title: 'Post title secret ✨', body: 'post-body-secret' })
    })

    it('creates a Post through a connect to its author', async () => {
      const t = tenant()
      const u = await seedUser(t)
      const p = await withTenant(t, () => prisma.post.create({ data: { title: 'connected-title', body: null, author: { connect: { id: u.id } } }, include: { author: true } }))
      expect(p.id).toMatch(UUID)
      expect(p.title).toBe('connected-title')
      expect(p.body).toBeNull()
      expectFullUser(p.author)
      await expectAtRest(db, 'Post', [p.id], t, ['connected-title'])
    })

    it('fills the custom tenant column of a Document and keeps its client-supplied id', async () => {
      const t = tenant()
      const id = `doc-${t}`
      const d = await withTenant(t, () => prisma.document.create({ data: { id, title: 'Plain title', body: 'document-body-secret 📄' }, omit: { orgId: false, keyVersion: false } }))
      expect(d).toMatchObject({ id, title: 'Plain title', body: 'document-body-secret 📄', orgId: t, keyVersion: 'v1' })
      expect(['tenantId' in d, 'wrappedDek' in d]).toEqual([false, false])
      await expectAtRest(db, 'Document', [id], t, ['document-body-secret 📄'])
      const back = await withTenant(t, () => prisma.document.findUnique({ where: { id } }))
      expect(back?.body).toBe('document-body-secret 📄')
    })
  })

  // ---- createMany -----------------------------------------------------------------------

  describe('createMany', () => {
    it('encrypts every row under its own key and reads back', async () => {
      const t = tenant()
      const data = [0, 1, 2].map((i) => ({
        name: `many-${i}`,
        email: `many-${i}-secret@example.com`,
        notes: i === 1 ? null : `many-notes-${i}-secret ☕`,
        prefs: { i, list: [`many-prefs-${i}-secret`, null] },
      }))
      const res = await withTenant(t, () => prisma.user.createMany({ data }))
      expect(res.count).toBe(3)
      const rows = await withTenant(t, () => prisma.user.findMany({ orderBy: { name: 'asc' } }))
      expect(rows.map((r) => r.name)).toEqual(['many-0', 'many-1', 'many-2'])
      rows.forEach((r, i) => {
        expect(r.email).toBe(`many-${i}-secret@example.com`)
        expect(r.notes).toBe(i === 1 ? null : `many-notes-${i}-secret ☕`)
        expect(r.prefs).toEqual({ i, list: [`many-prefs-${i}-secret`, null] })
        expect(r.ssn).toBeNull()
      })
      const stored = await expectAtRest(
        db,
        'User',
        rows.map((r) => r.id),
        t,
        data.flatMap((d) => [d.email, d.notes, d.prefs]),
      )
      // One fresh data key per row.
      const deks = new Set(stored.map((s) => Buffer.from(s.wrappedDek as Uint8Array).toString('hex')))
      expect(deks.size).toBe(3)
    })

    it('generates distinct uuids for Posts created in bulk', async () => {
      const t = tenant()
      const u = await seedUser(t)
      await withTenant(t, () =>
        prisma.post.createMany({
          data: [
            { title: 'bulk-title-a', authorId: u.id },
            { title: 'bulk-title-b', body: 'bulk-body-b', authorId: u.id },
          ],
        }),
      )
      const posts = await withTenant(t, () => prisma.post.findMany({ orderBy: { published: 'asc' } }))
      expect(posts).toHaveLength(2)
      expect(posts.map((p) => p.title).sort()).toEqual(['bulk-title-a', 'bulk-title-b'])
      for (const p of posts) expect(p.id).toMatch(UUID)
      expect(new Set(posts.map((p) => p.id)).size).toBe(2)
      await expectAtRest(
        db,
        'Post',
        posts.map((p) => p.id),
        t,
        ['bulk-title-a', 'bulk-title-b', 'bulk-body-b'],
      )
    })

    it('createManyAndReturn with select returns exactly the selected keys (refused by Prisma on MySQL, writing nothing)', async () => {
      const t = tenant()
      if (kind === 'mysql') {
        await expect(withTenant(t, () => prisma.user.createManyAndReturn({ data: [fullUser({ name: 'cmr-1' })] }))).rejects.toThrow(/createManyAndReturn/)
        expect(await withTenant(t, () => prisma.user.count())).toBe(0)
        return
      }
      const rows = await withTenant(t, () =>
        prisma.user.createManyAndReturn({
          data: [fullUser({ name: 'cmr-1' }), fullUser({ name: 'cmr-2' })],
          select: { id: true, name: true, email: true },
        }),
      )
      expect(rows).toHaveLength(2)
      for (const r of rows) {
        expect(sortedKeys(r)).toEqual(['email', 'id', 'name'])
        expect(r.email).toBe(EMAIL)
      }
      await expectAtRest(
        db,
        'User',
        rows.map((r) => r.id),
        t,
        [EMAIL, SSN, NOTES, PREFS, AVATAR],
      )
    })
  })

  // ---- reads ----------------------------------------------------------------------------

  describe('reads', () => {
    it('findUnique: whole row, select, omit and a row of another tenant', async () => {
      const t = tenant()
      const u = await seedUser(t)
      expectFullUser(await withTenant(t, () => prisma.user.findUnique({ where: { id: u.id } })))

      const sel = await withTenant(t, () => prisma.user.findUnique({ where: { id: u.id }, select: { ssn: true, notes: true } }))
      expect(sel).toEqual({ ssn: SSN, notes: NOTES })

      const om = await withTenant(t, () => prisma.user.findUnique({ where: { id: u.id }, omit: { wrappedDek: true, keyVersion: true, ssn: true } }))
      expect(om).not.toBeNull()
      expect('wrappedDek' in om!).toBe(false)
      expect('keyVersion' in om!).toBe(false)
      expect('ssn' in om!).toBe(false)
      expect(om!.email).toBe(EMAIL)
      expect(om!.prefs).toEqual(PREFS)

      expect(await withTenant(tenant(), () => prisma.user.findUnique({ where: { id: u.id } }))).toBeNull()
    })

    it('omitting every sidecar and a row-bound id still decrypts, without those keys', async () => {
      const t = tenant()
      const u = await seedUser(t)
      await withTenant(t, () => prisma.post.create({ data: { title: 'omit-all-title', body: 'omit-all-body', authorId: u.id } }))
      const gotUser = await withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id: u.id }, omit: { wrappedDek: true, keyVersion: true, tenantId: true, id: true } }))
      expect(sortedKeys(gotUser)).toEqual(['avatar', 'email', 'name', 'notes', 'prefs', 'ssn', 'teamId'])
      expect(gotUser.email).toBe(EMAIL)
      const gotPost = await withTenant(t, () => prisma.post.findMany({ omit: { id: true, wrappedDek: true, keyVersion: true, tenantId: true } }))
      expect(gotPost).toEqual([{ title: 'omit-all-title', body: 'omit-all-body', published: false, authorId: u.id }])
    })

    it('findUniqueOrThrow: decrypts, and throws P2025 for a missing row', async () => {
      const t = tenant()
      const u = await seedUser(t)
      expectFullUser(await withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id: u.id } })))
      const sel = await withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id: u.id }, select: { email: true, avatar: true } }))
      expect(sortedKeys(sel)).toEqual(['avatar', 'email'])
      expect(bytesEqual(sel.avatar, AVATAR)).toBe(true)
      await expect(withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id: u.id + 100000 } }))).rejects.toMatchObject({ code: 'P2025' })
      await expect(withTenant(tenant(), () => prisma.user.findUniqueOrThrow({ where: { id: u.id } }))).rejects.toMatchObject({ code: 'P2025' })
    })

    it('findFirst: filters on plain fields, select and omit', async () => {
      const t = tenant()
      await seedUser(t, { name: 'first-a', email: 'a-secret@example.com' })
      await seedUser(t, { name: 'first-b', email: 'b-secret@example.com' })
      const b = await withTenant(t, () => prisma.user.findFirst({ where: { name: { startsWith: 'first-' } }, orderBy: { name: 'desc' } }))
      expect(b?.name).toBe('first-b')
      expect(b?.email).toBe('b-secret@example.com')
      expect(b?.prefs).toEqual(PREFS)

      const sel = await withTenant(t, () => prisma.user.findFirst({ where: { name: 'first-a' }, select: { email: true, name: true } }))
      expect(sel).toEqual({ email: 'a-secret@example.com', name: 'first-a' })

      const om = await withTenant(t, () => prisma.user.findFirst({ where: { name: 'first-a' }, omit: { wrappedDek: true } }))
      expect('wrappedDek' in om!).toBe(false)
      expect(om!.email).toBe('a-secret@example.com')

      expect(await withTenant(t, () => prisma.user.findFirst({ where: { name: 'nobody' } }))).toBeNull()
    })

    it('findFirstOrThrow: decrypts, and throws P2025 when nothing matches', async () => {
      const t = tenant()
      await seedUser(t, { name: 'fft' })
      const u = await withTenant(t, () => prisma.user.findFirstOrThrow({ where: { name: 'fft' }, select: { id: true, notes: true, prefs: true } }))
      expect(sortedKeys(u)).toEqual(['id', 'notes', 'prefs'])
      expect(u.notes).toBe(NOTES)
      expect(u.prefs).toEqual(PREFS)
      await expect(withTenant(t, () => prisma.user.findFirstOrThrow({ where: { name: 'nobody' } }))).rejects.toMatchObject({ code: 'P2025' })
    })

    it('findMany: only the tenant rows, decrypted, with select, omit, skip/take and distinct on plain fields', async () => {
      const t = tenant()
      const other = tenant()
      for (const i of [1, 2, 3]) await seedUser(t, { name: `fm-${i}`, email: `fm-${i}-secret@example.com` })
      await seedUser(other, { name: 'fm-other' })

      const all = await withTenant(t, () => prisma.user.findMany({ orderBy: { id: 'asc' } }))
      expect(all.map((u) => u.name)).toEqual(['fm-1', 'fm-2', 'fm-3'])
      all.forEach((u, i) => expect(u.email).toBe(`fm-${i + 1}-secret@example.com`))

      const sel = await withTenant(t, () => prisma.user.findMany({ select: { email: true }, orderBy: { id: 'asc' }, skip: 1, take: 1 }))
      expect(sel).toEqual([{ email: 'fm-2-secret@example.com' }])

      const om = await withTenant(t, () => prisma.user.findMany({ omit: { wrappedDek: true }, orderBy: { id: 'asc' } }))
      expect(om).toHaveLength(3)
      for (const u of om) {
        expect('wrappedDek' in u).toBe(false)
        expect(u.notes).toBe(NOTES)
      }

      const dist = await withTenant(t, () => prisma.user.findMany({ distinct: ['tenantId'], select: { tenantId: true, ssn: true } }))
      expect(dist).toEqual([{ tenantId: t, ssn: SSN }])

      const cursor = await withTenant(t, () => prisma.user.findMany({ cursor: { id: all[1]!.id }, orderBy: { id: 'asc' }, select: { name: true, email: true } }))
      expect(cursor).toEqual([
        { name: 'fm-2', email: 'fm-2-secret@example.com' },
        { name: 'fm-3', email: 'fm-3-secret@example.com' },
      ])
    })
  })

  // ---- relations ------------------------------------------------------------------------

  describe('relations', () => {
    async function userWithPosts(t: string) {
      const u = await seedUser(t)
      const a = await withTenant(t, () => prisma.post.create({ data: { title: 'rel-title-a 🌍', body: 'rel-body-a', authorId: u.id } }))
      const b = await withTenant(t, () => prisma.post.create({ data: { title: 'rel-title-b', body: null, authorId: u.id, published: true } }))
      return { u, a, b }
    }

    it('User include posts decrypts the nested rows', async () => {
      const t = tenant()
      const { u, a, b } = await userWithPosts(t)
      const found = await withTenant(t, () => prisma.user.findUnique({ where: { id: u.id }, include: { posts: { orderBy: { published: 'asc' } } } }))
      expectFullUser(found)
      expect(found!.posts.map((p) => [p.id, p.title, p.body, 'tenantId' in p, 'wrappedDek' in p])).toEqual([
        [a.id, 'rel-title-a 🌍', 'rel-body-a', false, false],
        [b.id, 'rel-title-b', null, false, false],
      ])
      const many = await withTenant(t, () => prisma.user.findMany({ include: { posts: true } }))
      expect(many).toHaveLength(1)
      expect(many[0]!.posts.map((p) => p.title).sort()).toEqual(['rel-title-a 🌍', 'rel-title-b'])
    })

    it('Post include author decrypts the parent row', async () => {
      const t = tenant()
      const { a } = await userWithPosts(t)
      const p = await withTenant(t, () => prisma.post.findUniqueOrThrow({ where: { id: a.id }, include: { author: true } }))
      expect(p.title).toBe('rel-title-a 🌍')
      expectFullUser(p.author)
      const sel = await withTenant(t, () => prisma.post.findFirst({ where: { id: a.id }, include: { author: { select: { email: true } } } }))
      expect(sel!.author).toEqual({ email: EMAIL })
      expect(sel!.body).toBe('rel-body-a')
    })

    it('nested select inside include returns exactly the selected keys', async () => {
      const t = tenant()
      const { u } = await userWithPosts(t)
      const got = await withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id: u.id }, include: { posts: { select: { title: true }, where: { published: true } } } }))
      expect(got.posts).toEqual([{ title: 'rel-title-b' }])
      expect(got.ssn).toBe(SSN)

      const sel = await withTenant(t, () =>
        prisma.user.findUniqueOrThrow({ where: { id: u.id }, select: { email: true, posts: { select: { body: true, published: true }, orderBy: { published: 'asc' } } } }),
      )
      expect(sel).toEqual({
        email: EMAIL,
        posts: [
          { body: 'rel-body-a', published: false },
          { body: null, published: true },
        ],
      })
    })

    it('include with omit inside and relation counts', async () => {
      const t = tenant()
      const { u } = await userWithPosts(t)
      const got = await withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id: u.id }, omit: { wrappedDek: true }, include: { posts: { omit: { wrappedDek: true } } } }))
      expect('wrappedDek' in got).toBe(false)
      expect(got.email).toBe(EMAIL)
      for (const p of got.posts) {
        expect('wrappedDek' in p).toBe(false)
        expect(p.title.startsWith('rel-title-')).toBe(true)
      }
      const counted = await withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id: u.id }, select: { email: true, _count: { select: { posts: true } } } }))
      expect(counted).toEqual({ email: EMAIL, _count: { posts: 2 } })
    })
  })

  // ---- update ---------------------------------------------------------------------------

  describe('update', () => {
    it('of a plain field leaves the ciphertext and key untouched', async () => {
      const t = tenant()
      const u = await seedUser(t)
      const [before] = await db.raw(`SELECT * FROM "User" WHERE "id" = $1`, [u.id])
      const r = await withTenant(t, () => prisma.user.update({ where: { id: u.id }, data: { name: 'Renamed' } }))
      expect(r.name).toBe('Renamed')
      expectFullUser(r)
      const [after] = await expectAtRest(db, 'User', [u.id], t, [EMAIL, SSN, NOTES, PREFS, AVATAR])
      expect(after!.email).toBe(before!.email)
      expect(Buffer.compare(Buffer.from(after!.wrappedDek as Uint8Array), Buffer.from(before!.wrappedDek as Uint8Array))).toBe(0)
      expect(after!.name).toBe('Renamed')
    })

    it('of an encrypted field re-encrypts it under the row key', async () => {
      const t = tenant()
      const u = await seedUser(t)
      const [before] = await db.raw(`SELECT * FROM "User" WHERE "id" = $1`, [u.id])
      const r = await withTenant(t, () => prisma.user.update({ where: { id: u.id }, data: { email: 'updated-secret@example.com', notes: '' } }))
      expect(r.email).toBe('updated-secret@example.com')
      expect(r.notes).toBe('')
      expect(r.ssn).toBe(SSN)
      const [after] = await expectAtRest(db, 'User', [u.id], t, ['updated-secret@example.com', EMAIL, SSN, PREFS, AVATAR])
      expect(after!.email).not.toBe(before!.email)
      expect(after!.notes).toMatch(CIPHERTEXT)
      expect(Buffer.compare(Buffer.from(after!.wrappedDek as Uint8Array), Buffer.from(before!.wrappedDek as Uint8Array))).toBe(0)
      const back = await withTenant(t, () => prisma.user.findUnique({ where: { id: u.id } }))
      expect(back).toMatchObject({ email: 'updated-secret@example.com', notes: '', ssn: SSN })
    })

    it('in the { set } form for String and Bytes columns; in a Json column { set } is a JSON value', async () => {
      const t = tenant()
      const u = await seedUser(t)
      const prefs = { set: ['set-secret', { n: null, deep: [[1], []] }] }
      const avatar = new Uint8Array([9, 8, 7, ...Buffer.from('SET-AVATAR-SECRET')])
      const r = await withTenant(t, () => prisma.user.update({ where: { id: u.id }, data: { ssn: { set: '987-65-4321' }, prefs, avatar: { set: avatar } } }))
      expect(r.ssn).toBe('987-65-4321')
      expect(r.prefs).toEqual(prefs)
      expect(bytesEqual(r.avatar, avatar)).toBe(true)
      await expectAtRest(db, 'User', [u.id], t, ['987-65-4321', SSN, prefs.set, 'set-secret', avatar, EMAIL])
      const back = await withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id: u.id } }))
      expect(back.prefs).toEqual(prefs)
      expect(bytesEqual(back.avatar, avatar)).toBe(true)
    })

    it('of a json field with a plain object, array or scalar value (not only { set })', async () => {
      const t = tenant()
      const u = await seedUser(t)
      const values: Prisma.InputJsonValue[] = [
        { plain: 'json-update-secret', list: [null, { x: [] }] },
        { set: 'not-an-operation-secret', other: 1 },
        ['json-array-secret', 2, null],
        'json-string-secret',
        42,
      ]
      for (const value of values) {
        const r = await withTenant(t, () => prisma.user.update({ where: { id: u.id }, data: { prefs: value } }))
        expect(r.prefs).toEqual(value)
        expect(r.email).toBe(EMAIL)
        const back = await withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id: u.id }, select: { prefs: true } }))
        expect(back.prefs).toEqual(value)
        await expectAtRest(db, 'User', [u.id], t, [value, EMAIL])
      }
      const ups = await withTenant(t, () => prisma.user.upsert({ where: { id: u.id }, create: { name: 'x', email: 'x' }, update: { prefs: { viaUpsert: 'upsert-json-secret' } } }))
      expect(ups.prefs).toEqual({ viaUpsert: 'upsert-json-secret' })
      await expectAtRest(db, 'User', [u.id], t, [{ viaUpsert: 'upsert-json-secret' }, 'upsert-json-secret'])
    })

    it('setting encrypted fields to null stores null', async () => {
      const t = tenant()
      const u = await seedUser(t)
      const r = await withTenant(t, () => prisma.user.update({ where: { id: u.id }, data: { ssn: null, notes: { set: null }, prefs: Prisma.DbNull, avatar: { set: null } } }))
      expect(r).toMatchObject({ ssn: null, notes: null, prefs: null, avatar: null, email: EMAIL })
      const [stored] = await expectAtRest(db, 'User', [u.id], t, [EMAIL])
      for (const f of ['ssn', 'notes', 'prefs', 'avatar']) expect(stored![f]).toBeNull()
      expect(stored!.email).toMatch(CIPHERTEXT)
      // A JSON null is written as it is, and reads back as null.
      const j = await withTenant(t, () => prisma.user.update({ where: { id: u.id }, data: { prefs: Prisma.JsonNull } }))
      expect([j.prefs, (await withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id: u.id } }))).prefs]).toEqual([null, null])
    })

    it('with select returns exactly the selected keys', async () => {
      const t = tenant()
      const u = await seedUser(t)
      const r = await withTenant(t, () => prisma.user.update({ where: { id: u.id }, data: { email: 'sel-upd-secret@example.com' }, select: { email: true, ssn: true } }))
      expect(r).toEqual({ email: 'sel-upd-secret@example.com', ssn: SSN })
      const plain = await withTenant(t, () => prisma.user.update({ where: { id: u.id }, data: { name: 'Sel' }, select: { name: true, notes: true } }))
      expect(plain).toEqual({ name: 'Sel', notes: NOTES })
      await expectAtRest(db, 'User', [u.id], t, ['sel-upd-secret@example.com', SSN, NOTES])
    })

    it('with omit of wrappedDek and include of posts', async () => {
      const t = tenant()
      const u = await seedUser(t)
      await withTenant(t, () => prisma.post.create({ data: { title: 'upd-inc-title', authorId: u.id } }))
      const r = await withTenant(t, () =>
        prisma.user.update({ where: { id: u.id }, data: { notes: 'upd-inc-notes-secret' }, omit: { wrappedDek: true }, include: { posts: { select: { title: true } } } }),
      )
      expect('wrappedDek' in r).toBe(false)
      expect(r.notes).toBe('upd-inc-notes-secret')
      expect(r.posts).toEqual([{ title: 'upd-inc-title' }])
      await expectAtRest(db, 'User', [u.id], t, ['upd-inc-notes-secret', EMAIL])
    })

    it('of a Post (row-bound key) and a Document (custom tenant column)', async () => {
      const t = tenant()
      const u = await seedUser(t)
      const p = await withTenant(t, () => prisma.post.create({ data: { title: 'pu-title-old', authorId: u.id } }))
      const p2 = await withTenant(t, () => prisma.post.update({ where: { id: p.id }, data: { title: 'pu-title-new', body: 'pu-body-new', published: true } }))
      expect(p2).toMatchObject({ id: p.id, title: 'pu-title-new', body: 'pu-body-new', published: true })
      await expectAtRest(db, 'Post', [p.id], t, ['pu-title-new', 'pu-body-new', 'pu-title-old'])

      const id = `doc-upd-${t}`
      await withTenant(t, () => prisma.document.create({ data: { id, title: 'T', body: 'doc-old-secret' } }))
      const d = await withTenant(t, () => prisma.document.update({ where: { id }, data: { body: { set: 'doc-new-secret ✓' }, title: 'T2' } }))
      expect(d).toEqual({ id, title: 'T2', body: 'doc-new-secret ✓' })
      await expectAtRest(db, 'Document', [id], t, ['doc-new-secret ✓', 'doc-old-secret'])
    })
  })

  // ---- upsert ---------------------------------------------------------------------------

  describe('upsert', () => {
    it('create branch encrypts the new row', async () => {
      const t = tenant()
      const r = await withTenant(t, () =>
        prisma.user.upsert({
          where: { id: 987654 },
          create: fullUser({ name: 'Upserted' }),
          update: { email: 'never-used-secret@example.com' },
        }),
      )
      expect(r.name).toBe('Upserted')
      expectFullUser(r)
      await expectAtRest(db, 'User', [r.id], t, [EMAIL, SSN, NOTES, PREFS, AVATAR, 'never-used-secret@example.com'])
      const count = await withTenant(t, () => prisma.user.count())
      expect(count).toBe(1)
    })

    it('update branch re-encrypts under the existing row key', async () => {
      const t = tenant()
      const u = await seedUser(t)
      const [before] = await db.raw(`SELECT * FROM "User" WHERE "id" = $1`, [u.id])
      const r = await withTenant(t, () =>
        prisma.user.upsert({
          where: { id: u.id },
          create: { name: 'never', email: 'create-branch-secret@example.com' },
          update: { email: 'upsert-upd-secret@example.com', prefs: { upserted: 'upsert-prefs-secret' } },
          select: { id: true, email: true, prefs: true, ssn: true },
        }),
      )
      expect(r).toEqual({ id: u.id, email: 'upsert-upd-secret@example.com', prefs: { upserted: 'upsert-prefs-secret' }, ssn: SSN })
      const [after] = await expectAtRest(db, 'User', [u.id], t, ['upsert-upd-secret@example.com', 'create-branch-secret@example.com', { upserted: 'upsert-prefs-secret' }, EMAIL])
      expect(Buffer.compare(Buffer.from(after!.wrappedDek as Uint8Array), Buffer.from(before!.wrappedDek as Uint8Array))).toBe(0)
      expect(await withTenant(t, () => prisma.user.count())).toBe(1)
    })

    it('a row that appears between the key read and the write is not re-keyed under it', async () => {
      // The key provider creates the row right when the upsert asks for the create branch's key,
      // which it does after looking for an existing row: the upsert saw no row, but the database
      // now has one.
      const t = tenant()
      const provider = testKeyProvider()
      let pending: (() => Promise<unknown>) | undefined
      let calls = 0
      const racing: KeyProvider = {
        activeKeyVersion: provider.activeKeyVersion,
        generateDataKey: async (ctx) => {
          if (pending !== undefined && ++calls === 1) {
            const run = pending
            pending = undefined
            await run()
          }
          return provider.generateDataKey(ctx)
        },
        wrapDataKey: (k, ctx, v) => provider.wrapDataKey(k, ctx, v),
        unwrapDataKey: (k, v, ctx) => provider.unwrapDataKey(k, v, ctx),
      }
      const racy = extend(db, racing as LocalKeyProvider)
      const id = 900000 + n
      pending = () => withTenant(t, () => racy.user.create({ data: fullUser({ id, name: 'concurrent' }) }))
      await expect(
        withTenant(t, () => racy.user.upsert({ where: { id }, create: { id, name: 'upsert', email: 'race-create-secret' }, update: { email: 'race-update-secret' } })),
      ).rejects.toMatchObject({ code: 'P2002' })
      expect(pending).toBeUndefined()
      // The concurrent row keeps its key and every field still decrypts.
      const back = await withTenant(t, () => prisma.user.findUniqueOrThrow({ where: { id } }))
      expectFullUser(back)
      expect(back.name).toBe('concurrent')
      await expectAtRest(db, 'User', [id], t, [EMAIL, SSN, NOTES, PREFS, AVATAR, 'race-create-secret', 'race-update-secret'])
    })

    it('update branch with only plain fields, and a Document upsert on both branches', async () => {
      const t = tenant()
      const u = await seedUser(t)
      const r = await withTenant(t, () => prisma.user.upsert({ where: { id: u.id }, create: { name: 'x', email: 'x' }, update: { name: 'plain-upsert' }, omit: { wrappedDek: true } }))
      expect(r.name).toBe('plain-upsert')
      expect('wrappedDek' in r).toBe(false)
      expectFullUser(r)

      const id = `doc-ups-${t}`
      const created = await withTenant(t, () => prisma.document.upsert({ where: { id }, create: { id, title: 'a', body: 'doc-ups-create-secret' }, update: { body: 'doc-ups-update-secret' } }))
      expect(created).toEqual({ id, title: 'a', body: 'doc-ups-create-secret' })
      await expectAtRest(db, 'Document', [id], t, ['doc-ups-create-secret', 'doc-ups-update-secret'])
      const updated = await withTenant(t, () => prisma.document.upsert({ where: { id }, create: { id, title: 'a', body: 'doc-ups-create-secret' }, update: { body: 'doc-ups-update-secret' } }))
      expect(updated).toEqual({ id, title: 'a', body: 'doc-ups-update-secret' })
      await expectAtRest(db, 'Document', [id], t, ['doc-ups-create-secret', 'doc-ups-update-secret'])
    })
  })

  // ---- delete ---------------------------------------------------------------------------

  describe('delete', () => {
    it('returns the decrypted row, with select, and removes it', async () => {
      const t = tenant()
      const u1 = await seedUser(t)
      const u2 = await seedUser(t)
      const d1 = await withTenant(t, () => prisma.user.delete({ where: { id: u1.id } }))
      expectFullUser(d1)
      const d2 = await withTenant(t, () => prisma.user.delete({ where: { id: u2.id }, select: { email: true, prefs: true } }))
      expect(d2).toEqual({ email: EMAIL, prefs: PREFS })
      const left = await db.raw(`SELECT "id" FROM "User" WHERE "id" = $1 OR "id" = $2`, [u1.id, u2.id])
      expect(left).toHaveLength(0)
    })

    it('of another tenant row fails with P2025 and keeps the row', async () => {
      const t = tenant()
      const u = await seedUser(t)
      await expect(withTenant(tenant(), () => prisma.user.delete({ where: { id: u.id } }))).rejects.toMatchObject({ code: 'P2025' })
      expect(await db.raw(`SELECT "id" FROM "User" WHERE "id" = $1`, [u.id])).toHaveLength(1)
    })

    it('of a Document with omit', async () => {
      const t = tenant()
      const id = `doc-del-${t}`
      await withTenant(t, () => prisma.document.create({ data: { id, title: 'd', body: 'doc-del-secret' } }))
      const d = await withTenant(t, () => prisma.document.delete({ where: { id }, omit: { wrappedDek: true, orgId: false } }))
      expect(d).toMatchObject({ id, body: 'doc-del-secret', orgId: t })
      expect('wrappedDek' in d).toBe(false)
      expect(await db.raw(`SELECT "id" FROM "Document" WHERE "id" = $1`, [id])).toHaveLength(0)
    })
  })

  // ---- count, deleteMany, updateMany ----------------------------------------------------

  describe('bulk', () => {
    it('count counts only the tenant rows, with and without select', async () => {
      const t = tenant()
      await seedUser(t, { name: 'c1' })
      await seedUser(t, { name: 'c2', ssn: null, notes: null })
      await seedUser(tenant(), { name: 'c-other' })
      expect(await withTenant(t, () => prisma.user.count())).toBe(2)
      expect(await withTenant(t, () => prisma.user.count({ where: { name: 'c1' } }))).toBe(1)
      const sel = await withTenant(t, () => prisma.user.count({ select: { _all: true, ssn: true, name: true } }))
      expect(sel).toEqual({ _all: 2, ssn: 1, name: 2 })
      expect(await withTenant(tenant(), () => prisma.user.count())).toBe(0)
    })

    it('deleteMany deletes only matching rows of the tenant', async () => {
      const t = tenant()
      const other = tenant()
      await seedUser(t, { name: 'dm-del' })
      await seedUser(t, { name: 'dm-del' })
      const keep = await seedUser(t, { name: 'dm-keep' })
      const foreign = await seedUser(other, { name: 'dm-del' })
      const res = await withTenant(t, () => prisma.user.deleteMany({ where: { name: 'dm-del' } }))
      expect(res.count).toBe(2)
      const left = await withTenant(t, () => prisma.user.findMany())
      expect(left.map((u) => u.id)).toEqual([keep.id])
      expect(left[0]!.email).toBe(EMAIL)
      expect(await db.raw(`SELECT "id" FROM "User" WHERE "id" = $1`, [foreign.id])).toHaveLength(1)
      const all = await withTenant(t, () => prisma.user.deleteMany())
      expect(all.count).toBe(1)
      expect(await db.raw(`SELECT "id" FROM "User" WHERE "id" = $1`, [foreign.id])).toHaveLength(1)
    })

    it('updateMany of a plain field keeps rows decryptable and encrypted', async () => {
      const t = tenant()
      const other = tenant()
      const a = await seedUser(t, { name: 'um' })
      const b = await seedUser(t, { name: 'um' })
      const foreign = await seedUser(other, { name: 'um' })
      const res = await withTenant(t, () => prisma.user.updateMany({ where: { name: 'um' }, data: { name: 'um-done' } }))
      expect(res.count).toBe(2)
      const rows = await withTenant(t, () => prisma.user.findMany({ orderBy: { id: 'asc' } }))
      expect(rows.map((r) => [r.id, r.name])).toEqual([
        [a.id, 'um-done'],
        [b.id, 'um-done'],
      ])
      for (const r of rows) expectFullUser(r)
      await expectAtRest(db, 'User', [a.id, b.id], t, [EMAIL, SSN, NOTES, PREFS, AVATAR])
      const [f] = await db.raw(`SELECT "name" FROM "User" WHERE "id" = $1`, [foreign.id])
      expect(f!.name).toBe('um')
    })

    it('updateManyAndReturn of a plain field returns decrypted rows with the selected keys (refused by Prisma on MySQL)', async () => {
      const t = tenant()
      await seedUser(t, { name: 'umr' })
      if (kind === 'mysql') {
        await expect(withTenant(t, () => prisma.user.updateManyAndReturn({ where: { name: 'umr' }, data: { name: 'umr-done' } }))).rejects.toThrow(/updateManyAndReturn/)
        expect(await withTenant(t, () => prisma.user.count({ where: { name: 'umr' } }))).toBe(1)
        return
      }
      const rows = await withTenant(t, () => prisma.user.updateManyAndReturn({ where: { name: 'umr' }, data: { name: 'umr-done' }, select: { name: true, email: true } }))
      expect(rows).toEqual([{ name: 'umr-done', email: EMAIL }])
    })
  })
})
