// Tampering at rest: whoever can write the database but holds no key must not be able to make a
// row read as anything else. Every edit below is made with raw SQL on the stored row; each read
// through the extension must then fail with ERR_ROWCRYPT_DECRYPTION_FAILED, the error must carry
// no plaintext, ciphertext or key bytes, and the failure must stay local to the tampered row.
import { randomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import { LocalKeyProvider, withTenant, type BindingContext, type GeneratedDataKey } from '../../src'
import { DATABASES, openDatabase, type TestDatabase } from '../support/db'
import { extend, TEST_KEYS, type Extended } from '../support/setup'

type Row = Record<string, unknown>

/** The test key provider, recording a copy of every data key it hands out (to check errors for them). */
class RecordingKeyProvider extends LocalKeyProvider {
  readonly dataKeys: Buffer[] = []

  constructor() {
    super({ keys: TEST_KEYS, activeVersion: 'v1' })
  }

  override async generateDataKey(context: BindingContext): Promise<GeneratedDataKey> {
    const dk = await super.generateDataKey(context)
    this.dataKeys.push(Buffer.from(dk.plaintextKey))
    return dk
  }

  override async unwrapDataKey(wrappedKey: Uint8Array, keyVersion: string, context: BindingContext): Promise<Uint8Array> {
    const key = await super.unwrapDataKey(wrappedKey, keyVersion, context)
    this.dataKeys.push(Buffer.from(key))
    return key
  }
}

const DECRYPTION_FAILED = 'ERR_ROWCRYPT_DECRYPTION_FAILED'
const USER_FIELDS = ['email', 'ssn', 'notes', 'prefs', 'avatar'] as const

// User's encrypted fields in a Json and a Bytes column: their ciphertext is stored as a JSON string
// and as the envelope's bytes.
const TYPED_COLUMNS = { prefs: 'json', avatar: 'bytes' } as const

/** The envelope text of a stored value (the driver may give a Json column parsed or as JSON text). */
function envelopeOf(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('latin1')
  return typeof v === 'string' && v.startsWith('"') ? JSON.parse(v) : v
}

/** An envelope text (or anything else) as a Json or Bytes column stores it. */
function columnValue(kind: 'json' | 'bytes', v: unknown): unknown {
  if (typeof v !== 'string') return v
  return kind === 'json' ? JSON.stringify(v) : Buffer.from(v, 'latin1')
}

function bytesForms(b: Uint8Array): string[] {
  const buf = Buffer.from(b)
  const hex = buf.toString('hex')
  return [hex, hex.match(/../g)!.join(' '), buf.toString('base64'), buf.toString('base64url')]
}

/** Flips one byte of the IV (part 3) or of the ciphertext+tag (part 4) of a stored ciphertext string. */
function flipCiphertext(stored: unknown, part: 'iv' | 'body', index: number): string {
  expect(typeof stored).toBe('string')
  const parts = (stored as string).split('.')
  expect(parts).toHaveLength(5)
  const i = part === 'iv' ? 3 : 4
  const bytes = Buffer.from(parts[i]!, 'base64url')
  const at = index < 0 ? bytes.length + index : index
  bytes[at] = bytes[at]! ^ 0x01
  parts[i] = bytes.toString('base64url')
  const out = parts.join('.')
  expect(out).not.toBe(stored)
  return out
}

function flipByte(stored: unknown, index: number, mask = 0x80): Buffer {
  expect(stored).toBeInstanceOf(Uint8Array)
  const bytes = Buffer.from(stored as Uint8Array)
  const at = index < 0 ? bytes.length + index : index
  bytes[at] = bytes[at]! ^ mask
  return bytes
}

describe.each(DATABASES)('tampering at rest (%s)', (kind) => {
  let db: TestDatabase
  let keys: RecordingKeyProvider
  let prisma: Extended
  let tenantCounter = 0
  /** Everything that must never appear in an error: plaintexts, stored ciphertexts, key material. */
  const secrets = new Set<string>()

  beforeAll(async () => {
    db = await openDatabase(kind, 'tamper')
    keys = new RecordingKeyProvider()
    prisma = extend(db, keys)
  })
  afterAll(async () => {
    await db.close()
  })

  const newTenant = (label: string) => `tamper_${label}_${++tenantCounter}`
  const secret = (label: string) => {
    const s = `${label}-${randomBytes(6).toString('hex')}`
    secrets.add(s)
    return s
  }

  async function seedUser(tenantId: string) {
    const plain = {
      name: 'visible name',
      email: `${secret('email')}@secret.example`,
      ssn: secret('ssn'),
      notes: secret('notes'),
      prefs: { theme: secret('prefs') },
      avatar: new Uint8Array(randomBytes(24)),
    }
    secrets.add(plain.prefs.theme)
    for (const f of bytesForms(plain.avatar)) secrets.add(f)
    const created = await withTenant(tenantId, () => prisma.user.create({ data: plain }))
    await rememberStored('User', created.id)
    return { id: created.id, tenantId, plain }
  }

  async function seedPost(tenantId: string, authorId: number) {
    const plain = { title: secret('title'), body: secret('body') }
    const created = await withTenant(tenantId, () => prisma.post.create({ data: { ...plain, authorId } }))
    await rememberStored('Post', created.id)
    return { id: created.id, tenantId, plain }
  }

  /** A stored row, with the ciphertexts of the Json and Bytes columns as envelope text. */
  async function stored(table: 'User' | 'Post' | 'Document', id: unknown): Promise<Row> {
    const rows = await db.raw(`SELECT * FROM "${table}" WHERE "id" = $1`, [id])
    expect(rows).toHaveLength(1)
    const row = rows[0]!
    if (table === 'User') for (const col of Object.keys(TYPED_COLUMNS)) row[col] = envelopeOf(row[col])
    return row
  }

  /** Adds the stored ciphertexts and wrapped key of a row to the secrets. */
  async function rememberStored(table: 'User' | 'Post' | 'Document', id: unknown): Promise<Row> {
    const row = await stored(table, id)
    for (const [col, v] of Object.entries(row)) {
      if (typeof v === 'string' && v.startsWith('rc1.')) {
        secrets.add(v)
        const [, , , iv, body] = v.split('.')
        secrets.add(iv!)
        secrets.add(body!)
      } else if (col === 'wrappedDek') {
        expect(v).toBeInstanceOf(Uint8Array)
        for (const f of bytesForms(v as Uint8Array)) secrets.add(f)
        for (const f of bytesForms((v as Uint8Array).subarray(2))) secrets.add(f)
      }
    }
    return row
  }

  async function setColumns(table: 'User' | 'Post' | 'Document', id: unknown, values: Row): Promise<void> {
    const cols = Object.keys(values)
    const sets = cols.map((c, i) => `"${c}" = $${i + 1}`).join(', ')
    const column = (c: string) => (table === 'User' && Object.hasOwn(TYPED_COLUMNS, c) ? columnValue(TYPED_COLUMNS[c as keyof typeof TYPED_COLUMNS], values[c]) : values[c])
    await db.raw(`UPDATE "${table}" SET ${sets} WHERE "id" = $${cols.length + 1}`, [...cols.map(column), id])
    await rememberStored(table, id)
  }

  /** All strings reachable from the error (own properties, cause chain) plus its inspected form. */
  function describeError(e: unknown): { text: string; binaries: number; chain: unknown[] } {
    const strings: string[] = []
    const seen = new Set<unknown>()
    let binaries = 0
    const walk = (v: unknown, depth: number): void => {
      if (v === null || v === undefined || depth > 12) return
      if (typeof v === 'string') return void strings.push(v)
      if (typeof v !== 'object' && typeof v !== 'function') return void strings.push(String(v))
      if (seen.has(v)) return
      seen.add(v)
      if (v instanceof Uint8Array || v instanceof ArrayBuffer) return void binaries++
      for (const k of Object.getOwnPropertyNames(v)) walk((v as Row)[k], depth + 1)
    }
    walk(e, 0)
    const chain: unknown[] = []
    for (let c: unknown = e; c !== undefined && c !== null && chain.length < 20; c = (c as { cause?: unknown }).cause) chain.push(c)
    strings.push(inspect(e, { depth: 20, showHidden: true }))
    for (const c of chain) strings.push(String(c))
    return { text: strings.join('\n'), binaries, chain }
  }

  function leakedSecrets(text: string): string[] {
    const keyForms = [
      ...Object.values(TEST_KEYS),
      ...Object.values(TEST_KEYS).flatMap((k) => bytesForms(/^[0-9a-f]{64}$/.test(k) ? Buffer.from(k, 'hex') : Buffer.from(k, 'base64'))),
      ...keys.dataKeys.flatMap((k) => bytesForms(k)),
    ]
    expect(keys.dataKeys.length).toBeGreaterThan(0)
    return [...secrets, ...keyForms].filter((s) => text.includes(s))
  }

  function expectNoSecrets(e: unknown): void {
    const { text, binaries, chain } = describeError(e)
    expect(binaries).toBe(0)
    expect(leakedSecrets(text)).toEqual([])
    // Nothing in the chain is a non-rowcrypt error whose text could come from a crypto library.
    for (const c of chain) expect((c as { code?: unknown }).code).toBe(DECRYPTION_FAILED)
  }

  /** The read rejects with ERR_ROWCRYPT_DECRYPTION_FAILED and leaks nothing. */
  async function expectDecryptionFailure(read: () => PromiseLike<unknown>, where?: { model: string; rowId: unknown }): Promise<void> {
    let error: unknown
    try {
      await read()
    } catch (e) {
      error = e
    }
    expect(error).toBeDefined()
    expect((error as { code?: unknown }).code).toBe(DECRYPTION_FAILED)
    if (where !== undefined) {
      expect((error as Row).model).toBe(where.model)
      expect((error as Row).rowId).toBe(String(where.rowId))
    }
    expectNoSecrets(error)
  }

  /** Reads of the row fail; `field` is the tampered field (undefined when the row's key was tampered). */
  async function expectUserFails(u: { id: number; tenantId: string }, field?: (typeof USER_FIELDS)[number]): Promise<void> {
    const selected = field ?? 'email'
    const omitted = USER_FIELDS.find((f) => f !== selected)!
    await expectDecryptionFailure(() => withTenant(u.tenantId, () => prisma.user.findUnique({ where: { id: u.id } })), { model: 'User', rowId: u.id })
    await expectDecryptionFailure(() => withTenant(u.tenantId, () => prisma.user.findUniqueOrThrow({ where: { id: u.id }, select: { [selected]: true } })))
    await expectDecryptionFailure(() => withTenant(u.tenantId, () => prisma.user.findFirst({ where: { id: u.id }, omit: { [omitted]: true } })))
    // A list containing the row fails as a whole.
    await expectDecryptionFailure(() => withTenant(u.tenantId, () => prisma.user.findMany()))
  }

  async function expectUserReads(u: { id: number; tenantId: string; plain: Row }): Promise<void> {
    const row = await withTenant(u.tenantId, () => prisma.user.findUnique({ where: { id: u.id } }))
    expect(row).not.toBeNull()
    for (const f of USER_FIELDS) expect(row![f]).toEqual(u.plain[f])
    expect('tenantId' in row!).toBe(false)
  }

  /** The other rows of the table still read, one by one and together. */
  async function expectOthersRead(tampered: number[], others: Array<{ id: number; tenantId: string; plain: Row }>): Promise<void> {
    for (const u of others) await expectUserReads(u)
    for (const tenantId of new Set(others.map((o) => o.tenantId))) {
      const mine = others.filter((o) => o.tenantId === tenantId)
      const rows = await withTenant(tenantId, () => prisma.user.findMany({ where: { id: { notIn: tampered } }, orderBy: { id: 'asc' } }))
      expect(rows.map((r) => r.id)).toEqual(mine.map((m) => m.id).sort((a, b) => a - b))
      for (const r of rows) expect(r.email).toBe(mine.find((m) => m.id === r.id)!.plain.email)
    }
  }

  describe('field ciphertext', () => {
    it.each([
      ['a ciphertext byte', 'body', 0],
      ['a tag byte', 'body', -1],
      ['an IV byte', 'iv', 0],
      ['the last IV byte', 'iv', -1],
    ] as const)('flipping %s of one field fails that row only', async (_label, part, index) => {
      const t = newTenant('flip')
      const victim = await seedUser(t)
      const other = await seedUser(t)
      const before = await stored('User', victim.id)
      await setColumns('User', victim.id, { ssn: flipCiphertext(before.ssn, part, index) })
      await expectUserFails(victim, 'ssn')
      // Only the tampered field is unreadable; a selection without it still decrypts.
      const rest = await withTenant(t, () => prisma.user.findUnique({ where: { id: victim.id }, select: { email: true, notes: true } }))
      expect(rest).toEqual({ email: victim.plain.email, notes: victim.plain.notes })
      await expectOthersRead([victim.id], [other])
    })

    it('flipping a byte of a JSON and of a bytes field fails the row', async () => {
      const t = newTenant('flipjson')
      const a = await seedUser(t)
      const b = await seedUser(t)
      const other = await seedUser(t)
      await setColumns('User', a.id, { prefs: flipCiphertext((await stored('User', a.id)).prefs, 'body', 3) })
      await setColumns('User', b.id, { avatar: flipCiphertext((await stored('User', b.id)).avatar, 'body', 5) })
      await expectUserFails(a, 'prefs')
      await expectUserFails(b, 'avatar')
      await expectOthersRead([a.id, b.id], [other])
    })

    it('changing the value type code of a ciphertext fails the row', async () => {
      const t = newTenant('type')
      const victim = await seedUser(t)
      const other = await seedUser(t)
      const ssn = (await stored('User', victim.id)).ssn as string
      expect(ssn.startsWith('rc1.A256GCM.s.')).toBe(true)
      await setColumns('User', victim.id, { ssn: ssn.replace('rc1.A256GCM.s.', 'rc1.A256GCM.j.') })
      await expectUserFails(victim, 'ssn')
      await expectOthersRead([victim.id], [other])
    })

    it('swapping two fields of the same row (email <-> ssn, notes <-> prefs) fails', async () => {
      const t = newTenant('swapfield')
      const a = await seedUser(t)
      const b = await seedUser(t)
      const other = await seedUser(t)
      const sa = await stored('User', a.id)
      await setColumns('User', a.id, { email: sa.ssn, ssn: sa.email })
      const sb = await stored('User', b.id)
      await setColumns('User', b.id, { notes: sb.prefs, prefs: sb.notes })
      await expectUserFails(a, 'email')
      await expectUserFails(a, 'ssn')
      await expectUserFails(b, 'notes')
      await expectUserFails(b, 'prefs')
      await expectOthersRead([a.id, b.id], [other])
    })

    it('swapping the same field between two rows of one tenant fails both', async () => {
      const t = newTenant('swaprow')
      const a = await seedUser(t)
      const b = await seedUser(t)
      const other = await seedUser(t)
      const [sa, sb] = [await stored('User', a.id), await stored('User', b.id)]
      await setColumns('User', a.id, { email: sb.email })
      await setColumns('User', b.id, { email: sa.email })
      await expectUserFails(a)
      await expectUserFails(b)
      await expectOthersRead([a.id, b.id], [other])
    })

    it('copying a field from a row of another tenant fails', async () => {
      const ta = newTenant('xa')
      const tb = newTenant('xb')
      const a = await seedUser(ta)
      const b = await seedUser(tb)
      const otherB = await seedUser(tb)
      await setColumns('User', b.id, { email: (await stored('User', a.id)).email })
      await expectUserFails(b)
      await expectOthersRead([b.id], [a, otherB])
    })
  })

  describe('wrapped data key', () => {
    it.each([
      ['the provider IV', 2],
      ['the wrapped key bytes', 2 + 12 + 5],
      ['the provider tag', -1],
    ] as const)('flipping a byte of %s fails the row', async (_label, index) => {
      const t = newTenant('dek')
      const victim = await seedUser(t)
      const other = await seedUser(t)
      const tampered = flipByte((await stored('User', victim.id)).wrappedDek, index)
      await setColumns('User', victim.id, { wrappedDek: tampered })
      expect(Buffer.from((await stored('User', victim.id)).wrappedDek as Uint8Array).equals(tampered)).toBe(true)
      await expectUserFails(victim)
      await expectOthersRead([victim.id], [other])
    })

    it('flipping the row-binding flag fails the row (User and Post)', async () => {
      const t = newTenant('flag')
      const victim = await seedUser(t)
      const other = await seedUser(t)
      const post = await seedPost(t, other.id)
      const otherPost = await seedPost(t, other.id)
      await setColumns('User', victim.id, { wrappedDek: flipByte((await stored('User', victim.id)).wrappedDek, 1, 0x01) })
      await setColumns('Post', post.id, { wrappedDek: flipByte((await stored('Post', post.id)).wrappedDek, 1, 0x01) })
      await expectUserFails(victim)
      await expectDecryptionFailure(() => withTenant(t, () => prisma.post.findUnique({ where: { id: post.id } })), { model: 'Post', rowId: post.id })
      const fine = await withTenant(t, () => prisma.post.findUnique({ where: { id: otherPost.id } }))
      expect(fine).toMatchObject(otherPost.plain)
      await expectOthersRead([victim.id], [other])
    })

    it('swapping wrappedDek and keyVersion between two rows of one tenant fails both', async () => {
      const t = newTenant('dekswap')
      const a = await seedUser(t)
      const b = await seedUser(t)
      const other = await seedUser(t)
      const [sa, sb] = [await stored('User', a.id), await stored('User', b.id)]
      await setColumns('User', a.id, { wrappedDek: sb.wrappedDek, keyVersion: sb.keyVersion })
      await setColumns('User', b.id, { wrappedDek: sa.wrappedDek, keyVersion: sa.keyVersion })
      await expectUserFails(a)
      await expectUserFails(b)
      await expectOthersRead([a.id, b.id], [other])
    })

    it('swapping wrappedDek and keyVersion between two tenants fails both', async () => {
      const ta = newTenant('deka')
      const tb = newTenant('dekb')
      const a = await seedUser(ta)
      const b = await seedUser(tb)
      const otherA = await seedUser(ta)
      const otherB = await seedUser(tb)
      const [sa, sb] = [await stored('User', a.id), await stored('User', b.id)]
      await setColumns('User', a.id, { wrappedDek: sb.wrappedDek, keyVersion: sb.keyVersion })
      await setColumns('User', b.id, { wrappedDek: sa.wrappedDek, keyVersion: sa.keyVersion })
      await expectUserFails(a)
      await expectUserFails(b)
      await expectOthersRead([a.id, b.id], [otherA, otherB])
    })

    it("changing keyVersion to another known version ('v2') fails the row", async () => {
      const t = newTenant('kv')
      const victim = await seedUser(t)
      const other = await seedUser(t)
      expect((await stored('User', victim.id)).keyVersion).toBe('v1')
      await setColumns('User', victim.id, { keyVersion: 'v2' })
      await expectUserFails(victim)
      await expectOthersRead([victim.id], [other])
    })

    it('moving a row to another tenant (raw tenantId change) fails under the new tenant', async () => {
      const ta = newTenant('mova')
      const tb = newTenant('movb')
      const victim = await seedUser(ta)
      const otherA = await seedUser(ta)
      const otherB = await seedUser(tb)
      await setColumns('User', victim.id, { tenantId: tb })
      await expectUserFails({ id: victim.id, tenantId: tb })
      expect(await withTenant(ta, () => prisma.user.findUnique({ where: { id: victim.id } }))).toBeNull()
      await expectOthersRead([victim.id], [otherA, otherB])
    })
  })

  describe('whole rows', () => {
    it('copying all crypto material of one post into another post of the same tenant fails', async () => {
      const t = newTenant('post')
      const author = await seedUser(t)
      const source = await seedPost(t, author.id)
      const target = await seedPost(t, author.id)
      const control = await seedPost(t, author.id)
      const s = await stored('Post', source.id)
      await setColumns('Post', target.id, { title: s.title, body: s.body, wrappedDek: s.wrappedDek, keyVersion: s.keyVersion })
      const copied = await stored('Post', target.id)
      for (const c of ['title', 'body', 'keyVersion', 'tenantId']) expect(copied[c]).toEqual(s[c])
      expect(Buffer.from(copied.wrappedDek as Uint8Array).equals(Buffer.from(s.wrappedDek as Uint8Array))).toBe(true)

      await expectDecryptionFailure(() => withTenant(t, () => prisma.post.findUnique({ where: { id: target.id } })), { model: 'Post', rowId: target.id })
      await expectDecryptionFailure(() => withTenant(t, () => prisma.post.findMany()))
      await expectDecryptionFailure(() => withTenant(t, () => prisma.user.findUnique({ where: { id: author.id }, include: { posts: true } })))
      await expectDecryptionFailure(() => withTenant(t, () => prisma.post.findFirst({ where: { id: target.id }, select: { title: true } })))

      // The source and the control post still read, alone and together.
      for (const p of [source, control]) {
        expect(await withTenant(t, () => prisma.post.findUnique({ where: { id: p.id } }))).toMatchObject(p.plain)
      }
      const rest = await withTenant(t, () => prisma.post.findMany({ where: { id: { not: target.id } } }))
      expect(rest.map((r) => r.title).sort()).toEqual([source.plain.title, control.plain.title].sort())
      await expectUserReads(author)
    })

    it('copying all crypto material of one document into another of the same org fails', async () => {
      const t = newTenant('doc')
      const mk = async (id: string) => {
        const body = secret('docbody')
        await withTenant(t, () => prisma.document.create({ data: { id, title: 'plain title', body } }))
        await rememberStored('Document', id)
        return { id, body }
      }
      const source = await mk(`doc-src-${tenantCounter}`)
      const target = await mk(`doc-dst-${tenantCounter}`)
      const s = await stored('Document', source.id)
      await setColumns('Document', target.id, { body: s.body, wrappedDek: s.wrappedDek, keyVersion: s.keyVersion })
      await expectDecryptionFailure(() => withTenant(t, () => prisma.document.findUnique({ where: { id: target.id } })), { model: 'Document', rowId: target.id })
      expect(await withTenant(t, () => prisma.document.findUnique({ where: { id: source.id }, omit: { orgId: false } }))).toMatchObject({ body: source.body, orgId: t })
    })
  })

  it('the leak check finds plaintext, ciphertext and key bytes anywhere in an error chain', async () => {
    // Guards the checks above against passing vacuously.
    const t = newTenant('meta')
    const u = await seedUser(t)
    const raw = await stored('User', u.id)
    const dataKey = keys.dataKeys[keys.dataKeys.length - 1]!
    const cases: unknown[] = [
      new Error(`oops ${u.plain.ssn}`),
      new Error('outer', { cause: new Error(String(raw.email)) }),
      Object.assign(new Error('outer'), { detail: { key: dataKey.toString('base64') } }),
      new Error('outer', { cause: Object.assign(new Error('inner'), { hex: dataKey.toString('hex') }) }),
      new Error(`wrapped ${Buffer.from(raw.wrappedDek as Uint8Array).toString('hex')}`),
      new Error(`json ${JSON.stringify(u.plain.prefs)}`),
    ]
    for (const e of cases) expect(leakedSecrets(describeError(e).text)).not.toEqual([])
    expect(describeError(Object.assign(new Error('x'), { key: dataKey })).binaries).toBe(1)
    for (const f of USER_FIELDS) expect(String(raw[f]).startsWith('rc1.A256GCM.')).toBe(true)
  })
})
