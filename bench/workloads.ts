// The bench's workloads, as plain functions over a `Target` (one per variant: plain Prisma,
// rowcrypt with LocalKeyProvider, rowcrypt with a KMS provider). Shared by bench/run.ts and by
// test/integration/bench-smoke.test.ts, which runs them on tiny sizes.
import { createCipheriv, createDecipheriv, randomBytes, randomFillSync, type Cipher } from 'node:crypto'
import { withTenant } from '../src'
import { RowLevelEncryption } from '../src/fields/row'
import type { ModelSpec } from '../src/fields/spec'
import type { KeyProvider } from '../src'
import type { PfeClient } from './pfe'
import type { NoopClient, PrismaClient, RowcryptClient } from './setup'
import { ENCRYPTED_FIELDS } from './setup'

/** What a workload writes: the four encrypted fields and one plain column. */
export interface CustomerInput {
  email: string
  name: string
  ssn: string
  notes: string
  seq: number
}

/** A row as the application sees it (plaintext for rowcrypt, which decrypts it). */
export interface CustomerRow extends CustomerInput {
  id: string
  wrappedDek: Uint8Array | null
  keyVersion: string | null
  tenantId: string
}

/**
 * One variant under test. Each method is one application call, made the way an application would:
 * plain Prisma names the tenant in its filters itself; rowcrypt runs inside `withTenant` (one per
 * call, like one per request) and adds the tenant filter, encryption and decryption.
 */
export interface Target {
  readonly name: string
  create(tenant: string, data: CustomerInput): Promise<CustomerRow>
  createMany(tenant: string, data: CustomerInput[]): Promise<number>
  findMany(tenant: string): Promise<CustomerRow[]>
  findUnique(tenant: string, id: string): Promise<CustomerRow | null>
  update(tenant: string, id: string, name: string): Promise<CustomerRow>
}

/** Plain Prisma 7 on the same table: plaintext values, sidecars left null, the tenant filtered by hand. */
export function plainTarget(base: PrismaClient, name = 'plain'): Target {
  const c = base.customer
  return {
    name,
    create: (tenantId, data) => c.create({ data: { ...data, tenantId } }),
    createMany: async (tenantId, data) => (await c.createMany({ data: data.map((d) => ({ ...d, tenantId })) })).count,
    findMany: (tenantId) => c.findMany({ where: { tenantId } }),
    findUnique: (tenantId, id) => c.findUnique({ where: { id, tenantId } }),
    update: (tenantId, id, name) => c.update({ where: { id, tenantId }, data: { name } }),
  }
}

/**
 * prisma-field-encryption 1.6 (`bench/pfe.ts`): the same calls as plain Prisma (it has no notion of
 * a tenant, so the tenant is filtered by hand), the four values encrypted under its one static key.
 */
export function pfeTarget(client: PfeClient): Target {
  // Its client is generated from a schema of the same table (prisma-client-js): the same delegate shape.
  return plainTarget(client as unknown as PrismaClient, 'pfe')
}

/**
 * Plain Prisma through a pass-through query extension (`$allOperations` returning `query(args)`),
 * inside `withTenant` like rowcrypt: what any query extension costs before it does any work.
 */
export function noopExtensionTarget(client: NoopClient): Target {
  const c = client.customer
  return {
    name: 'noop-ext',
    create: (tenantId, data) => withTenant(tenantId, () => c.create({ data: { ...data, tenantId } })),
    createMany: async (tenantId, data) => (await withTenant(tenantId, () => c.createMany({ data: data.map((d) => ({ ...d, tenantId })) }))).count,
    findMany: (tenantId) => withTenant(tenantId, () => c.findMany({ where: { tenantId } })),
    findUnique: (tenantId, id) => withTenant(tenantId, () => c.findUnique({ where: { id, tenantId } })),
    update: (tenantId, id, name) => withTenant(tenantId, () => c.update({ where: { id, tenantId }, data: { name } })),
  }
}

