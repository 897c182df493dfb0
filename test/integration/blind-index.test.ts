// Equality search on encrypted fields through tenant-keyed blind indexes (issue 7): every filter
// form, uniqueness per tenant, truncated indexes with re-checking, and index-key versions.
import { DATABASES, openDatabase, type TestDatabase } from '../support/db'
import { extendSearchable, SSN_BITS, type Searchable } from '../support/searchable'
import { testKeyProvider } from '../support/setup'
import { rotateKeys, unsafeBypassTenantScope, verifyRows, withTenant } from '../../src'

const codeOf = async (p: PromiseLike<unknown>): Promise<unknown> => {
  try {
    await p
  } catch (e) {
    return (e as { code?: unknown }).code
  }
  return 'no error'
}
const emails = (rows: Array<{ email: string }>) => rows.map((r) => r.email).sort()

describe.each(DATABASES)('blind indexes on %s', (kind) => {
  let db: TestDatabase
  let prisma: Searchable
  const ids: Record<string, string> = {}

  beforeAll(async () => {
    db = await openDatabase(kind, 'blind')
    prisma = extendSearchable(db)
    await withTenant('a', async () => {
      for (const [name, email, phone] of [
        ['ann', 'Ann@Example.com ', '+1 (555) 0100'],
        ['bob', 'bob@example.com', '+1 555 0101'],
        ['cat', 'cat@example.com', null],
      ] as const) {
        const c = await prisma.customer.create({ data: { email, phone, ssn: `ssn-${name}`, plan: name === 'cat' ? 'pro' : 'free' } })
        ids[name] = c.id
      }
      await prisma.invoice.create({ data: { reference: 'INV-1', amount: 10, customerId: ids.ann! } })
      await prisma.invoice.create({ data: { reference: 'INV-2', amount: 20, customerId: ids.ann! } })
      await prisma.invoice.create({ data: { reference: 'INV-3', amount: 30, customerId: ids.bob! } })
    })
    // The same plaintexts in tenant b.
    await withTenant('b', async () => {
      const c = await prisma.customer.create({ data: { email: 'ann@example.com', ssn: 'ssn-ann', invoices: { create: [{ reference: 'INV-1', amount: 99 }] } } })
      ids.annB = c.id
    })
  })
  afterAll(async () => db.close())

  const inA = <T>(fn: () => PromiseLike<T>) => withTenant('a', fn)

  it('stores a versioned keyed index beside the ciphertext, normalized, unrelated across tenants', async () => {
    const rows = await db.raw<{ id: string; email: string; emailIndex: string; tenantId: string; ssnIdx: string }>(
      `SELECT "id", "email", "emailIndex", "tenantId", "ssnIdx" FROM ${db.table('Customer')}`,
    )
    const ann = rows.find((r) => r.id === ids.ann)!
    const annB = rows.find((r) => r.id === ids.annB)!
    expect(ann.email).toMatch(/^rc1\./)
    expect(ann.emailIndex).toMatch(/^v1:[0-9a-f]{64}$/)
    expect(ann.ssnIdx).toMatch(new RegExp(`^v1:[0-9a-f]{${SSN_BITS / 4}}$`))
    // 'Ann@Example.com ' and 'ann@example.com' normalize alike, yet the tenants' indexes differ.
    expect(annB.emailIndex).toMatch(/^v1:[0-9a-f]{64}$/)
    expect(annB.emailIndex).not.toBe(ann.emailIndex)
    expect(new Set(rows.map((r) => r.emailIndex)).size).toBe(rows.length)
    for (const r of rows) expect(JSON.stringify(r)).not.toContain('example.com')
  })

  it('equality, equals, in, notIn and not', async () => {
    await inA(async () => {
      expect(emails(await prisma.customer.findMany({ where: { email: 'ann@example.com' } }))).toEqual(['Ann@Example.com '])
      expect(emails(await prisma.customer.findMany({ where: { email: { equals: '  ANN@example.COM' } } }))).toEqual(['Ann@Example.com '])
      expect(emails(await prisma.customer.findMany({ where: { email: { in: ['bob@example.com', 'cat@example.com', 'nobody@x.io'] } } }))).toEqual(['bob@example.com', 'cat@example.com'])
      expect(emails(await prisma.customer.findMany({ where: { email: { notIn: ['bob@example.com'] } } }))).toEqual(['Ann@Example.com ', 'cat@example.com'])
      expect(emails(await prisma.customer.findMany({ where: { email: { not: 'bob@example.com' } } }))).toEqual(['Ann@Example.com ', 'cat@example.com'])
      expect(emails(await prisma.customer.findMany({ where: { email: { not: { in: ['bob@example.com', 'cat@example.com'] } } } }))).toEqual(['Ann@Example.com '])
      expect(emails(await prisma.customer.findMany({ where: { phone: '+15550101' } }))).toEqual(['bob@example.com'])
      expect(emails(await prisma.customer.findMany({ where: { phone: null } }))).toEqual(['cat@example.com'])
      expect(emails(await prisma.customer.findMany({ where: { phone: { not: null } } }))).toEqual(['Ann@Example.com ', 'bob@example.com'])
      expect(await prisma.customer.findMany({ where: { email: 'nobody@example.com' } })).toEqual([])
    })
  })

  it('inside AND, OR and NOT, next to plain columns', async () => {
    await inA(async () => {
      expect(emails(await prisma.customer.findMany({ where: { AND: [{ email: { in: ['ann@example.com', 'cat@example.com'] } }, { plan: 'pro' }] } }))).toEqual(['cat@example.com'])
      expect(emails(await prisma.customer.findMany({ where: { OR: [{ email: 'bob@example.com' }, { plan: 'pro' }] } }))).toEqual(['bob@example.com', 'cat@example.com'])
      expect(emails(await prisma.customer.findMany({ where: { NOT: { email: 'bob@example.com' } } }))).toEqual(['Ann@Example.com ', 'cat@example.com'])
      expect(emails(await prisma.customer.findMany({ where: { NOT: [{ email: 'bob@example.com' }, { plan: 'pro' }] } }))).toEqual(['Ann@Example.com '])
      // As Prisma on a plaintext column: a NULL value matches no negated filter (cat has no phone).
      expect(emails(await prisma.customer.findMany({ where: { NOT: { phone: '+15550100' } } }))).toEqual(['bob@example.com'])
      expect(emails(await prisma.customer.findMany({ where: { phone: { notIn: ['+15550100'] } } }))).toEqual(['bob@example.com'])
      expect(emails(await prisma.customer.findMany({ where: { email: 'ann@example.com', plan: 'free', phone: { in: ['+1 555 0100'] } } }))).toEqual(['Ann@Example.com '])
    })
  })

  it('findFirst, findUnique (the index is unique per tenant), count, updateMany, deleteMany', async () => {
    await inA(async () => {
      expect((await prisma.customer.findFirst({ where: { email: 'BOB@example.com' } }))?.id).toBe(ids.bob)
      const byUnique = await prisma.customer.findUnique({ where: { email: 'bob@example.com' } as never })
      expect(byUnique?.id).toBe(ids.bob)
      expect(await prisma.customer.findUnique({ where: { email: 'nobody@example.com' } as never })).toBeNull()
      expect(await codeOf(prisma.customer.findUniqueOrThrow({ where: { email: 'nobody@example.com' } as never }))).toBe('P2025')
      expect(await prisma.customer.count({ where: { email: { in: ['ann@example.com', 'bob@example.com'] } } })).toBe(2)
      expect(await prisma.customer.updateMany({ where: { email: 'cat@example.com' }, data: { plan: 'enterprise' } })).toEqual({ count: 1 })
      expect((await prisma.customer.findUnique({ where: { id: ids.cat! } }))?.plan).toBe('enterprise')
      const doomed = await prisma.customer.create({ data: { email: 'doomed@example.com' } })
      expect(await prisma.customer.deleteMany({ where: { email: 'doomed@example.com' } })).toEqual({ count: 1 })
      expect(await prisma.customer.findUnique({ where: { id: doomed.id } })).toBeNull()
    })
    // The other tenant's 'ann@example.com' is untouched and found only there.
    expect(await withTenant('b', () => prisma.customer.count({ where: { email: 'ann@example.com' } }))).toBe(1)
    expect(await withTenant('c', () => prisma.customer.findMany({ where: { email: 'ann@example.com' } }))).toEqual([])
  })

  it('update, delete and upsert by a searchable unique field', async () => {
    await inA(async () => {
      const updated = await prisma.customer.update({ where: { email: 'bob@example.com' } as never, data: { plan: 'pro' } })
      expect(updated.id).toBe(ids.bob)
      const created = await prisma.customer.upsert({ where: { email: 'dan@example.com' } as never, create: { email: 'dan@example.com', plan: 'free' }, update: { plan: 'pro' } })
      expect(created.plan).toBe('free')
      const again = await prisma.customer.upsert({ where: { email: 'DAN@example.com' } as never, create: { email: 'dan@example.com', plan: 'free' }, update: { plan: 'pro' } })
      expect(again).toMatchObject({ id: created.id, plan: 'pro', email: 'dan@example.com' })
      await prisma.customer.delete({ where: { email: 'dan@example.com' } as never })
      expect(await prisma.customer.findFirst({ where: { email: 'dan@example.com' } })).toBeNull()
    })
  })

  it('an update of the value moves its index; the old value is no longer found', async () => {
    await inA(async () => {
      const c = await prisma.customer.create({ data: { email: 'old@example.com', phone: '1' } })
      await prisma.customer.update({ where: { id: c.id }, data: { email: { set: 'new@example.com' }, phone: null } })
      expect(await prisma.customer.findFirst({ where: { email: 'old@example.com' } })).toBeNull()
      expect((await prisma.customer.findFirst({ where: { email: 'new@example.com' } }))?.id).toBe(c.id)
      const [raw] = await db.raw<{ phoneIndex: string | null }>(`SELECT "phoneIndex" FROM ${db.table('Customer')} WHERE "id" = $1`, [c.id])
      expect(raw!.phoneIndex).toBeNull()
      await prisma.customer.delete({ where: { id: c.id } })
    })
  })

  it('relation filters (some, every, none, is, isNot) and include filters', async () => {
    await inA(async () => {
      expect(emails(await prisma.customer.findMany({ where: { invoices: { some: { reference: 'INV-3' } } } }))).toEqual(['bob@example.com'])
      expect(emails(await prisma.customer.findMany({ where: { invoices: { none: { reference: { in: ['INV-1', 'INV-3'] } } } } }))).toEqual(['cat@example.com'])
      expect(emails(await prisma.customer.findMany({ where: { invoices: { every: { reference: { not: 'INV-1' } } } } }))).toEqual(['bob@example.com', 'cat@example.com'])
      const refs = (rows: Array<{ reference: string }>) => rows.map((r) => r.reference).sort()
      expect(refs(await prisma.invoice.findMany({ where: { customer: { is: { email: 'ann@example.com' } } } }))).toEqual(['INV-1', 'INV-2'])
      expect(refs(await prisma.invoice.findMany({ where: { customer: { isNot: { email: 'ann@example.com' } } } }))).toEqual(['INV-3'])
      expect(refs(await prisma.invoice.findMany({ where: { customer: { email: 'bob@example.com' } } }))).toEqual(['INV-3'])
      const ann = await prisma.customer.findUnique({
        where: { id: ids.ann! },
        include: { invoices: { where: { reference: 'INV-2' } }, _count: { select: { invoices: { where: { reference: { in: ['INV-1', 'INV-2'] } } } } } },
      })
      expect(refs(ann!.invoices)).toEqual(['INV-2'])
      expect(ann!._count.invoices).toBe(2)
      // Tenant b's INV-1 never matches from tenant a.
      expect(await prisma.invoice.count({ where: { reference: 'INV-1' } })).toBe(1)
    })
  })

  it('nested writes: filters (deleteMany, updateMany) and unique inputs (connect, update) by a searchable field', async () => {
    await withTenant('n', async () => {
      const c = await prisma.customer.create({
        data: {
          email: 'nest@example.com',
          invoices: {
            create: [
              { reference: 'N-1', amount: 1 },
              { reference: 'N-2', amount: 2 },
              { reference: 'N-3', amount: 3 },
            ],
          },
        },
      })
      await prisma.customer.update({ where: { id: c.id }, data: { invoices: { updateMany: { where: { reference: 'N-2' }, data: { amount: 20 } }, deleteMany: { reference: { in: ['N-3'] } } } } })
      const left = await prisma.invoice.findMany({ where: { customerId: c.id }, orderBy: { amount: 'asc' } })
      expect(left.map((i) => [i.reference, i.amount])).toEqual([
        ['N-1', 1],
        ['N-2', 20],
      ])
      const inv = await prisma.invoice.create({ data: { reference: 'N-4', amount: 4, customer: { connect: { email: 'NEST@example.com' } as never } } })
      expect(inv.customerId).toBe(c.id)
      await prisma.invoice.update({ where: { id: inv.id }, data: { customer: { update: { plan: 'nested' } } } })
      expect((await prisma.customer.findFirst({ where: { email: 'nest@example.com' } }))?.plan).toBe('nested')
    })
  })

  it('an index value copied from another row (a database writer without keys) fails closed', async () => {
    const [victim] = await db.raw<{ emailIndex: string }>(`SELECT "emailIndex" FROM ${db.table('Customer')} WHERE "id" = $1`, [ids.cat])
    const evil = await withTenant('a', () => prisma.customer.create({ data: { email: 'mallory@evil.example' } }))
    await db.raw(`UPDATE ${db.table('Customer')} SET "emailIndex" = NULL WHERE "id" = $1`, [ids.cat])
    await db.raw(`UPDATE ${db.table('Customer')} SET "emailIndex" = $1 WHERE "id" = $2`, [victim!.emailIndex, evil.id])
    try {
      await withTenant('a', async () => {
        expect(await codeOf(prisma.customer.findUnique({ where: { email: 'cat@example.com' } as never }))).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
        expect(await codeOf(prisma.customer.findFirst({ where: { email: 'cat@example.com' } }))).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
        expect(await codeOf(prisma.customer.findMany({ where: { email: { in: ['cat@example.com', 'bob@example.com'] } }, select: { plan: true } }))).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
      })
    } finally {
      await db.raw(`UPDATE ${db.table('Customer')} SET "emailIndex" = NULL WHERE "id" = $1`, [evil.id])
      await db.raw(`UPDATE ${db.table('Customer')} SET "emailIndex" = $1 WHERE "id" = $2`, [victim!.emailIndex, ids.cat])
      await withTenant('a', () => prisma.customer.delete({ where: { id: evil.id } }))
    }
    expect((await withTenant('a', () => prisma.customer.findFirst({ where: { email: 'cat@example.com' } })))?.id).toBe(ids.cat)
  })

  it('the fluent API from a search returns the related rows, re-checking the row searched for', async () => {
    const invoices = await inA(() => prisma.customer.findUnique({ where: { email: 'ann@example.com' } as never }).invoices({ orderBy: { amount: 'asc' } }))
    expect(invoices?.map((i) => [i.reference, i.amount])).toEqual([
      ['INV-1', 10],
      ['INV-2', 20],
    ])
    expect(await inA(() => prisma.customer.findFirst({ where: { email: 'bob@example.com' } }).invoices())).toHaveLength(1)
    // The searched row's index copied onto another row still fails closed through the fluent API.
    const [victim] = await db.raw<{ emailIndex: string }>(`SELECT "emailIndex" FROM ${db.table('Customer')} WHERE "id" = $1`, [ids.cat])
    const evil = await inA(() => prisma.customer.create({ data: { email: 'eve@evil.example' } }))
    await db.raw(`UPDATE ${db.table('Customer')} SET "emailIndex" = NULL WHERE "id" = $1`, [ids.cat])
    await db.raw(`UPDATE ${db.table('Customer')} SET "emailIndex" = $1 WHERE "id" = $2`, [victim!.emailIndex, evil.id])
    try {
      expect(await inA(() => codeOf(prisma.customer.findUnique({ where: { email: 'cat@example.com' } as never }).invoices()))).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    } finally {
      await db.raw(`UPDATE ${db.table('Customer')} SET "emailIndex" = NULL WHERE "id" = $1`, [evil.id])
      await db.raw(`UPDATE ${db.table('Customer')} SET "emailIndex" = $1 WHERE "id" = $2`, [victim!.emailIndex, ids.cat])
      await inA(() => prisma.customer.delete({ where: { id: evil.id } }))
    }
  })

  it('nested creates index their rows too', async () => {
    const [inv] = await db.raw<{ referenceIndex: string }>(`SELECT "referenceIndex" FROM ${db.table('Invoice')} WHERE "customerId" = $1`, [ids.annB])
    expect(inv!.referenceIndex).toMatch(/^v1:[0-9a-f]{64}$/)
    expect(await withTenant('b', () => prisma.invoice.count({ where: { reference: 'INV-1' } }))).toBe(1)
  })

  it('refuses a duplicate value per tenant with P2002 and accepts it in another tenant', async () => {
    expect(await inA(() => codeOf(prisma.customer.create({ data: { email: ' BOB@example.com' } })))).toBe('P2002')
    const other = await withTenant('c', () => prisma.customer.create({ data: { email: 'bob@example.com' } }))
    expect(other.email).toBe('bob@example.com')
    expect(await inA(() => prisma.customer.count())).toBe(3)
  })

  it('refuses what an index cannot answer, with a coded error', async () => {
    await inA(async () => {
      for (const where of [{ email: { contains: 'ann' } }, { email: { startsWith: 'a' } }, { email: { gt: 'a' } }, { email: { equals: 'a', mode: 'insensitive' } }]) {
        expect(await codeOf(prisma.customer.findMany({ where: where as never }))).toBe('ERR_ROWCRYPT_UNSUPPORTED_QUERY')
      }
      expect(await codeOf(prisma.customer.findMany({ orderBy: { email: 'asc' } }))).toBe('ERR_ROWCRYPT_UNSUPPORTED_QUERY')
      expect(await codeOf(prisma.customer.create({ data: { email: 'x@example.com', emailIndex: 'v1:00' } }))).toBe('ERR_ROWCRYPT_UNSUPPORTED_QUERY')
      expect(await codeOf(prisma.customer.findMany({ where: { email: 42 as never } }))).toBe('ERR_ROWCRYPT_INVALID_VALUE')
    })
    // Index keys are per tenant: no search across tenants.
    expect(await codeOf(unsafeBypassTenantScope('test', () => prisma.customer.findMany({ where: { email: 'ann@example.com' } })))).toBe('ERR_ROWCRYPT_UNSUPPORTED_QUERY')
  })

  describe('a truncated index', () => {
    // SSN_BITS = 8: 256 index values, so 300 rows collide; the re-check removes false positives.
    const ssnOf = (i: number) => `900-00-${String(i).padStart(4, '0')}`
    let target: string
    let sibling: string
    let sharing: number

    beforeAll(async () => {
      await withTenant('t', () => prisma.customer.createMany({ data: Array.from({ length: 300 }, (_, i) => ({ email: `p${i}@example.com`, ssn: ssnOf(i), plan: i % 2 === 0 ? 'even' : 'odd' })) }))
      const rows = await db.raw<{ ssnIdx: string }>(`SELECT "ssnIdx" FROM ${db.table('Customer')} WHERE "tenantId" = 't'`)
      const buckets = new Map<string, number>()
      for (const r of rows) buckets.set(r.ssnIdx, (buckets.get(r.ssnIdx) ?? 0) + 1)
      // A value whose index bucket holds other rows too.
      const all = await withTenant('t', () => prisma.customer.findMany({ select: { ssn: true, id: true } }))
      const idx = await db.raw<{ id: string; ssnIdx: string }>(`SELECT "id", "ssnIdx" FROM ${db.table('Customer')} WHERE "tenantId" = 't'`)
      const byId = new Map(idx.map((r) => [r.id, r.ssnIdx]))
      const pick = all.find((r) => (buckets.get(byId.get(r.id)!) ?? 0) >= 3)!
      target = pick.ssn!
      sibling = all.find((r) => r.id !== pick.id && byId.get(r.id) === byId.get(pick.id))!.ssn!
      sharing = buckets.get(byId.get(pick.id)!)!
    })

    it('finds exactly the matching rows although the database returns candidates', async () => {
      expect(sharing).toBeGreaterThanOrEqual(3)
      await withTenant('t', async () => {
        const found = await prisma.customer.findMany({ where: { ssn: target } })
        expect(found.map((r) => r.ssn)).toEqual([target])
        expect((await prisma.customer.findMany({ where: { ssn: target }, select: { email: true } })).length).toBe(1)
        expect((await prisma.customer.findFirst({ where: { ssn: target } }))?.ssn).toBe(target)
        expect((await prisma.customer.findMany({ where: { ssn: target }, take: 1 })).map((r) => r.ssn)).toEqual([target])
        expect(await prisma.customer.count({ where: { ssn: target } })).toBe(1)
        expect(await prisma.customer.count({ where: { ssn: { in: [target, ssnOf(1)] } } })).toBe(target === ssnOf(1) ? 1 : 2)
        // Candidates first, in the call's order, then exactly the matches: no false positive takes a slot.
        const two = await prisma.customer.findMany({ where: { ssn: { in: [target, ssnOf(1), ssnOf(2)] } }, orderBy: { email: 'desc' as never } as never, take: 2 }).catch(() => undefined)
        expect(two).toBeUndefined() // ordering by an encrypted field stays refused
        const firstTwo = await prisma.customer.findMany({ where: { ssn: { in: [target, ssnOf(1), ssnOf(2)] } }, orderBy: { id: 'asc' }, take: 2 })
        expect(firstTwo).toHaveLength(2)
        expect(firstTwo.every((r) => [target, ssnOf(1), ssnOf(2)].includes(r.ssn!))).toBe(true)
        expect(await prisma.customer.count({ where: { ssn: { equals: null } } })).toBe(0)
        // Two operators on one field must both hold: the database sees the same bucket for both.
        expect(await prisma.customer.findMany({ where: { ssn: { equals: target, in: [sibling] } } })).toEqual([])
        expect(await prisma.customer.count({ where: { ssn: { equals: target, in: [sibling] } } })).toBe(0)
        expect((await prisma.customer.findMany({ where: { ssn: { equals: target, in: [sibling, target] } } })).map((r) => r.ssn)).toEqual([target])
        expect(await prisma.customer.updateMany({ where: { ssn: target }, data: { plan: 'picked' } })).toEqual({ count: 1 })
        expect(await prisma.customer.count({ where: { plan: 'picked' } })).toBe(1)
        expect(await prisma.customer.deleteMany({ where: { ssn: target } })).toEqual({ count: 1 })
        expect(await prisma.customer.findFirst({ where: { ssn: target } })).toBeNull()
        expect(await prisma.customer.count()).toBe(299)
      })
    })

    it('refuses forms whose false positives cannot be removed', async () => {
      await withTenant('t', async () => {
        for (const where of [{ ssn: { not: ssnOf(2) } }, { ssn: { notIn: [ssnOf(2)] } }, { OR: [{ ssn: ssnOf(2) }, { plan: 'odd' }] }, { NOT: { ssn: ssnOf(2) } }]) {
          expect(await codeOf(prisma.customer.findMany({ where }))).toBe('ERR_ROWCRYPT_UNSUPPORTED_QUERY')
        }
        // Rows the database skipped or folded away would never be re-checked.
        expect(await codeOf(prisma.customer.findMany({ where: { ssn: ssnOf(2) }, skip: 1 }))).toBe('ERR_ROWCRYPT_UNSUPPORTED_QUERY')
        expect(await codeOf(prisma.customer.findMany({ where: { ssn: ssnOf(2) }, distinct: ['plan'] }))).toBe('ERR_ROWCRYPT_UNSUPPORTED_QUERY')
        expect(await codeOf(prisma.invoice.findMany({ where: { customer: { is: { ssn: ssnOf(2) } } } }))).toBe('ERR_ROWCRYPT_UNSUPPORTED_QUERY')
        expect(await codeOf(prisma.customer.aggregate({ where: { ssn: ssnOf(2) }, _count: true }))).toBe('ERR_ROWCRYPT_UNSUPPORTED_QUERY')
      })
    })
  })

  it('a new index key version writes v2 values and still finds rows indexed under v1', async () => {
    const next = extendSearchable(db, testKeyProvider(), { keyVersion: 'v2', previousKeyVersions: ['v1'] })
    await withTenant('a', async () => {
      const fresh = await next.customer.create({ data: { email: 'eve@example.com' } })
      const [raw] = await db.raw<{ emailIndex: string }>(`SELECT "emailIndex" FROM ${db.table('Customer')} WHERE "id" = $1`, [fresh.id])
      expect(raw!.emailIndex).toMatch(/^v2:[0-9a-f]{64}$/)
      expect(emails(await next.customer.findMany({ where: { email: { in: ['ann@example.com', 'eve@example.com'] } } }))).toEqual(['Ann@Example.com ', 'eve@example.com'])
      expect((await next.customer.findUnique({ where: { email: 'ann@example.com' } as never }))?.id).toBe(ids.ann)
      expect((await next.customer.findUnique({ where: { email: 'eve@example.com' } as never }))?.id).toBe(fresh.id)
      // The v1-only client does not know v2 values.
      expect(await prisma.customer.findFirst({ where: { email: 'eve@example.com' } })).toBeNull()
      // Writes by a unique searchable field would miss rows still on v1 (and upsert would duplicate them).
      expect(await codeOf(next.customer.update({ where: { email: 'ann@example.com' } as never, data: { plan: 'x' } }))).toBe('ERR_ROWCRYPT_UNSUPPORTED_QUERY')
      expect(await codeOf(next.customer.upsert({ where: { email: 'ann@example.com' } as never, create: { email: 'ann@example.com' }, update: {} }))).toBe('ERR_ROWCRYPT_UNSUPPORTED_QUERY')
      expect(await codeOf(next.invoice.create({ data: { reference: 'X', amount: 1, customer: { connect: { email: 'ann@example.com' } as never } } }))).toBe('ERR_ROWCRYPT_UNSUPPORTED_QUERY')
      expect(await next.customer.count({ where: { email: 'ann@example.com' } })).toBe(1)
      // In a batch each item's query runs once, so the version-by-version findUnique is refused there.
      expect(await codeOf(next.$transaction([next.customer.findUnique({ where: { email: 'ann@example.com' } as never })]))).toBe('ERR_ROWCRYPT_UNSUPPORTED_QUERY')
      expect((await next.$transaction(async (tx) => tx.customer.findUnique({ where: { email: 'ann@example.com' } as never })))?.id).toBe(ids.ann)
      await next.customer.delete({ where: { id: fresh.id } })
    })
  })

  it('rotateKeys({ reindex }) moves every index to the new version, online and resumable', async () => {
    const next = extendSearchable(db, testKeyProvider(), { keyVersion: 'v2', previousKeyVersions: ['v1'] })
    const stale = async () => {
      const c = await db.raw<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${db.table('Customer')} WHERE "emailIndex" LIKE 'v1:%' OR "phoneIndex" LIKE 'v1:%' OR "ssnIdx" LIKE 'v1:%'`)
      const i = await db.raw<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${db.table('Invoice')} WHERE "referenceIndex" LIKE 'v1:%'`)
      return { customers: Number(c[0]!.n), invoices: Number(i[0]!.n) }
    }
    const before = await stale()
    expect(before.customers).toBeGreaterThan(300)
    const before1 = await db.raw<{ id: string; email: string; wrappedDek: Uint8Array }>(`SELECT "id", "email", "wrappedDek" FROM ${db.table('Customer')} ORDER BY "id"`)
    expect(await rotateKeys({ prisma: next, reindex: true, dryRun: true })).toBe(before.customers + before.invoices)
    // Stopped after the first batch, then resumed: every row exactly once.
    const abort = new AbortController()
    const first = await rotateKeys({ prisma: next, reindex: true, batchSize: 50, signal: abort.signal, onProgress: () => abort.abort() })
    const rest = await rotateKeys({ prisma: next, reindex: true, batchSize: 50 })
    expect(first).toBeGreaterThan(0)
    expect(first + rest).toBe(before.customers + before.invoices)
    expect(await stale()).toEqual({ customers: 0, invoices: 0 })
    expect(await rotateKeys({ prisma: next, reindex: true })).toBe(0)
    // Data keys and ciphertexts untouched; every row still decrypts.
    const after = await db.raw<{ id: string; email: string; wrappedDek: Uint8Array }>(`SELECT "id", "email", "wrappedDek" FROM ${db.table('Customer')} ORDER BY "id"`)
    expect(after).toEqual(before1)
    expect((await verifyRows({ prisma: next })).failed).toBe(0)
    // A client that only knows v2 now finds everything, unique lookups and truncated indexes included.
    const v2only = extendSearchable(db, testKeyProvider(), { keyVersion: 'v2' })
    await withTenant('a', async () => {
      expect((await v2only.customer.findUnique({ where: { email: 'ANN@example.com' } as never }))?.id).toBe(ids.ann)
      expect(await v2only.invoice.count({ where: { reference: { in: ['INV-1', 'INV-2', 'INV-3'] } } })).toBe(3)
    })
    expect(await withTenant('t', () => v2only.customer.count({ where: { ssn: '900-00-0001' } }))).toBe(1)
    await expect(rotateKeys({ prisma: next, reindex: true, rekey: true })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
  })
})
