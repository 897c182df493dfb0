// What the short paths know of a model (engine/quick-model.ts): which columns create and update
// data may set there, when a call's scope lets them run, and the shapes of arguments they take.
import type { Obj } from '../../../../src/prisma/engine/context'
import { idOf, onlyPlain, plainValues, quickModel, WHERE_DATA } from '../../../../src/prisma/engine/quick-model'
import { fakeIO, info, migratingTable, scopeAs, searchableTable } from './fixture'

const columns = (m: ReadonlyMap<string, unknown>) => [...m.keys()].sort()

describe('quickModel', () => {
  const user = quickModel(info('User'), scopeAs('A'), fakeIO())!
  const post = quickModel(info('Post'), scopeAs('A'), fakeIO())!

  it('lets update data set the own columns, never the id, the tenant, the sidecars or a foreign key into a scoped model', () => {
    expect(columns(user.settable)).toEqual(['email', 'name', 'teamId'])
    expect(columns(post.settable)).toEqual(['slug', 'title'])
  })

  it('lets create data set the id and the tenant column too, never the sidecars or a foreign key into a scoped model', () => {
    expect(columns(user.creatable)).toEqual(['email', 'id', 'name', 'teamId', 'tenantId'])
    expect(columns(post.creatable)).toEqual(['id', 'slug', 'tenantId', 'title'])
  })

  it('maps encrypted text fields to their spec and other columns to null', () => {
    expect(user.creatable.get('email')).toBe(user.spec.fields.get('email'))
    expect(user.creatable.get('name')).toBeNull()
  })

  it.each([
    ['outside withTenant', null, false],
    ['inside a bypass', null, true],
  ])('takes no call %s', (_, tenant, bypass) => {
    expect(quickModel(info('User'), scopeAs(tenant, bypass), fakeIO())).toBeUndefined()
  })

  it('takes no call on a client whose default omit hides a column, or when that cannot be known', () => {
    expect(quickModel(info('User'), scopeAs('A'), fakeIO({ globallyOmitted: () => new Set(['name']) }))).toBeUndefined()
    expect(quickModel(info('User'), scopeAs('A'), { ...fakeIO(), globallyOmitted: () => undefined })).toBeUndefined()
  })

  it('takes no model in migrating mode or with a searchable field', () => {
    expect(quickModel(migratingTable.get('User')!, scopeAs('A'), fakeIO())).toBeUndefined()
    expect(quickModel(searchableTable.get('Post')!, scopeAs('A'), fakeIO())).toBeUndefined()
  })
})

describe('the shapes of arguments the short paths take', () => {
  const user = quickModel(info('User'), scopeAs('A'), fakeIO())!

  it.each<[Obj, boolean]>([
    [{ where: { id: 1 }, data: {} }, true],
    [{ where: { id: 1 }, data: undefined }, true],
    [{ where: { id: 1 }, select: { id: true } }, false],
    [{ where: { id: 1 }, data: [] }, false],
    [{ where: new Date(), data: {} }, false],
  ])('onlyPlain(%j)', (args, ok) => {
    expect(onlyPlain(args, WHERE_DATA)).toBe(ok)
  })

  it.each<[Obj | undefined, unknown]>([
    [{ id: 1 }, 1],
    [{ id: 'x' }, 'x'],
    [{ id: 1, tenantId: 'A' }, undefined],
    [{ id: { equals: 1 } }, undefined],
    [{ id: null }, undefined],
    [{}, undefined],
    [undefined, undefined],
  ])('idOf(%j)', (where, id) => {
    expect(idOf(user, where)).toBe(id)
  })

  it('plainValues gives the encrypted fields set, or undefined for data it does not take', () => {
    const email = user.spec.fields.get('email')
    expect(plainValues(user.creatable, { id: 1, name: 'n', email: 'e', teamId: null, tenantId: 'A' })).toEqual([email])
    expect(plainValues(user.creatable, { name: 'n', email: undefined })).toEqual([])
    expect(plainValues(user.creatable, { email: null })).toBeUndefined()
    expect(plainValues(user.creatable, { name: { set: 'n' } })).toBeUndefined()
    expect(plainValues(user.creatable, { wrappedDek: new Uint8Array(1) })).toBeUndefined()
    expect(plainValues(user.creatable, { posts: { create: {} } })).toBeUndefined()
    expect(plainValues(user.settable, { id: 2, email: 'e' })).toBeUndefined()
  })
})