/** rowcrypt: the same calls without any tenant handling, inside `withTenant`. */
export function rowcryptTarget(name: string, client: RowcryptClient): Target {
  const c = client.customer
  return {
    name,
    create: (t, data) => withTenant(t, () => c.create({ data })),
    createMany: async (t, data) => (await withTenant(t, () => c.createMany({ data }))).count,
    findMany: (t) => withTenant(t, () => c.findMany()),
    findUnique: (t, id) => withTenant(t, () => c.findUnique({ where: { id } })),
    update: (t, id, name) => withTenant(t, () => c.update({ where: { id }, data: { name } })),
  }
}

/**
 * The bound: the least any extension storing these four values with AES-256-GCM under a per-row
 * key can cost here. A pass-through query extension (noop-ext's) inside `withTenant`, doing with raw
 * `node:crypto` only the cryptography such a design cannot avoid, and storing values of exactly
 * rowcrypt's size (same header length, base64url IV and ciphertext + tag, a 75-byte wrapped key):
 *
 * - create: a 32-byte key from the CSPRNG, its wrap under a key-encryption key (a key derived for
 *   the wrap's 192-bit nonce with two AES blocks, then one GCM seal: the least a wrap costs when one
 *   key-encryption key must wrap an unbounded number of data keys, as XAES-256-GCM does), four GCM
 *   seals; the caller's plaintext is handed back (no decryption of the returned row).
 * - createMany: the same per row.
 * - findMany / findUnique: per row, one unwrap and four GCM opens (base64url and UTF-8 decoding).
 * - update of one field: one unwrap (the wrapped key is known from an earlier read, as rowcrypt's
 *   is), one seal, then the returned row's other three values opened.
 *
 * What it leaves out, so it stays a bound and not a competitor: no binding of values to the model,
 * field, tenant or row (one fixed AAD), no key versions, no format checks, no tenant checks on
 * results, no compare-and-swap on updates, no zeroing of keys, no error handling.
 *
 * `cas: true` (the bench's `bound-cas`) adds one of those back: the update's where also names the
 * wrapped key it encrypted under, so that it matches nothing once rotation has re-keyed the row. A
 * per-row-key design that re-keys rows in place while the application writes needs such a
 * condition (or a lock) on every update of an encrypted field; rowcrypt's is this one.
 */
export function boundTarget(client: NoopClient, kek: Buffer = BOUND_KEK, options: { cas?: boolean } = {}): Target {
  const c = client.customer
  const known = new Map<string, Uint8Array>()
  const open = (row: CustomerRow | null, skip?: string): CustomerRow | null => {
    if (row === null) return null
    const key = boundUnwrap(kek, row.wrappedDek!)
    const r = row as unknown as Record<string, unknown>
    for (const f of ENCRYPTED_FIELDS) if (f !== skip) r[f] = boundOpen(key, r[f] as string)
    known.set(row.id, row.wrappedDek!)
    return row
  }
  const encrypt = (tenantId: string, data: CustomerInput): BoundRow => {
    const key = randomFillSync(Buffer.alloc(32))
    return {
      ...data,
      email: boundSeal(key, data.email),
      name: boundSeal(key, data.name),
      ssn: boundSeal(key, data.ssn),
      notes: boundSeal(key, data.notes),
      wrappedDek: boundWrap(kek, key),
      keyVersion: 'v1',
      tenantId,
    }
  }
  return {
    name: 'bound',
    ...boundReadsAndCreates(c, encrypt, open),
    update: (tenantId, id, name) =>
      withTenant(tenantId, async () => {
        let wrapped = known.get(id)
        if (wrapped === undefined) wrapped = (await c.findUniqueOrThrow({ where: { id, tenantId }, select: { wrappedDek: true } })).wrappedDek!
        // With `cas`, the update matches only while the row still has that wrapped key.
        const where: { id: string; tenantId: string; wrappedDek?: Uint8Array<ArrayBuffer> } = { id, tenantId }
        if (options.cas === true) where.wrappedDek = wrapped as Uint8Array<ArrayBuffer>
        const row = await c.update({ where, data: { name: boundSeal(boundUnwrap(kek, wrapped), name) } })
        return Object.assign(open(row, 'name')!, { name })
      }),
  }
}

