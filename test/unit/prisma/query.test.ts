import { LocalKeyProvider, withTenant } from '../../../src'
import { RowLevelEncryption } from '../../../src/fields/row'
import { IndexSession } from '../../../src/fields/blind-index'
import type { ModelSpec } from '../../../src/fields/spec'
import { buildModelTable, type ModelInfo, type RowcryptOptions } from '../../../src/prisma/config'
import type { Obj } from '../../../src/prisma/engine/context'
import { QueryEngine } from '../../../src/prisma/query'
import { engineOf, fakeIO, withIndexColumn, rejectionCode, selecting, storedRow, TENANT_MISSING, UNSUPPORTED } from './engine/fixture'
import { table } from './walk/fixture'

const stats = () => ({ rowsEncrypted: 0, rowsDecrypted: 0, rowsPlaintext: 0 })
const keyProvider = new LocalKeyProvider({ keys: { v1: Buffer.alloc(32, 7), v2: Buffer.alloc(32, 8) }, activeVersion: 'v1' })

function engineFor(t: ReadonlyMap<string, ModelInfo>, blindIndex?: { keyVersion: string; previousKeyVersions?: string[] }): QueryEngine {
  const specs = [...t.values()].map((m) => m.spec).filter((s): s is ModelSpec => s !== undefined)
  return new QueryEngine(t, RowLevelEncryption.fromSpecs(keyProvider, specs, blindIndex))
}

/** User.email searchable through `emailIndex`, unique per tenant. */
const uniqueEmail: ReadonlyMap<string, ModelInfo> = buildModelTable({
  schema: withIndexColumn('User', 'emailIndex', [{ fields: ['tenantId', 'emailIndex'] }]),
  keyProvider,
  blindIndex: { keyVersion: 'v2', previousKeyVersions: ['v1'] },
  models: { User: { fields: [{ name: 'email', searchable: true }] }, Post: { fields: ['title'] }, Profile: { fields: ['bio'] } },
} as unknown as RowcryptOptions)

