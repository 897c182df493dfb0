import { writeContext } from '../../../../src/prisma/engine/context'
import { checkForeignKeys, runForeignKeyChecks } from '../../../../src/prisma/engine/foreign-keys'
import { fakeIO, info, rejectionCode, scopeAs, TENANT_MISSING, UNSUPPORTED } from './fixture'

const FOREIGN_KEY = 'P2003'

describe('checkForeignKeys', () => {
  it("refuses a foreign key naming no row of the tenant, read with the tenant's condition", async () => {
    const io = fakeIO({ exists: async () => false })
    expect(await rejectionCode(checkForeignKeys(info('Post'), [{ authorId: 7 }], scopeAs('A'), io))).toBe(FOREIGN_KEY)
    expect(io.calls).toEqual([['exists', 'User', { id: 7, tenantId: 'A' }]])
  })

  it('reads each distinct key once, in a plain value or { set }, and passes when the row is there', async () => {
    const io = fakeIO({ exists: async () => true })
    await checkForeignKeys(info('Post'), [{ authorId: 7 }, { authorId: { set: 7 } }, { authorId: 8 }], scopeAs('A'), io)
    expect(io.calls.map((c) => c[2])).toEqual([
      { id: 7, tenantId: 'A' },
      { id: 8, tenantId: 'A' },
    ])
  })

  it('checks unscoped rows pointing into scoped models too', async () => {
    const io = fakeIO({ exists: async () => false })
    expect(await rejectionCode(checkForeignKeys(info('Team'), [{ ownerId: 3 }], scopeAs('A'), io))).toBe(FOREIGN_KEY)
    expect(await rejectionCode(checkForeignKeys(info('Team'), [{ ownerId: 3 }], scopeAs(null), io))).toBe(TENANT_MISSING)
  })

  it('reads nothing for null or absent keys, or inside a bypass', async () => {
    const io = fakeIO()
    await checkForeignKeys(info('Post'), [{ authorId: null }, { title: 'x' }, 'not a row'], scopeAs('A'), io)
    await checkForeignKeys(info('Post'), [{ authorId: 7 }], scopeAs(null, true), io)
    expect(io.calls).toEqual([])
  })

  it('refuses a foreign key written as an operation', async () => {
    expect(await rejectionCode(checkForeignKeys(info('Post'), [{ authorId: { increment: 1 } }], scopeAs('A'), fakeIO()))).toBe(UNSUPPORTED)
  })
})

describe('runForeignKeyChecks', () => {
  it('checks every row a write collected', async () => {
    const io = fakeIO({ exists: async (_model, where) => where.id === 1 })
    const ctx = writeContext(scopeAs('A'), io)
    ctx.foreignKeys.push([info('User'), { teamId: 4 }], [info('Post'), { authorId: 1 }])
    await runForeignKeyChecks(ctx)
    ctx.foreignKeys.push([info('Post'), { authorId: 2 }])
    expect(await rejectionCode(runForeignKeyChecks(ctx) ?? Promise.resolve())).toBe(FOREIGN_KEY)
    expect(io.calls.map((c) => c[2])).toEqual([
      { id: 1, tenantId: 'A' },
      { id: 1, tenantId: 'A' },
      { id: 2, tenantId: 'A' },
    ])
  })

  it('gives nothing to wait for when no row has a foreign key', () => {
    const ctx = writeContext(scopeAs('A'), fakeIO())
    expect(runForeignKeyChecks(ctx)).toBeUndefined()
  })
})