/**
 * The bound of a different design, for comparison only: all four values of a row in ONE AES-256-GCM
 * message (a per-row format, which rowcrypt does not use), each column holding its slice of the
 * ciphertext and the email column also the IV and tag. Same key per row, same wrap, same
 * extension. Reads need one GCM operation per row instead of four; but every update of one field
 * must read the row and re-encrypt all four values (two statements), and a read of one field must
 * fetch all four.
 */
export function boundRowTarget(client: NoopClient, kek: Buffer = BOUND_KEK): Target {
  const c = client.customer
  const open = (row: CustomerRow | null): CustomerRow | null => {
    if (row === null) return null
    const key = boundUnwrap(kek, row.wrappedDek!)
    const r = row as unknown as Record<string, unknown>
    const email = r.email as string
    const ivEnd = email.indexOf('.', BOUND_ROW_HEADER.length)
    const tagEnd = email.indexOf('.', ivEnd + 1)
    const slices = ENCRYPTED_FIELDS.map((f) => Buffer.from(f === 'email' ? email.slice(tagEnd + 1) : (r[f] as string).slice(BOUND_ROW_HEADER.length), 'base64url'))
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(email.slice(BOUND_ROW_HEADER.length, ivEnd), 'base64url'))
    d.setAAD(BOUND_AAD)
    d.setAuthTag(Buffer.from(email.slice(ivEnd + 1, tagEnd), 'base64url'))
    const plain = d.update(Buffer.concat(slices))
    d.final()
    let at = 0
    ENCRYPTED_FIELDS.forEach((f, i) => {
      r[f] = plain.toString('utf8', at, at + slices[i]!.length)
      at += slices[i]!.length
    })
    return row
  }
  const encrypt = (tenantId: string, data: CustomerInput, wrapped?: { key: Buffer; wrappedDek: Uint8Array<ArrayBuffer> }): BoundRow => {
    const key = wrapped?.key ?? randomFillSync(Buffer.alloc(32))
    const parts = ENCRYPTED_FIELDS.map((f) => Buffer.from(data[f], 'utf8'))
    const iv = boundIv()
    const e = createCipheriv('aes-256-gcm', key, iv)
    e.setAAD(BOUND_AAD)
    const ct = e.update(Buffer.concat(parts))
    e.final()
    const out: Record<string, string> = {}
    let at = 0
    ENCRYPTED_FIELDS.forEach((f, i) => {
      const slice = ct.toString('base64url', at, at + parts[i]!.length)
      at += parts[i]!.length
      out[f] = f === 'email' ? `${BOUND_ROW_HEADER}${iv.toString('base64url')}.${e.getAuthTag().toString('base64url')}.${slice}` : `${BOUND_ROW_HEADER}${slice}`
    })
    return { ...data, ...out, wrappedDek: wrapped?.wrappedDek ?? boundWrap(kek, key), keyVersion: 'v1', tenantId }
  }
  return {
    name: 'bound-row',
    ...boundReadsAndCreates(c, encrypt, open),
    update: (tenantId, id, name) =>
      withTenant(tenantId, async () => {
        // The other three values are needed to re-encrypt the row: read it first.
        const current = open(await c.findUniqueOrThrow({ where: { id, tenantId } }))!
        const wrappedDek = new Uint8Array(current.wrappedDek!)
        const data = encrypt(tenantId, { ...current, name }, { key: boundUnwrap(kek, wrappedDek), wrappedDek })
        const row = await c.update({ where: { id, tenantId }, data: { email: data.email, name: data.name, ssn: data.ssn, notes: data.notes } })
        return Object.assign(row, { email: current.email, name, ssn: current.ssn, notes: current.notes })
      }),
  }
}

