import { walkReadArgs, walkSelection, wholeRowStrip } from '../../../../src/prisma/walk/read'
import { Scope } from '../../../../src/prisma/scope'
import type { Walk } from '../../../../src/prisma/walk/where'
import { codeOf, info, manifest, walkAs } from './fixture'

const UNSUPPORTED = 'ERR_ROWCRYPT_UNSUPPORTED_QUERY'
const top = { top: true, unique: false, operation: 'findMany' }

describe('walkReadArgs', () => {
  it('confines the where and the cursor of a scoped model', () => {
    const args: Record<string, unknown> = { where: { name: 'a' }, cursor: { id: 3 }, take: 2 }
    walkReadArgs(walkAs('A'), info('User'), args, top, '', true)
    expect(args).toEqual({ where: { name: 'a', tenantId: 'A' }, cursor: { id: 3, tenantId: 'A' }, take: 2 })
  })

  it('refuses an encrypted cursor or distinct', () => {
    expect(codeOf(() => walkReadArgs(walkAs('A'), info('User'), { distinct: ['email'] }, top, '', true))).toBe(UNSUPPORTED)
    expect(codeOf(() => walkReadArgs(walkAs('A'), info('User'), { cursor: { email: 'x' } }, top, '', true))).toBe(UNSUPPORTED)
  })
})

