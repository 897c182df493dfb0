// Issue 7's acceptance on PostgreSQL: with 10,000 rows, the SQL of a findUnique by email uses the
// (tenantId, emailIndex) unique index, not a scan of the table.
import { openDatabase, type TestDatabase } from '../support/db'
import { extendSearchable } from '../support/searchable'
import { withTenant } from '../../src'

const ROWS = 10_000
const TENANTS = 10 // tenant_0 .. tenant_9, 1,000 rows each

describe('blind index on PostgreSQL with 10,000 rows', () => {
  let db: TestDatabase
  const sent: Array<{ query: string; params: string }> = []

  beforeAll(async () => {
    db = await openDatabase('postgres', 'explain')
    const prisma = extendSearchable(db)
    ;(db.prisma as unknown as { $on(e: 'query', f: (e: { query: string; params: string }) => void): void }).$on('query', (e) => sent.push({ query: e.query, params: e.params }))
    // One tenant's 1,000 rows through rowcrypt; the other 9,000 rows (9 tenants) are filled in SQL
    // with index values of the same shape, so the planner sees the table's real size and spread.
    const per = ROWS / TENANTS
    await withTenant('tenant_3', () => prisma.customer.createMany({ data: Array.from({ length: per }, (_, i) => ({ email: `user${3 * per + i}@example.com`, ssn: String(i) })) }))
    await db.raw(
      `INSERT INTO ${db.table('Customer')} ("id", "email", "emailIndex", "tenantId", "wrappedDek", "keyVersion")
       SELECT md5('id' || i), 'rc1.filler', 'v1:' || md5('a' || i) || md5('b' || i), 'tenant_' || (i % 9 + (CASE WHEN i % 9 >= 3 THEN 1 ELSE 0 END)), '\\x00', 'v1'
       FROM generate_series(1, ${ROWS - per}) AS i`,
    )
    await db.raw(`ANALYZE ${db.table('Customer')}`)
    sent.length = 0
    const found = await withTenant('tenant_3', () => prisma.customer.findUnique({ where: { email: 'USER3456@example.com' } as never }))
    expect(found?.email).toBe('user3456@example.com')
  }, 120_000)
  afterAll(async () => db.close())

  it('EXPLAIN of the findUnique statement shows an index scan on the unique index', async () => {
    const [count] = await db.raw<{ n: string }>(`SELECT count(*) AS n FROM ${db.table('Customer')}`)
    expect(Number(count!.n)).toBe(ROWS)
    const select = sent.filter((s) => /^SELECT/i.test(s.query.trim()) && s.query.includes('"Customer"'))
    expect(select).toHaveLength(1)
    const { query, params } = select[0]!
    expect(query).toContain('"emailIndex"')
    const values = JSON.parse(params) as unknown[]
    const plan = (await db.raw<{ 'QUERY PLAN': string }>(`EXPLAIN ${query}`, values)).map((r) => r['QUERY PLAN']).join('\n')
    expect(plan).toMatch(/Index (Only )?Scan using "?Customer_tenantId_emailIndex_key"?/)
    expect(plan).not.toMatch(/Seq Scan/)
  })
})