/** The columns that bind a stored row's data key, as rowcrypt reads them. */
interface Sidecars {
  id: string
  wrappedDek: Uint8Array | null
  keyVersion: string | null
  tenantId: string
}

/**
 * rowcrypt's own cryptography without its query engine: rows are written and read through rowcrypt
 * (`rc`), and an update goes through a bare query hook on `base` that does only what rowcrypt's
 * update must do, with rowcrypt's `RowLevelEncryption` (the same formats and binding): unwrap the
 * row's key, encrypt the new value, update under the compare-and-swap condition, decrypt the
 * returned row's other values; a findUnique only decrypts the row it reads. No walk or check of the
 * call, no confinement beyond the where the caller gives, no retry. rowcrypt / this is what
 * rowcrypt's query engine adds.
 */
/** What `rowcrypt-core` does to a row it reads: its key unwrapped, its values decrypted in place, the key zeroed. */
export function coreDecrypt(rle: RowLevelEncryption, spec: ModelSpec, row: Record<string, unknown>, tenantId: string): Record<string, unknown> {
  const key = rle.openRowKeySync(spec, row, tenantId)!
  try {
    return key.decryptInto(row, row)
  } finally {
    key.dispose()
  }
}

export function rowcryptCoreTarget(rc: Target, base: PrismaClient, rle: RowLevelEncryption): Target {
  const spec = rle.spec('Customer')
  const field = (name: string) => spec.fields.get(name)!
  // The sidecars of the rows this instance has read or written (a new instance knows none).
  const known = new Map<string, Sidecars>()
  const select = { id: true, wrappedDek: true, keyVersion: true, tenantId: true } as const
  const hooked = base.$extends({
    name: 'bench-rowcrypt-core',
    query: {
      customer: {
        findUnique({ args, query }) {
          const { tenantId } = args.where as { tenantId: string }
          return query(args).then((r) => (r === null ? r : (coreDecrypt(rle, spec, r as unknown as Record<string, unknown>, tenantId) as unknown as typeof r)))
        },
        update({ args, query }) {
          const { id, tenantId } = args.where as { id: string; tenantId: string }
          const row = known.get(id)!
          const name = (args.data as { name: string }).name
          const key = rle.openRowKeySync(spec, row as unknown as Record<string, unknown>, tenantId)!
          let sent: Promise<Record<string, unknown>>
          try {
            const where = { id, tenantId, wrappedDek: row.wrappedDek as Uint8Array<ArrayBuffer> }
            sent = query({ where, data: { name: key.encryptValue(field('name'), name) as string } }) as Promise<Record<string, unknown>>
          } catch (e) {
            key.dispose()
            throw e
          }
          return sent.then(
            (r) => {
              try {
                for (const f of ['email', 'ssn', 'notes']) r[f] = key.decryptValue(field(f), r[f])
                r.name = name
                return r as never
              } finally {
                key.dispose()
              }
            },
            (e: unknown) => {
              key.dispose()
              throw e
            },
          )
        },
      },
    },
  })
  return {
    ...rc,
    name: 'rowcrypt-core',
    findMany: async (tenantId) => {
      const rows = await rc.findMany(tenantId)
      for (const r of await base.customer.findMany({ where: { tenantId }, select })) known.set(r.id, r)
      return rows
    },
    findUnique: (tenantId, id) => withTenant(tenantId, async () => (await hooked.customer.findUnique({ where: { id, tenantId } })) as unknown as CustomerRow | null),
    update: (tenantId, id, name) =>
      withTenant(tenantId, async () => {
        // A row this instance has not read: its sidecars first, as rowcrypt's and the bound's cold updates do.
        if (!known.has(id)) known.set(id, await base.customer.findUniqueOrThrow({ where: { id, tenantId }, select }))
        return (await hooked.customer.update({ where: { id, tenantId }, data: { name } })) as unknown as CustomerRow
      }),
  }
}