describe('walkSelection', () => {
  it('removes the columns it added last first, so result rows keep their fast shape', () => {
    // Full rows hold their keys in the model's order: the last of them goes first.
    const order = Object.keys(manifest.models.User!.fields)
    const full = walkSelection(walkAs('A'), info('User'), {}, '').strip
    expect(full.map((c) => order.indexOf(c))).toEqual([...full.map((c) => order.indexOf(c))].sort((a, b) => b - a))
    expect(full).toHaveLength(3)
    // A select's rows hold its keys in its order, the added ones after the caller's: last added first.
    const args: Record<string, unknown> = { select: { email: true } }
    const selected = walkSelection(walkAs('A'), info('User'), args, '').strip
    const keys = Object.keys(args.select as object)
    expect(selected.map((c) => keys.indexOf(c))).toEqual([...selected.map((c) => keys.indexOf(c))].sort((a, b) => b - a))
    expect(selected.length).toBeGreaterThan(1)
  })

  it('plans a read without select or omit once per client default omit, and sends each call its own omit', () => {
    const walkWith = (hidden: ReadonlySet<string> | undefined): Walk => ({ ...walkAs('A'), scope: new Scope('A', false, { rowsEncrypted: 0, rowsDecrypted: 0, rowsPlaintext: 0 }, () => hidden) })
    const none = new Set<string>()
    const hidesTenant = new Set(['tenantId'])
    const first: Record<string, unknown> = {}
    const second: Record<string, unknown> = {}
    const a = walkSelection(walkWith(none), info('User'), first, '')
    const b = walkSelection(walkWith(none), info('User'), second, '')
    expect(b.strip).toBe(a.strip)
    expect(Object.isFrozen(a.strip)).toBe(true)
    expect(a).not.toBe(b)
    // A client that hides the tenant column by default: the column is read (omit: false) and removed.
    const hidden: Record<string, unknown> = {}
    expect([...walkSelection(walkWith(hidesTenant), info('User'), hidden, '').strip].sort()).toEqual(['keyVersion', 'tenantId', 'wrappedDek'])
    expect(hidden.omit).toMatchObject({ tenantId: false })
    // Its default cannot be known: every column decryption needs is un-hidden, in an omit of this call's own.
    const unknown1: Record<string, unknown> = {}
    const unknown2: Record<string, unknown> = {}
    walkSelection(walkWith(undefined), info('User'), unknown1, '')
    walkSelection(walkWith(undefined), info('User'), unknown2, '')
    expect(unknown1.omit).toMatchObject({ tenantId: false, wrappedDek: false, keyVersion: false })
    expect(unknown1.omit).not.toBe(unknown2.omit)
    ;(unknown1.omit as Record<string, unknown>).tenantId = true
    expect(unknown2.omit).toMatchObject({ tenantId: false })
    const third: Record<string, unknown> = {}
    walkSelection(walkWith(undefined), info('User'), third, '')
    expect(third.omit).toMatchObject({ tenantId: false })
    // Back to the first client: planned as before.
    expect([...walkSelection(walkWith(none), info('User'), {}, '').strip].sort()).toEqual([...a.strip].sort())
  })

  it('knows, once per model, what a whole-row read strips on a client that hides nothing', () => {
    const none = new Set<string>()
    const walk: Walk = { ...walkAs('A'), scope: new Scope('A', false, { rowsEncrypted: 0, rowsDecrypted: 0, rowsPlaintext: 0 }, () => none) }
    for (const model of ['User', 'Post', 'Profile', 'Team']) {
      const args: Record<string, unknown> = {}
      const plan = walkSelection(walk, info(model), args, '')
      // The same columns, in the same order, as the walk of such a read; and the walk sends no omit.
      expect(args.omit).toBeUndefined()
      expect(wholeRowStrip(info(model))).toEqual(plan.strip)
    }
    expect(wholeRowStrip(info('User'))).toHaveLength(3)
    expect(Object.isFrozen(wholeRowStrip(info('User')))).toBe(true)
  })

  it("leaves rowcrypt's own columns out of full rows unless the call shows them with omit: false", () => {
    const args: Record<string, unknown> = { include: { posts: true } }
    const plan = walkSelection(walkAs('A'), info('User'), args, '')
    expect([...plan.strip].sort()).toEqual(['keyVersion', 'tenantId', 'wrappedDek'])
    expect([...plan.relations[0]!.plan.strip].sort()).toEqual(['keyVersion', 'tenantId', 'wrappedDek'])
    const shown: Record<string, unknown> = { omit: { tenantId: false, name: true } }
    expect([...walkSelection(walkAs('A'), info('User'), shown, '').strip].sort()).toEqual(['keyVersion', 'wrappedDek'])
    expect(shown.omit).toEqual({ tenantId: false, name: true })
    // An explicit select is what the caller gets.
    const selected: Record<string, unknown> = { select: { tenantId: true, email: true } }
    expect([...walkSelection(walkAs('A'), info('User'), selected, '').strip].sort()).toEqual(['id', 'keyVersion', 'wrappedDek'])
  })

  it('confines to-many relations and relation counts into scoped models, at any depth', () => {
    const args: Record<string, unknown> = { include: { members: { include: { posts: { where: { slug: 's' } } } }, _count: true } }
    const plan = walkSelection(walkAs('A'), info('Team'), args, '')
    expect(args.include).toEqual({
      members: { where: { tenantId: 'A' }, include: { posts: { where: { slug: 's', tenantId: 'A' } } } },
      _count: { select: { members: { where: { tenantId: 'A' } } } },
    })
    expect(plan.relations.map((r) => r.field)).toEqual(['members'])
  })

  it('marks a to-one into a scoped model from an unscoped one: another tenant row reads as null', () => {
    const args: Record<string, unknown> = { select: { name: true, owner: true, profile: { select: { id: true } } } }
    const plan = walkSelection(walkAs('A'), info('Team'), args, '')
    expect(plan.relations.map((r) => [r.field, r.plan.otherTenantIsNull])).toEqual([
      ['owner', true],
      ['profile', true],
    ])
    // The tenant column is read for the check, and removed from the result again.
    expect(args.select).toEqual({ name: true, owner: true, profile: { select: { id: true, tenantId: true } } })
    const postArgs: Record<string, unknown> = { include: { author: true } }
    expect(walkSelection(walkAs('A'), info('Post'), postArgs, '').relations[0]!.plan.otherTenantIsNull).toBeUndefined()
  })

  it('refuses the fluent shape (one relation selected alone) with relations under a to-one into a scoped model from an unscoped one', () => {
    const w = walkAs('A')
    expect(codeOf(() => walkSelection(w, info('Team'), { select: { owner: { select: { posts: true } } } }, ''))).toBe(UNSUPPORTED)
    expect(codeOf(() => walkSelection(w, info('Team'), { select: { owner: { select: { posts: true, name: true } } } }, ''))).toBe(UNSUPPORTED)
    expect(codeOf(() => walkSelection(w, info('Team'), { select: { owner: { include: { team: true } } } }, ''))).toBe(UNSUPPORTED)
    expect(codeOf(() => walkSelection(w, info('User'), { select: { team: { select: { owner: { select: { posts: true } } } } } }, ''))).toBe(UNSUPPORTED)
    // Not the fluent shape: the row in between comes back and is checked.
    expect(codeOf(() => walkSelection(w, info('Team'), { select: { name: true, owner: { select: { posts: true } } } }, ''))).toBeUndefined()
    expect(codeOf(() => walkSelection(w, info('Team'), { include: { owner: { include: { posts: true } } } }, ''))).toBeUndefined()
    // The last level of a chain, or a scoped parent: fine.
    expect(codeOf(() => walkSelection(w, info('Team'), { select: { owner: { select: { name: true } } } }, ''))).toBeUndefined()
    expect(codeOf(() => walkSelection(w, info('Post'), { select: { author: { select: { posts: true } } } }, ''))).toBeUndefined()
  })

  it('refuses unknown keys in select, include, omit and relation arguments', () => {
    const w = walkAs('A')
    expect(codeOf(() => walkSelection(w, info('User'), { select: { nope: true } }, ''))).toBe(UNSUPPORTED)
    expect(codeOf(() => walkSelection(w, info('User'), { include: { name: true } }, ''))).toBe(UNSUPPORTED)
    expect(codeOf(() => walkSelection(w, info('User'), { omit: { posts: true } }, ''))).toBe(UNSUPPORTED)
    expect(codeOf(() => walkSelection(w, info('Team'), { include: { owner: { where: { name: 'x' } } } }, ''))).toBe(UNSUPPORTED)
    expect(codeOf(() => walkSelection(w, info('Team'), { include: { members: { having: {} } } }, ''))).toBe(UNSUPPORTED)
    expect(codeOf(() => walkSelection(w, info('Team'), { include: { _count: { select: { owner: true } } } }, ''))).toBe(UNSUPPORTED)
    expect(codeOf(() => walkSelection(w, info('Team'), { select: { _count: { where: {} } } }, ''))).toBe(UNSUPPORTED)
  })

  it('refuses an empty selection, at any depth', () => {
    expect(codeOf(() => walkSelection(walkAs('A'), info('User'), { select: { name: false } }, ''))).toBe(UNSUPPORTED)
    expect(codeOf(() => walkSelection(walkAs('A'), info('User'), { select: { name: true, team: { select: { name: false } } } }, ''))).toBe(UNSUPPORTED)
    expect(codeOf(() => walkSelection(walkAs('A'), info('User'), { select: { name: true, team: { select: { name: true } } } }, ''))).toBeUndefined()
  })

  it('fails closed without a tenant when a selection reaches a scoped model', () => {
    expect(codeOf(() => walkSelection(walkAs(null), info('Team'), { include: { members: true } }, ''))).toBe('ERR_ROWCRYPT_TENANT_MISSING')
  })
})
