// Operation events: one per guarded Prisma call, with outcome, error code and row counts, and
// never a plaintext value.
import { rowcrypt, withTenant, type OperationEvent } from '../../src'
import { DATABASES, openDatabase, type TestDatabase } from '../support/db'
import { rlsOf, testKeyProvider } from '../support/setup'

describe.each(DATABASES)('observers on %s', (kind) => {
  let db: TestDatabase
  const events: OperationEvent[] = []
  let prisma: ReturnType<typeof build>
  const build = (d: TestDatabase) =>
    d.prisma.$extends(
      rowcrypt({
        ...rlsOf(d),
        schema: d.manifest,
        keyProvider: testKeyProvider(),
        models: { User: { fields: ['email', 'ssn'] }, Post: { fields: ['title'] } },
        observers: [
          { operation: (e) => events.push(e) },
          {
            operation: () => {
              throw new Error('a broken observer')
            },
          },
        ],
      }),
    )
  beforeAll(async () => {
    db = await openDatabase(kind, 'observer')
    prisma = build(db)
  })
  afterAll(() => db.close())
  beforeEach(() => {
    events.length = 0
  })

  it('reports ok operations with rows encrypted and decrypted', async () => {
    await withTenant('obs_a', () =>
      prisma.user.createMany({
        data: [
          { name: 'a', email: 'obs-secret-1' },
          { name: 'b', email: 'obs-secret-2' },
        ],
      }),
    )
    await withTenant('obs_a', () => prisma.user.findMany())
    expect(events).toHaveLength(2)
    expect(events[0]).toMatchObject({ operation: 'createMany', model: 'User', tenantId: 'obs_a', outcome: 'ok', rowsEncrypted: 2, rowsDecrypted: 0, bypass: false })
    expect(events[1]).toMatchObject({ operation: 'findMany', model: 'User', outcome: 'ok', rowsEncrypted: 0, rowsDecrypted: 2 })
    for (const e of events) {
      expect(e.durationMs).toBeGreaterThanOrEqual(0)
      expect(e.time).toBeInstanceOf(Date)
    }
    expect(JSON.stringify(events)).not.toMatch(/obs-secret/)
  })

  it('reports tenant-scope refusals as denied and other errors as failed, with their codes', async () => {
    await expect(prisma.user.findMany()).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_TENANT_MISSING' })
    await expect(withTenant('obs_a', () => prisma.user.findMany({ where: { email: 'obs-secret-1' } }))).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_UNSUPPORTED_QUERY' })
    await expect(withTenant('obs_a', () => prisma.user.update({ where: { id: 424242 }, data: { name: 'x' } }))).rejects.toMatchObject({ code: 'P2025' })
    expect(events.map((e) => [e.operation, e.outcome, e.errorCode])).toEqual([
      ['findMany', 'denied', 'ERR_ROWCRYPT_TENANT_MISSING'],
      ['findMany', 'failed', 'ERR_ROWCRYPT_UNSUPPORTED_QUERY'],
      ['update', 'failed', 'P2025'],
    ])
    expect(events[0]!.tenantId).toBeUndefined()
    expect(JSON.stringify(events)).not.toMatch(/obs-secret/)
  })

  it('reports operations on unscoped models that reach scoped ones', async () => {
    // Team is not scoped but reaches User through `members`, so its queries are guarded too.
    await withTenant('obs_a', () => prisma.team.findMany())
    expect(events.map((e) => e.model)).toEqual(['Team'])
  })
})