const BOUND_ROW_HEADER = 'bnr.A256GCM.s.'

/**
 * The bounds' key-encryption key, one per process: every instance of a bound (a new one per
 * repetition for the cold workloads) reads the rows the others wrote, as instances of rowcrypt share
 * their master key.
 */
export const BOUND_KEK = randomBytes(32)

/** A row as the bounds store it: the values encrypted, the wrapped key and the tenant. */
type BoundRow = CustomerInput & { wrappedDek: Uint8Array<ArrayBuffer>; keyVersion: string; tenantId: string }

/** The methods both bounds share: rows written as `encrypt` makes them, read back through `open`. */
function boundReadsAndCreates(
  c: NoopClient['customer'],
  encrypt: (tenantId: string, data: CustomerInput) => BoundRow,
  open: (row: CustomerRow | null) => CustomerRow | null,
): Omit<Target, 'name' | 'update'> {
  return {
    create: (tenantId, data) =>
      withTenant(tenantId, async () => Object.assign(await c.create({ data: encrypt(tenantId, data) }), { email: data.email, name: data.name, ssn: data.ssn, notes: data.notes })),
    createMany: async (tenantId, data) => (await withTenant(tenantId, () => c.createMany({ data: data.map((d) => encrypt(tenantId, d)) }))).count,
    findMany: (tenantId) => withTenant(tenantId, async () => (await c.findMany({ where: { tenantId } })).map((r) => open(r)!)),
    findUnique: (tenantId, id) => withTenant(tenantId, async () => open(await c.findUnique({ where: { id, tenantId } }))),
  }
}

// As long as rowcrypt's header (`rc1.A256GCM.s.`): the bound's values match rowcrypt's in size.
const BOUND_HEADER = 'bnd.A256GCM.s.'
// About the size of the binding context rowcrypt authenticates with every value.
const BOUND_AAD = Buffer.alloc(100, 0x61)
let boundIvs = Buffer.alloc(0)
let boundIvAt = 0

// IVs cut from a CSPRNG pool, as rowcrypt does (IVs are not secret).
function boundIv(): Buffer {
  if (boundIvAt + 12 > boundIvs.length) {
    boundIvs = randomFillSync(Buffer.allocUnsafe(12 * 341))
    boundIvAt = 0
  }
  boundIvAt += 12
  return boundIvs.subarray(boundIvAt - 12, boundIvAt)
}

export function boundSeal(key: Buffer, value: string): string {
  const iv = boundIv()
  const c = createCipheriv('aes-256-gcm', key, iv)
  c.setAAD(BOUND_AAD)
  const ct = c.update(value, 'utf8')
  c.final()
  return `${BOUND_HEADER}${iv.toString('base64url')}.${Buffer.concat([ct, c.getAuthTag()]).toString('base64url')}`
}

export function boundOpen(key: Buffer, value: string): string {
  const dot = value.indexOf('.', BOUND_HEADER.length)
  const body = Buffer.from(value.slice(dot + 1), 'base64url')
  const d = createDecipheriv('aes-256-gcm', key, Buffer.from(value.slice(BOUND_HEADER.length, dot), 'base64url'))
  d.setAAD(BOUND_AAD)
  d.setAuthTag(body.subarray(body.length - 16))
  const out = d.update(body.subarray(0, body.length - 16))
  d.final()
  return out.toString('utf8')
}

// The key-encryption key's block cipher, kept (ECB has no state between blocks): deriving a wrap's
// key is one call on it, as in rowcrypt's XAES-256-GCM.
const boundEcbs = new WeakMap<Buffer, Cipher>()
function boundWrapKey(kek: Buffer, nonce: Buffer): Buffer {
  let ecb = boundEcbs.get(kek)
  if (ecb === undefined) {
    ecb = createCipheriv('aes-256-ecb', kek, null).setAutoPadding(false)
    boundEcbs.set(kek, ecb)
  }
  const m = Buffer.alloc(32)
  nonce.copy(m, 4, 0, 12)
  nonce.copy(m, 20, 0, 12)
  m[1] = 1
  m[17] = 2
  return ecb.update(m)
}

