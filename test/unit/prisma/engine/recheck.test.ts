import type { Engine, Obj } from '../../../../src/prisma/engine/context'
import { countMatches, indexInto, narrowToMatches, openIndexSession, runRechecked, searchableFields } from '../../../../src/prisma/engine/recheck'
import type { Recheck, Scope } from '../../../../src/prisma/scope'
import { table } from '../walk/fixture'
import { engineOf, fakeIO, rejectionCode, scopeAs, searchableTable, selecting, storedRow, UNSUPPORTED } from './fixture'

const post = searchableTable.get('Post')!
const title = post.spec!.fields.get('title')!

/** A scope as tenant A whose `where` searched `title` for `value` (strict: an untruncated index). */
function searching(value: string, strict = false): Scope {
  const scope = scopeAs('A')
  scope.rechecks.push({ field: title, accept: new Set([value]), strict } satisfies Recheck)
  return scope
}

/** Two posts of tenant A whose titles share a truncated index value (as far as these tests go). */
async function candidates(engine: Engine): Promise<Obj[]> {
  return [await storedRow(engine, 'Post', { id: 'p1', slug: 's1', title: 'other', authorId: 1 }), await storedRow(engine, 'Post', { id: 'p2', slug: 's2', title: 'hello', authorId: 1 })]
}

describe('searchableFields', () => {
  it('lists, per model, the searchable fields its relations reach', () => {
    const searchable = searchableFields(searchableTable)
    expect([...searchable].map(([m, names]) => [m, [...names]])).toEqual([
      ['Team', ['title']],
      ['User', ['title']],
      ['Post', ['title']],
      ['Profile', ['title']],
    ])
    expect(searchableFields(table).size).toBe(0)
  })
})

describe('openIndexSession', () => {
  it("opens the tenant's index keys only for a call that mentions a searchable field", async () => {
    const engine = engineOf(searchableTable)
    expect(openIndexSession(engine, 'User', { where: { name: 'x' } }, scopeAs('A'))).toBeUndefined()
    expect(openIndexSession(engine, 'Post', { where: { slug: 'title' }, orderBy: [{ id: 'asc' }] }, scopeAs('A'))).toBeUndefined()
    expect(openIndexSession(engine, 'User', { where: { posts: { some: { title: 'x' } } } }, scopeAs(null, true))).toBeUndefined()
    const session = await openIndexSession(engine, 'User', { where: { posts: { some: { title: 'x' } } } }, scopeAs('A'))
    expect(session?.tenantId).toBe('A')
    session?.dispose()
  })
})

describe('indexInto', () => {
  it("writes the active version's index of each searchable value, through the call's session when it is the tenant's", async () => {
    const engine = engineOf(searchableTable)
    const open = jest.spyOn(engine.rle.indexes!, 'session')
    const scope = scopeAs('A')
    const target: Obj = {}
    await indexInto(engine, post.spec!, 'A', { title: { set: 'hello' } }, target, scope)
    expect(target.titleIndex).toMatch(/^v1:/)
    expect(open).toHaveBeenCalledTimes(1)
    scope.idx = await engine.rle.indexes!.session('A')
    const again: Obj = {}
    await indexInto(engine, post.spec!, 'A', { title: 'hello' }, again, scope)
    expect(again.titleIndex).toBe(target.titleIndex)
    expect(open).toHaveBeenCalledTimes(2)
    scope.idx.dispose()
    const none: Obj = {}
    await indexInto(engine, post.spec!, 'A', { slug: 's' }, none, scopeAs('A'))
    expect(none).toEqual({})
  })
})

describe('runRechecked', () => {
  it("drops a truncated index's false positives, and the columns it added to read them", async () => {
    const engine = engineOf(searchableTable)
    const query = selecting(await candidates(engine))
    const result = await runRechecked(engine, post, 'findMany', { where: { tenantId: 'A' }, select: { slug: true } }, query, fakeIO(), searching('hello'))
    expect(result).toEqual([{ slug: 's2' }])
  })

  it('finds the matching ids first for a limited read, then reads exactly those', async () => {
    const engine = engineOf(searchableTable)
    const rows = await candidates(engine)
    const io = fakeIO({ readMany: async () => rows.map((r) => ({ ...r })) })
    const query = selecting([rows[1]!])
    const result = await runRechecked(engine, post, 'findFirst', { where: { tenantId: 'A' } }, async (a) => (await query(a))[0] ?? null, io, searching('hello'))
    expect(query.args[0]!.where).toEqual({ tenantId: 'A', AND: [{ id: { in: ['p2'] } }] })
    expect(result).toMatchObject({ id: 'p2', title: 'hello' })
  })

  it('refuses skip, cursor and distinct through a truncated index', async () => {
    const engine = engineOf(searchableTable)
    for (const option of [{ skip: 1 }, { cursor: { id: 'p1' } }, { distinct: ['slug'] }]) {
      expect(await rejectionCode(runRechecked(engine, post, 'findMany', { where: {}, ...option }, selecting([]), fakeIO(), searching('hello')))).toBe(UNSUPPORTED)
    }
  })

  it("fails closed on a row that does not meet an untruncated index's condition", async () => {
    const engine = engineOf(searchableTable)
    const query = selecting(await candidates(engine))
    expect(await rejectionCode(runRechecked(engine, post, 'findMany', { where: {} }, query, fakeIO(), searching('hello', true)))).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
  })
})

describe('narrowToMatches and countMatches', () => {
  it('narrow a bulk write to the matching rows, and count only those', async () => {
    const engine = engineOf(searchableTable)
    const rows = await candidates(engine)
    const io = fakeIO({ readMany: async () => rows.map((r) => ({ ...r })) })
    const args: Obj = { where: { tenantId: 'A' } }
    await narrowToMatches(engine, post, args, io, searching('hello'))
    expect(args.where).toEqual({ tenantId: 'A', AND: [{ id: { in: ['p2'] } }] })
    expect(await countMatches(engine, post, { where: { tenantId: 'A' } }, io, searching('hello'))).toBe(1)
    expect(await rejectionCode(countMatches(engine, post, { where: {}, take: 1 }, io, searching('hello')))).toBe(UNSUPPORTED)
  })
})