describe('QueryEngine', () => {
  it('passes through calls on no model or on models that reach no scoped one', () => {
    const engine = engineFor(table)
    expect(engine.passThrough(undefined)).toBe(true)
    expect(engine.passThrough('Elsewhere')).toBe(true)
    expect(engine.passThrough('Team')).toBe(false)
  })

  it('refuses a scoped model outside a tenant, an unknown operation and an unknown argument, before any query', async () => {
    const engine = engineFor(table)
    const query = selecting([])
    expect(await rejectionCode(engine.handle('User', 'findMany', {}, query, fakeIO(), stats()))).toBe(TENANT_MISSING)
    expect(await rejectionCode(withTenant('A', () => engine.handle('User', 'findRaw', {}, query, fakeIO(), stats())))).toBe(UNSUPPORTED)
    expect(await rejectionCode(withTenant('A', () => engine.handle('User', 'findMany', { having: {} }, query, fakeIO(), stats())))).toBe(UNSUPPORTED)
    expect(query.args).toEqual([])
  })

  it('refuses a create whose selection it cannot serve before reading the row its foreign key points at', async () => {
    const engine = engineFor(table)
    const query = selecting([])
    const io = fakeIO()
    // authorId is a foreign key written directly: rowcrypt reads its row to check its tenant.
    const args = { data: { id: 'p1', slug: 's', title: 't', authorId: 1 }, include: { author: { include: { posts: { orderBy: { title: 'asc' } } } } } }
    expect(await rejectionCode(withTenant('A', () => engine.handle('Post', 'create', args, query, io, stats())))).toBe(UNSUPPORTED)
    expect(io.calls).toEqual([])
    expect(query.args).toEqual([])
  })

  it('confines and decrypts a read', async () => {
    const engine = engineFor(table)
    const query = selecting([await storedRow(engineOf(), 'User', { id: 1, name: 'n', email: 'a@x.io' })])
    const result = await withTenant('A', () => engine.handle('User', 'findMany', { where: { name: 'n' } }, query, fakeIO(), stats()))
    expect(query.args[0]!.where).toEqual({ name: 'n', tenantId: 'A' })
    expect(result).toMatchObject([{ id: 1, email: 'a@x.io' }])
  })

  it("checks a create's foreign keys once its data is encrypted, before the query", async () => {
    const engine = engineFor(table)
    const query = selecting([])
    const io = fakeIO({ exists: async () => false })
    expect(await rejectionCode(withTenant('A', () => engine.handle('Post', 'create', { data: { id: 'p', slug: 's', title: 't', authorId: 9 } }, query, io, stats())))).toBe('P2003')
    expect(query.args).toEqual([])
  })

  it('encrypts each row of a createMany and returns what the query returns', async () => {
    const engine = engineFor(table)
    const s = stats()
    const answer = { count: 2 }
    let sent: Obj | undefined
    const result = await withTenant('A', () =>
      engine.handle(
        'User',
        'createMany',
        {
          data: [
            { id: 1, email: 'a' },
            { id: 2, email: 'b' },
          ],
        },
        async (a) => ((sent = a), answer),
        fakeIO(),
        s,
      ),
    )
    expect(result).toBe(answer)
    expect((sent!.data as Obj[]).map((d) => d.tenantId)).toEqual(['A', 'A'])
    expect(s.rowsEncrypted).toBe(2)
  })

  it('refuses an updateMany that sets encrypted fields', async () => {
    const engine = engineFor(table)
    expect(await rejectionCode(withTenant('A', () => engine.handle('User', 'updateMany', { where: {}, data: { email: 'x' } }, selecting([]), fakeIO(), stats())))).toBe(UNSUPPORTED)
  })

  it('confines groupBy, and its having', async () => {
    const engine = engineFor(table)
    let sent: Obj | undefined
    await withTenant('A', () => engine.handle('Post', 'groupBy', { by: ['slug'], where: { slug: 's' }, having: { slug: { not: 'x' } } }, async (a) => ((sent = a), []), fakeIO(), stats()))
    expect(sent!.where).toEqual({ slug: 's', tenantId: 'A' })
  })

  describe('findUnique by a searchable field while several index versions are searchable', () => {
    it("tries each version in turn, and disposes of the call's index keys", async () => {
      const engine = engineFor(uniqueEmail, { keyVersion: 'v2', previousKeyVersions: ['v1'] })
      const dispose = jest.spyOn(IndexSession.prototype, 'dispose')
      const row = await storedRow(engineOf(), 'User', { id: 1, name: 'n', email: 'a@x.io' })
      const wheres: Obj[] = []
      const query = async (a: Obj) => (wheres.push(a.where as Obj), wheres.length === 1 ? null : { ...row })
      const result = await withTenant('A', () => engine.handle('User', 'findUnique', { where: { email: 'a@x.io' } }, query, fakeIO(), stats()))
      expect(result).toMatchObject({ id: 1, email: 'a@x.io' })
      expect(wheres.map((w) => ((w.tenantId_emailIndex as Obj).emailIndex as string).slice(0, 3))).toEqual(['v2:', 'v1:'])
      expect(dispose).toHaveBeenCalledTimes(1)
      dispose.mockRestore()
    })

    it('tries the next version after P2025, and refuses inside a batch', async () => {
      const engine = engineFor(uniqueEmail, { keyVersion: 'v2', previousKeyVersions: ['v1'] })
      let calls = 0
      const notFound = async () => {
        calls++
        throw Object.assign(new Error('not found'), { code: 'P2025' })
      }
      expect(await rejectionCode(withTenant('A', () => engine.handle('User', 'findUniqueOrThrow', { where: { email: 'a@x.io' } }, notFound, fakeIO(), stats())))).toBe('P2025')
      expect(calls).toBe(2)
      expect(await rejectionCode(withTenant('A', () => engine.handle('User', 'findUnique', { where: { email: 'a@x.io' } }, notFound, fakeIO({ inBatch: () => true }), stats())))).toBe(UNSUPPORTED)
      expect(calls).toBe(2)
    })
  })
})