export function boundWrap(kek: Buffer, key: Buffer): Uint8Array<ArrayBuffer> {
  const nonce = Buffer.concat([boundIv(), boundIv()])
  const c = createCipheriv('aes-256-gcm', boundWrapKey(kek, nonce), nonce.subarray(12))
  c.setAAD(BOUND_AAD)
  return new Uint8Array(Buffer.concat([Buffer.from([1, 0, 4]), nonce, c.update(key), c.final(), c.getAuthTag()]))
}

export function boundUnwrap(kek: Buffer, wrapped: Uint8Array): Buffer {
  const w = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength)
  const nonce = w.subarray(3, 27)
  const d = createDecipheriv('aes-256-gcm', boundWrapKey(kek, nonce), nonce.subarray(12))
  d.setAAD(BOUND_AAD)
  d.setAuthTag(w.subarray(59, 75))
  const key = d.update(w.subarray(27, 59))
  d.final()
  return key
}

// ---- data ------------------------------------------------------------------------------------

/** A deterministic pseudo-random generator, so every run writes the same values. */
function prng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const WORDS = [
  'account',
  'called',
  'about',
  'invoice',
  'renewal',
  'delivery',
  'address',
  'changed',
  'payment',
  'pending',
  'support',
  'ticket',
  'escalated',
  'customer',
  'prefers',
  'email',
  'contact',
  'morning',
  'refund',
  'issued',
  'warranty',
  'claim',
  'approved',
  'note',
]

/** `n` rows of the bench's data: short email, name and ssn, and a 1,024-character notes text. */
export function makeInputs(n: number, seed = 1): CustomerInput[] {
  const rnd = prng(seed)
  const out: CustomerInput[] = []
  for (let i = 0; i < n; i++) {
    let notes = ''
    while (notes.length < 1024) notes += WORDS[Math.floor(rnd() * WORDS.length)] + (rnd() < 0.1 ? '. ' : ' ')
    const digits = String(Math.floor(rnd() * 1e9)).padStart(9, '0')
    out.push({
      email: `customer.${seed}.${i}@example.com`,
      name: `Customer ${i} Name${Math.floor(rnd() * 1e6)}`,
      ssn: `${digits.slice(0, 3)}-${digits.slice(3, 5)}-${digits.slice(5, 9)}`,
      notes: notes.slice(0, 1024),
      seq: i,
    })
  }
  return out
}

// ---- workloads -------------------------------------------------------------------------------

/** What one repetition of a workload gets. */
export interface Fixture {
  /** The tenant to work in: a fresh one for creates, the seeded one for reads and updates. */
  tenant: string
  /** Rows to write (creates). */
  inputs: CustomerInput[]
  /** Ids of the seeded rows (reads, updates). */
  ids: string[]
  /** Repetition number, so updates write a new value each time. */
  rep: number
}

export interface Workload {
  readonly name: 'create' | 'createMany' | 'findMany' | 'findUnique' | 'update' | 'updateCold' | 'findManyLarge'
  /** Human label, with `N` for the size. */
  readonly label: string
  /** Writes new rows: runs in a fresh tenant, cleared after each repetition. */
  readonly fresh: boolean
  /**
   * Runs on a new instance of each variant per repetition (a new client extension, no known rows;
   * `freshTarget` in bench/variants.ts): every row it touches is one this instance has not read or
   * written before.
   */
  readonly cold?: boolean
  /**
   * Rows per repetition as a multiple of the bench's size, in a tenant of its own seeded with that
   * many rows (absent: the bench's size, in the seeded tenant).
   */
  readonly scale?: number
  /** The variants that run it (absent: all). */
  readonly variants?: readonly string[]
  /** Measures the heap and RSS growth of each call (after a full collection before it). */
  readonly memory?: boolean
  /**
   * One call per row (create, findUnique, update): the runner may split a repetition into slices
   * of rows [from, to) and alternate the variants slice by slice, so that a burst of load on the
   * machine hits every variant alike.
   */
  readonly sliceable: boolean
  /** Target median ratio against plain Prisma (issue 8). */
  readonly target: number
  /** Runs one repetition (or rows [from, to) of it); returns the number of rows it touched. */
  run(t: Target, f: Fixture, from?: number, to?: number): Promise<number>
}

