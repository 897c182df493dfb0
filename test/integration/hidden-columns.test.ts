// rowcrypt's own columns (wrapped key, key version, tenant column, blind-index columns) stay out of
// results unless a call selects them: full rows, nested rows, writes' results, `...AndReturn`
// operations and fluent calls, on every database.
import { withTenant } from '../../src'
import { DATABASES, openDatabase, type TestDatabase } from '../support/db'
import { extendSearchable, type Searchable } from '../support/searchable'

const CUSTOMER_OWN = ['wrappedDek', 'keyVersion', 'tenantId', 'emailIndex', 'phoneIndex', 'ssnIdx']
const INVOICE_OWN = ['wrappedDek', 'keyVersion', 'tenantId', 'referenceIndex']
const T = 'hidden_t'

/** The keys of `row` that are rowcrypt's own columns. */
const own = (row: unknown, cols: readonly string[]): string[] => cols.filter((c) => c in (row as object))

describe.each(DATABASES)('rowcrypt columns stay inside on %s', (kind) => {
  let db: TestDatabase
  let prisma: Searchable
  let customerId: string
  let invoiceId: string

  beforeAll(async () => {
    db = await openDatabase(kind, 'hidden')
    prisma = extendSearchable(db)
    await withTenant(T, async () => {
      customerId = (await prisma.customer.create({ data: { email: 'ann@example.com', phone: '+1 555', ssn: '123' } })).id
      invoiceId = (await prisma.invoice.create({ data: { reference: 'INV-1', amount: 5, customerId } })).id
    })
  })
  afterAll(async () => db?.close())

  it('full-row reads and nested rows leave them out, and do not read the index columns at all', async () => {
    const sent = db.queries.length
    const c = await withTenant(T, () => prisma.customer.findUniqueOrThrow({ where: { id: customerId }, include: { invoices: true } }))
    expect(c).toMatchObject({ email: 'ann@example.com', phone: '+1 555', ssn: '123', plan: 'free' })
    expect([own(c, CUSTOMER_OWN), own(c.invoices[0], INVOICE_OWN)]).toEqual([[], []])
    expect(db.queries.slice(sent).join('\n')).not.toMatch(/emailIndex|phoneIndex|ssnIdx|referenceIndex/)
    const many = await withTenant(T, () => prisma.invoice.findMany({ include: { customer: true } }))
    expect([own(many[0], INVOICE_OWN), own(many[0]!.customer, CUSTOMER_OWN), many[0]!.customer.email]).toEqual([[], [], 'ann@example.com'])
    const first = await withTenant(T, () => prisma.customer.findFirst({ where: { email: 'ANN@example.com' } }))
    expect(own(first, CUSTOMER_OWN)).toEqual([])
  })

  it('a call that selects them gets them: select, or omit with false', async () => {
    const selected = await withTenant(T, () => prisma.customer.findUniqueOrThrow({ where: { id: customerId }, select: { tenantId: true, keyVersion: true, emailIndex: true } }))
    expect(Object.keys(selected).sort()).toEqual(['emailIndex', 'keyVersion', 'tenantId'])
    expect([selected.tenantId, selected.keyVersion, typeof selected.emailIndex]).toEqual([T, 'v1', 'string'])
    const shown = await withTenant(T, () => prisma.customer.findUniqueOrThrow({ where: { id: customerId }, omit: { wrappedDek: false, ssnIdx: false } }))
    expect(own(shown, CUSTOMER_OWN).sort()).toEqual(['ssnIdx', 'wrappedDek'])
    expect(shown.wrappedDek).toBeInstanceOf(Uint8Array)
    const nested = await withTenant(T, () => prisma.customer.findUniqueOrThrow({ where: { id: customerId }, include: { invoices: { omit: { tenantId: false } } } }))
    expect([own(nested, CUSTOMER_OWN), own(nested.invoices[0], INVOICE_OWN)]).toEqual([[], ['tenantId']])
  })

  it('the rows writes return leave them out', async () => {
    await withTenant(T, async () => {
      const made = await prisma.customer.create({ data: { email: 'bob@example.com' }, include: { invoices: true } })
      const updated = await prisma.customer.update({ where: { id: made.id }, data: { phone: '+1 777' } })
      const upserted = await prisma.customer.upsert({ where: { id: made.id }, create: { email: 'x' }, update: { ssn: '9' } })
      const invoice = await prisma.invoice.create({ data: { reference: 'INV-2', amount: 1, customer: { connect: { id: made.id } } }, include: { customer: true } })
      const deletedInvoice = await prisma.invoice.delete({ where: { id: invoice.id } })
      const deleted = await prisma.customer.delete({ where: { id: made.id } })
      for (const row of [made, updated, upserted, invoice.customer, deleted]) expect(own(row, CUSTOMER_OWN)).toEqual([])
      for (const row of [invoice, deletedInvoice]) expect(own(row, INVOICE_OWN)).toEqual([])
      expect([updated.phone, upserted.ssn, deleted.email]).toEqual(['+1 777', '9', 'bob@example.com'])
    })
  })

  it('the fluent API leaves them out', async () => {
    const invoices = await withTenant(T, () => prisma.customer.findUniqueOrThrow({ where: { id: customerId } }).invoices())
    expect(invoices.map((i) => [i.reference, own(i, INVOICE_OWN)])).toEqual([['INV-1', []]])
    const customer = await withTenant(T, () => prisma.invoice.findUniqueOrThrow({ where: { id: invoiceId } }).customer())
    expect([customer.email, own(customer, CUSTOMER_OWN)]).toEqual(['ann@example.com', []])
  })

  // createManyAndReturn and updateManyAndReturn exist on PostgreSQL and SQLite only.
  if (kind !== 'mysql') {
    it('createManyAndReturn and updateManyAndReturn leave them out unless selected', async () => {
      await withTenant(T, async () => {
        const made = await prisma.customer.createManyAndReturn({ data: [{ email: 'c1@example.com' }, { email: 'c2@example.com' }] })
        expect(made.map((r) => [r.email, own(r, CUSTOMER_OWN)])).toEqual([
          ['c1@example.com', []],
          ['c2@example.com', []],
        ])
        const ids = made.map((r) => r.id)
        const updated = await prisma.customer.updateManyAndReturn({ where: { id: { in: ids } }, data: { plan: 'pro' } })
        expect(updated.map((r) => [r.plan, own(r, CUSTOMER_OWN)])).toEqual([
          ['pro', []],
          ['pro', []],
        ])
        const selected = await prisma.customer.updateManyAndReturn({ where: { id: { in: ids } }, data: { plan: 'team' }, select: { id: true, tenantId: true } })
        expect(selected.map((r) => r.tenantId)).toEqual([T, T])
        const invoices = await prisma.invoice.createManyAndReturn({ data: [{ reference: 'INV-3', amount: 3, customerId: ids[0]! }], include: { customer: true } })
        expect([own(invoices[0], INVOICE_OWN), own(invoices[0]!.customer, CUSTOMER_OWN), invoices[0]!.customer.email]).toEqual([[], [], 'c1@example.com'])
        await prisma.invoice.deleteMany({ where: { customerId: { in: ids } } })
        await prisma.customer.deleteMany({ where: { id: { in: ids } } })
      })
    })
  }
})
