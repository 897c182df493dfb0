import { writeContext, type Obj } from '../../../../src/prisma/engine/context'
import { confineFilter, refuseDisplacing, relatedIsTenants, relatedReader, scopedSet } from '../../../../src/prisma/engine/relations'
import { codeOf } from '../walk/fixture'
import { engineOf, fakeIO, info, rejectionCode, scopeAs, UNSUPPORTED } from './fixture'

const ctxOf = (readOwner?: (select: Obj) => Promise<Obj | null>, tenantId: string | null = 'A', bypass = false) => ({ ...writeContext(scopeAs(tenantId, bypass), fakeIO()), readOwner })

describe('confineFilter', () => {
  it("adds the tenant to a scoped model's filter and refuses encrypted fields without an index", () => {
    expect(confineFilter(engineOf(), info('User'), { id: 1 }, scopeAs('A'), true)).toEqual({ id: 1, tenantId: 'A' })
    expect(codeOf(() => confineFilter(engineOf(), info('User'), { email: 'x' }, scopeAs('A'), false))).toBe(UNSUPPORTED)
  })
})

describe('relatedReader', () => {
  it("reads the owner's related row with its tenant column, and gives another tenant's as null", async () => {
    const selects: Obj[] = []
    let owner: Obj = { tenantId: 'A', id: 1 }
    const read = relatedReader(
      'owner',
      info('User'),
      ctxOf(async (select) => (selects.push(select), { owner })),
    )
    expect(await read({ id: true })).toEqual(owner)
    expect(selects).toEqual([{ owner: { select: { id: true, tenantId: true } } }])
    owner = { tenantId: 'B', id: 2 }
    expect(await read({ id: true })).toBeNull()
    expect(
      await relatedIsTenants(
        'owner',
        info('User'),
        ctxOf(async () => ({ owner })),
      ),
    ).toBe(false)
  })

  it('reads nothing in a create (no owner row yet)', async () => {
    expect(await relatedReader('owner', info('User'), ctxOf())({ id: true })).toBeNull()
  })
})

describe('refuseDisplacing', () => {
  const profileTeam = info('Profile').relations.get('team')!
  const teamProfile = info('Team').relations.get('profile')!

  it('refuses taking a one-to-one slot that may hold another tenant row', () => {
    // A scoped row connecting to an unscoped one through its unique foreign key.
    expect(codeOf(() => refuseDisplacing(info('Profile'), 'team', profileTeam, info('Team'), 'connect', ctxOf()))).toBe(UNSUPPORTED)
    // An existing unscoped row taking a new scoped holder through its back relation.
    expect(
      codeOf(() =>
        refuseDisplacing(
          info('Team'),
          'profile',
          teamProfile,
          info('Profile'),
          'create',
          ctxOf(async () => null),
        ),
      ),
    ).toBe(UNSUPPORTED)
  })

  it('lets a new unscoped row, a bypass and relations that are not one-to-one through', () => {
    expect(codeOf(() => refuseDisplacing(info('Team'), 'profile', teamProfile, info('Profile'), 'create', ctxOf()))).toBeUndefined()
    expect(codeOf(() => refuseDisplacing(info('Profile'), 'team', profileTeam, info('Team'), 'connect', ctxOf(undefined, null, true)))).toBeUndefined()
    expect(codeOf(() => refuseDisplacing(info('Post'), 'author', info('Post').relations.get('author')!, info('User'), 'connect', ctxOf()))).toBeUndefined()
  })
})

describe('scopedSet', () => {
  it("disconnects the tenant's current rows not in the list and connects the list, confined", async () => {
    const selects: Obj[] = []
    const ctx = ctxOf(async (select) => (selects.push(select), { members: [{ id: 1 }, { id: 2 }] }))
    expect(await scopedSet(engineOf(), info('Team'), 'members', info('User'), [{ id: 2 }, { id: 3 }], ctx)).toEqual({
      connect: [
        { id: 2, tenantId: 'A' },
        { id: 3, tenantId: 'A' },
      ],
      disconnect: [{ id: 1 }],
    })
    expect(selects).toEqual([{ members: { where: { tenantId: 'A' }, select: { id: true } } }])
  })

  it('needs an existing row and every item named by its id', async () => {
    expect(await rejectionCode(scopedSet(engineOf(), info('Team'), 'members', info('User'), [{ id: 1 }], ctxOf()))).toBe(UNSUPPORTED)
    expect(
      await rejectionCode(
        scopedSet(
          engineOf(),
          info('Team'),
          'members',
          info('User'),
          [{ name: 'n' }],
          ctxOf(async () => null),
        ),
      ),
    ).toBe(UNSUPPORTED)
  })
})
