import { walkWhere, confine } from '../../../../src/prisma/walk/where'
import { NESTED } from '../../../../src/prisma/walk/search'
import { codeOf, info, walkAs } from './fixture'

const UNSUPPORTED = 'ERR_ROWCRYPT_UNSUPPORTED_QUERY'
const top = { top: true, unique: false, operation: 'findMany' }

describe('walkWhere: keys it does not know are refused, naming their path', () => {
  it.each([
    ['an unknown top-level key', { bogus: 1 }, 'where.bogus'],
    ['an unknown scalar operator', { name: { similarTo: 'x' } }, 'where.name.similarTo'],
    ['an unknown key inside a relation filter', { members: { some: { nope: true } } }, 'where.members.some.nope'],
    ['an unknown to-many operator', { members: { any: {} } }, 'where.members.any'],
    ['an unknown key inside NOT', { NOT: [{ name: 'x' }, { wat: 1 }] }, 'where.NOT[1].wat'],
    ['a compound unique outside a unique where', { authorId_slug: { authorId: 1, slug: 's' } }, 'where.authorId_slug'],
  ])('%s', (_, where, path) => {
    const model = 'members' in where || 'NOT' in where || 'name' in where || 'bogus' in where ? 'Team' : 'Post'
    let error: unknown
    try {
      walkWhere(walkAs(), info(model), where, top, 'where')
    } catch (e) {
      error = e
    }
    expect((error as { code?: string }).code).toBe(UNSUPPORTED)
    expect((error as Error).message).toContain(path)
  })

  it('refuses a filter that is not an object, and encrypted fields compared in the database', () => {
    expect(codeOf(() => walkWhere(walkAs(), info('User'), 'x', top, 'where'))).toBe(UNSUPPORTED)
    expect(codeOf(() => walkWhere(walkAs(), info('User'), { email: 'a@x' }, top, 'where'))).toBe(UNSUPPORTED)
    expect(codeOf(() => walkWhere(walkAs(), info('Team'), { members: { some: { email: { contains: 'a' } } } }, top, 'where'))).toBe(UNSUPPORTED)
    // A field reference to an encrypted field compares ciphertexts.
    const ref = Object.assign(Object.create({ kind: 'FieldRef' }) as object, { modelName: 'User', name: 'email' })
    expect(codeOf(() => walkWhere(walkAs(), info('User'), { name: { equals: ref } }, top, 'where'))).toBe(UNSUPPORTED)
    const plainRef = Object.assign(Object.create({ kind: 'FieldRef' }) as object, { modelName: 'User', name: 'name' })
    expect(codeOf(() => walkWhere(walkAs(), info('User'), { tenantId: { equals: plainRef } }, top, 'where'))).toBeUndefined()
  })

  it('accepts the filters Prisma defines, values of every kind included', () => {
    const where = {
      AND: [{ name: { startsWith: 'a', mode: 'insensitive' } }, { id: { in: [1, 2] } }],
      OR: { name: { not: { equals: 'b' } } },
      NOT: { meta: { path: ['a'], equals: { b: 1 } } },
      id: { gte: 1, lt: 10 },
    }
    expect(walkWhere(walkAs(), info('Team'), where, top, 'where')).toEqual(where)
  })

  it('accepts a compound unique input in a unique where, and refuses unknown fields inside it', () => {
    const unique = { top: true, unique: true, operation: 'findUnique' }
    expect(walkWhere(walkAs(), info('Post'), { authorId_slug: { authorId: 1, slug: 's' } }, unique, 'where')).toEqual({ authorId_slug: { authorId: 1, slug: 's' } })
    expect(codeOf(() => walkWhere(walkAs(), info('Post'), { authorId_slug: { authorId: 1, title: 's' } }, unique, 'where'))).toBe(UNSUPPORTED)
  })
})

describe('walkWhere: relation filters into scoped models see only the tenant', () => {
  it('confines some / none / is / isNot and keeps every true for other tenants', () => {
    const out = walkWhere(walkAs('A'), info('Team'), { members: { some: { name: 'x' }, none: {}, every: { name: 'y' } }, owner: { isNot: { name: 'z' } } }, top, 'where')
    expect(out).toEqual({
      members: { some: { name: 'x', tenantId: 'A' }, none: { tenantId: 'A' }, every: { OR: [{ tenantId: { not: 'A' } }, { name: 'y' }] } },
      owner: { isNot: { name: 'z', tenantId: 'A' } },
    })
  })

  it('turns the to-one shorthand into a confined is', () => {
    expect(walkWhere(walkAs('A'), info('Team'), { owner: { name: 'x' } }, top, 'where')).toEqual({ owner: { is: { name: 'x', tenantId: 'A' } } })
  })

  it('asks the null forms about the tenant rows only', () => {
    // "no profile" = "no profile of the tenant": another tenant's profile reads like none.
    expect(walkWhere(walkAs('A'), info('Team'), { profile: null }, top, 'where')).toEqual({ AND: [{ NOT: [{ profile: { is: { tenantId: 'A' } } }] }] })
    expect(walkWhere(walkAs('A'), info('Team'), { profile: { is: null } }, top, 'where')).toEqual({ AND: [{ NOT: [{ profile: { is: { tenantId: 'A' } } }] }] })
    expect(walkWhere(walkAs('A'), info('Team'), { owner: { isNot: null } }, top, 'where')).toEqual({ AND: [{ owner: { is: { tenantId: 'A' } } }] })
    // From a scoped model through an unscoped one: Team is shared, so its null form is untouched.
    expect(walkWhere(walkAs('A'), info('User'), { team: null }, top, 'where')).toEqual({ team: { is: null } })
  })

  it('confines relation filters nested in an unscoped model reached from a scoped one', () => {
    const out = walkWhere(walkAs('A'), info('User'), { team: { is: { members: { some: { name: 'n' } } } } }, top, 'where')
    expect(out).toEqual({ team: { is: { members: { some: { name: 'n', tenantId: 'A' } } } } })
  })

  it('adds nothing inside an explicit bypass, and fails closed without a tenant', () => {
    expect(walkWhere(walkAs(null, true), info('Team'), { profile: null, members: { every: {} } }, top, 'where')).toEqual({ profile: { is: null }, members: { every: {} } })
    expect(codeOf(() => walkWhere(walkAs(null), info('Team'), { members: { some: {} } }, top, 'where'))).toBe('ERR_ROWCRYPT_TENANT_MISSING')
  })

  it('confine adds the tenant to a scoped model only, beside an existing condition on the column', () => {
    const w = walkAs('A')
    expect(confine(w, info('User'), undefined)).toEqual({ tenantId: 'A' })
    expect(confine(w, info('User'), { tenantId: 'B' })).toEqual({ tenantId: 'B', AND: [{ tenantId: 'A' }] })
    expect(confine(w, info('Team'), { name: 'x' })).toEqual({ name: 'x' })
    expect(walkWhere(w, info('Team'), undefined, NESTED, 'where')).toBeUndefined()
  })
})