export const WORKLOADS: readonly Workload[] = [
  {
    name: 'create',
    label: 'create one by one × N',
    fresh: true,
    sliceable: true,
    target: 1.15,
    async run(t, f, from = 0, to = f.inputs.length) {
      for (let i = from; i < to; i++) await t.create(f.tenant, f.inputs[i]!)
      return to - from
    },
  },
  {
    name: 'createMany',
    label: 'createMany of N',
    fresh: true,
    sliceable: false,
    target: 1.3,
    run: (t, f) => t.createMany(f.tenant, f.inputs),
  },
  {
    name: 'findMany',
    label: 'findMany of N',
    fresh: false,
    sliceable: false,
    target: 3.0,
    run: (t, f) => findAll(t, f),
  },
  {
    name: 'findUnique',
    label: 'findUnique × N',
    fresh: false,
    sliceable: true,
    target: 1.15,
    async run(t, f, from = 0, to = f.ids.length) {
      let found = 0
      for (let i = from; i < to; i++) {
        const r = await t.findUnique(f.tenant, f.ids[i]!)
        if (r !== null && valueLength(r) > 0) found++
      }
      return found
    },
  },
  {
    name: 'update',
    label: 'update of one encrypted field × N',
    fresh: false,
    sliceable: true,
    target: 1.3,
    run: (t, f, from, to) => updateRows(t, f, from, to),
  },
  {
    // The warm update follows a findMany of the same rows in every round: rowcrypt then knows each
    // row's wrapped key (src/prisma/engine/known-keys.ts), as the bound does. Here each repetition
    // runs on a new instance of the variant, which has to fetch the key of every row it updates.
    name: 'updateCold',
    label: 'update, rows not read before × N',
    fresh: false,
    cold: true,
    // Not noop-ext and bound-row: they keep nothing between calls, so their cold update is their update.
    variants: ['plain', 'bound', 'bound-twin', 'bound-cas', 'rowcrypt', 'rowcrypt-core', 'rowcrypt-rls', 'rowcrypt-kms', 'rowcrypt-kms-cold', 'pfe'],
    sliceable: true,
    target: 1.3,
    run: (t, f, from, to) => updateRows(t, f, from, to, 'Cold'),
  },
  {
    name: 'findManyLarge',
    label: 'findMany of N',
    fresh: false,
    scale: 10,
    variants: ['plain', 'bound', 'bound-twin', 'rowcrypt', 'pfe', 'rowcrypt-kms'],
    memory: true,
    sliceable: false,
    target: 3.0,
    run: (t, f) => findAll(t, f),
  },
]

/** The update workloads: one encrypted field of each row [from, to), a new value each repetition. */
async function updateRows(t: Target, f: Fixture, from = 0, to = f.ids.length, tag = ''): Promise<number> {
  for (let i = from; i < to; i++) await t.update(f.tenant, f.ids[i]!, `Customer ${i} Renamed${tag}${f.rep}`)
  return to - from
}

/** The findMany workloads: every row of the tenant, every value read. */
async function findAll(t: Target, f: Fixture): Promise<number> {
  // The application reads every value (so a lazily decrypting implementation pays here too).
  const rows = await t.findMany(f.tenant)
  let chars = 0
  for (const r of rows) chars += valueLength(r)
  return chars > 0 ? rows.length : 0
}

