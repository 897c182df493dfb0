import { checkAggregateSelections, checkCountSelect, checkFieldList, checkOrderBy } from '../../../../src/prisma/walk/order'
import { codeOf, info, walkAs } from './fixture'

const UNSUPPORTED = 'ERR_ROWCRYPT_UNSUPPORTED_QUERY'

describe('checkOrderBy', () => {
  it('accepts scalar sorts, nulls, relation sorts within scope and arrays of them', () => {
    const w = walkAs('A')
    expect(codeOf(() => checkOrderBy(w, info('User'), [{ name: 'asc' }, { teamId: { sort: 'desc', nulls: 'last' } }], 'orderBy'))).toBeUndefined()
    expect(codeOf(() => checkOrderBy(w, info('Post'), { author: { name: 'asc' } }, 'orderBy'))).toBeUndefined()
    expect(codeOf(() => checkOrderBy(w, info('User'), { posts: { _count: 'desc' } }, 'orderBy'))).toBeUndefined()
    expect(codeOf(() => checkOrderBy(w, info('User'), { team: { name: 'asc' } }, 'orderBy'))).toBeUndefined()
  })

  it('refuses sorting by another model through a to-one from an unscoped model into a scoped one, at any depth', () => {
    const w = walkAs('A')
    expect(codeOf(() => checkOrderBy(w, info('Team'), { owner: { name: 'asc' } }, 'orderBy'))).toBe(UNSUPPORTED)
    expect(codeOf(() => checkOrderBy(w, info('Team'), { profile: { id: 'asc' } }, 'orderBy'))).toBe(UNSUPPORTED)
    expect(codeOf(() => checkOrderBy(w, info('User'), { team: { owner: { tenantId: 'asc' } } }, 'orderBy'))).toBe(UNSUPPORTED)
    expect(codeOf(() => checkOrderBy(w, info('Team'), { members: { _count: 'asc' } }, 'orderBy'))).toBe(UNSUPPORTED)
    // Inside an explicit bypass there is no tenant to confine to.
    expect(codeOf(() => checkOrderBy(walkAs(null, true), info('Team'), { owner: { name: 'asc' } }, 'orderBy'))).toBeUndefined()
  })

  it('refuses encrypted fields, unknown keys and malformed sorts', () => {
    const w = walkAs('A')
    expect(codeOf(() => checkOrderBy(w, info('User'), { email: 'asc' }, 'orderBy'))).toBe(UNSUPPORTED)
    expect(codeOf(() => checkOrderBy(w, info('Post'), { author: { email: 'asc' } }, 'orderBy'))).toBe(UNSUPPORTED)
    expect(codeOf(() => checkOrderBy(w, info('User'), { _relevance: { fields: ['name'], search: 'x', sort: 'asc' } }, 'orderBy'))).toBe(UNSUPPORTED)
    expect(codeOf(() => checkOrderBy(w, info('User'), { name: 'sideways' }, 'orderBy'))).toBe(UNSUPPORTED)
    expect(codeOf(() => checkOrderBy(w, info('User'), { name: { sort: 'asc', extra: 1 } }, 'orderBy'))).toBe(UNSUPPORTED)
    expect(codeOf(() => checkOrderBy(w, info('User'), { posts: { title: 'asc' } }, 'orderBy'))).toBe(UNSUPPORTED)
  })

  it('groupBy sorts by aggregates, never of an encrypted field (but its count)', () => {
    const w = walkAs('A')
    expect(codeOf(() => checkOrderBy(w, info('User'), { _max: { teamId: 'asc' } }, 'orderBy', true))).toBeUndefined()
    expect(codeOf(() => checkOrderBy(w, info('User'), { _count: { email: 'asc' } }, 'orderBy', true))).toBeUndefined()
    expect(codeOf(() => checkOrderBy(w, info('User'), { _min: { email: 'asc' } }, 'orderBy', true))).toBe(UNSUPPORTED)
    expect(codeOf(() => checkOrderBy(w, info('User'), { team: { name: 'asc' } }, 'orderBy', true))).toBe(UNSUPPORTED)
  })
})

describe('field lists and aggregate selections', () => {
  it('distinct and by take scalar fields that are not encrypted', () => {
    expect(codeOf(() => checkFieldList(info('User'), ['name', 'teamId'], 'by'))).toBeUndefined()
    expect(codeOf(() => checkFieldList(info('User'), 'email', 'distinct'))).toBe(UNSUPPORTED)
    expect(codeOf(() => checkFieldList(info('User'), ['posts'], 'by'))).toBe(UNSUPPORTED)
  })

  it('aggregates refuse encrypted fields except in _count', () => {
    expect(codeOf(() => checkAggregateSelections(info('User'), { _count: { _all: true, email: true }, _max: { teamId: true } }))).toBeUndefined()
    expect(codeOf(() => checkAggregateSelections(info('User'), { _min: { email: true } }))).toBe(UNSUPPORTED)
    expect(codeOf(() => checkAggregateSelections(info('User'), { _sum: { nope: true } }))).toBe(UNSUPPORTED)
    expect(codeOf(() => checkCountSelect(info('User'), { _all: true, name: true }))).toBeUndefined()
    expect(codeOf(() => checkCountSelect(info('User'), { posts: true }))).toBe(UNSUPPORTED)
  })
})