/** Touches the four encrypted values of a row, as an application reading them would. */
export function valueLength(r: CustomerInput): number {
  return r.email.length + r.name.length + r.ssn.length + r.notes.length
}

/** Seeds `inputs` into `tenant` through `t` (createMany, 1,000 rows a call) and returns the ids, in `seq` order. */
export async function seed(t: Target, tenant: string, inputs: CustomerInput[]): Promise<string[]> {
  for (let i = 0; i < inputs.length; i += 1000) await t.createMany(tenant, inputs.slice(i, i + 1000))
  const rows = await t.findMany(tenant)
  return rows.sort((a, b) => a.seq - b.seq).map((r) => r.id)
}

// ---- the floor -------------------------------------------------------------------------------

/** One value sealed for the floor: raw buffers, no string format to parse. */
interface SealedValue {
  iv: Buffer
  ciphertext: Buffer
  tag: Buffer
  aad: Buffer
}

/** One row for the floor: its own data key, its wrapped form, and its four sealed values. */
export interface FloorRow {
  key: Buffer
  wrapped: { iv: Buffer; ciphertext: Buffer; tag: Buffer; aad: Buffer }
  values: SealedValue[]
}

function sealRaw(key: Buffer, plaintext: Buffer, aad: Buffer): SealedValue {
  const iv = randomBytes(12)
  const c = createCipheriv('aes-256-gcm', key, iv)
  c.setAAD(aad)
  const ciphertext = Buffer.concat([c.update(plaintext), c.final()])
  return { iv, ciphertext, tag: c.getAuthTag(), aad }
}

/**
 * The same four values per row as the bench data, sealed with AES-256-GCM under a per-row key
 * (with AAD of the size rowcrypt binds, ~100 bytes), and each row key wrapped under one KEK.
 */
export function makeFloorRows(inputs: CustomerInput[]): { kek: Buffer; rows: FloorRow[] } {
  const kek = randomBytes(32)
  const aad = Buffer.alloc(110, 0x61)
  const rows = inputs.map((d) => {
    const key = randomBytes(32)
    const wrapped = sealRaw(kek, key, aad)
    return { key, wrapped, values: ENCRYPTED_FIELDS.map((f) => sealRaw(key, Buffer.from(d[f], 'utf8'), aad)) }
  })
  return { kek, rows }
}

function openRaw(key: Buffer, v: SealedValue): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, v.iv)
  d.setAAD(v.aad)
  d.setAuthTag(v.tag)
  return Buffer.concat([d.update(v.ciphertext), d.final()])
}

/**
 * The floor: raw node:crypto AES-256-GCM decryption of the four values of every row (to UTF-8
 * strings, as an application gets them). Returns the number of characters produced.
 */
export function floorDecrypt(rows: FloorRow[]): number {
  let chars = 0
  for (const r of rows) for (const v of r.values) chars += openRaw(r.key, v).toString('utf8').length
  return chars
}

/** The floor plus one key unwrap per row (AES-256-GCM under the KEK), as envelope encryption needs. */
export function floorDecryptWithUnwrap(kek: Buffer, rows: FloorRow[]): number {
  let chars = 0
  for (const r of rows) {
    const key = openRaw(kek, r.wrapped)
    for (const v of r.values) chars += openRaw(key, v).toString('utf8').length
  }
  return chars
}

/**
 * rowcrypt's core without Prisma or a database: `decryptRow` of rows as PostgreSQL stored them
 * (read raw through the base client). Separates rowcrypt's own crypto path from query costs.
 */
export function coreDecryptor(keyProvider: KeyProvider): (rows: Record<string, unknown>[], tenantId: string) => Promise<number> {
  const rle = new RowLevelEncryption({ keyProvider, models: { Customer: { fields: [...ENCRYPTED_FIELDS], idField: 'id' } } })
  return async (rows, tenantId) => {
    const out = await Promise.all(rows.map((r) => rle.decryptRow(r, { model: 'Customer', tenantId })))
    return out.length
  }
}
