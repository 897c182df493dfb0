import type { Obj } from '../../../../src/prisma/engine/context'
import { decryptTree, isOtherTenants, planForResult, run } from '../../../../src/prisma/engine/decrypt'
import { encryptNew } from '../../../../src/prisma/engine/encrypt'
import { knownRow } from '../../../../src/prisma/engine/known-keys'
import { walkSelection } from '../../../../src/prisma/walk/read'
import { codeOf, table } from '../walk/fixture'
import { CIPHERTEXT_FORMAT, engineOf, info, keylessUser, migratingTable, rejectionCode, scopeAs, selecting, storedRow, TENANT_MISMATCH, UNSUPPORTED } from './fixture'

/** A fake `query` answering `result` (a copy, as a database would) and recording the arguments it got. */
function answer(result: unknown): ((args: Obj) => Promise<unknown>) & { args: Obj[] } {
  const args: Obj[] = []
  return Object.assign(async (a: Obj) => (args.push(a), structuredClone(result)), { args })
}

describe('run', () => {
  it('reads the columns decryption needs, decrypts the rows and removes the columns it added', async () => {
    const engine = engineOf()
    const row = await storedRow(engine, 'User', { id: 1, name: 'n', email: 'a@x.io' })
    const query = selecting([row])
    const scope = scopeAs('A')
    const result = await run(engine, info('User'), { select: { email: true } }, query, scope)
    expect(query.args[0]!.select).toEqual({ email: true, id: true, wrappedDek: true, keyVersion: true, tenantId: true })
    expect(result).toEqual([{ email: 'a@x.io' }])
    expect(scope.stats.rowsDecrypted).toBe(1)
  })

  it('refuses a scoped row of another tenant anywhere in the result', async () => {
    const engine = engineOf()
    const other = await storedRow(engine, 'User', { id: 2, name: 'n', email: 'b@x.io' }, 'B')
    expect(await rejectionCode(run(engine, info('User'), {}, answer([other]), scopeAs('A')))).toBe(TENANT_MISMATCH)
    const team = { id: 1, name: 't', meta: null, ownerId: null, members: [other] }
    expect(await rejectionCode(run(engine, info('Team'), { include: { members: true } }, answer([team]), scopeAs('A')))).toBe(TENANT_MISMATCH)
  })

  it('refuses a scoped row that came back without its tenant column', async () => {
    const engine = engineOf()
    const row = await storedRow(engine, 'User', { id: 1, name: 'n', email: 'a@x.io' })
    delete row.tenantId
    expect(await rejectionCode(run(engine, info('User'), {}, answer([row]), scopeAs('A')))).toBe(TENANT_MISMATCH)
  })

  it("reads an unscoped parent's to-one of another tenant as null", async () => {
    const engine = engineOf()
    const owner = await storedRow(engine, 'User', { id: 2, name: 'n', email: 'b@x.io' }, 'B')
    const team = { id: 1, name: 't', owner }
    const result = await run(engine, info('Team'), { select: { name: true, owner: true } }, answer(team), scopeAs('A'))
    expect(result).toEqual({ id: 1, name: 't', owner: null })
  })

  it("gives a fluent call's to-one row of another tenant as null, and decrypts the tenant's own", async () => {
    const engine = engineOf()
    const other = await storedRow(engine, 'User', { id: 2, name: 'n', email: 'b@x.io' }, 'B')
    const own = await storedRow(engine, 'User', { id: 3, name: 'n', email: 'c@x.io' })
    const fluent = { returned: false }
    expect(await run(engine, info('Team'), { where: { id: 1 }, select: { owner: true } }, answer(other), scopeAs('A'), fluent)).toBeNull()
    expect(fluent.returned).toBe(true)
    expect(await run(engine, info('Team'), { where: { id: 1 }, select: { owner: true } }, answer(own), scopeAs('A'))).toMatchObject({ id: 3, email: 'c@x.io' })
  })

  it('decrypts every row under its own tenant inside a bypass', async () => {
    const engine = engineOf()
    const rows = [await storedRow(engine, 'User', { id: 1, name: 'n', email: 'a@x.io' }, 'A'), await storedRow(engine, 'User', { id: 2, name: 'n', email: 'b@x.io' }, 'B')]
    const result = (await run(engine, info('User'), { omit: { tenantId: false } }, answer(rows), scopeAs(null, true))) as Obj[]
    expect(result.map((r) => [r.tenantId, r.email])).toEqual([
      ['A', 'a@x.io'],
      ['B', 'b@x.io'],
    ])
  })
})

describe('decryptTree', () => {
  it('in migrating mode counts the legacy rows read as plaintext, with their ids; a row without a key outside the legacy set fails', async () => {
    const engine = engineOf(migratingTable)
    const plan = { info: migratingTable.get('User')!, strip: [], relations: [] }
    const rows = [keylessUser(1), await storedRow(engine, 'User', { id: 2, name: 'n', email: 'sealed' })]
    const scope = scopeAs('A')
    await decryptTree(engine, plan, rows, scope)
    expect(rows.map((r) => r.email)).toEqual(['plain', 'sealed'])
    expect(scope.stats).toMatchObject({ rowsDecrypted: 1, rowsPlaintext: 1, plaintextRowIds: ['1'] })
    expect(await rejectionCode(decryptTree(engine, plan, [keylessUser(3, 'forged')], scopeAs('A')))).toBe(CIPHERTEXT_FORMAT)
  })

  it('gives back the values this call wrote without opening their key', async () => {
    const engine = engineOf()
    const scope = scopeAs('A')
    const row = await encryptNew(engine, info('User'), { id: 1, name: 'n', email: 'a@x.io' }, scope)
    const open = jest.spyOn(engine.rle, 'openRowKeySync')
    await decryptTree(engine, { info: info('User'), strip: [], relations: [] }, row, scope)
    expect(open).not.toHaveBeenCalled()
    expect(row.email).toBe('a@x.io')
    expect(scope.stats.rowsDecrypted).toBe(1)
  })

  it('decrypts a written value as usual when the stored sidecars are not the ones written', async () => {
    const engine = engineOf()
    const scope = scopeAs('A')
    const row = await encryptNew(engine, info('User'), { id: 1, name: 'n', email: 'a@x.io' }, scope)
    const rewrapped = await storedRow(engine, 'User', { id: 1, name: 'n', email: 'other' })
    const stored = { ...row, wrappedDek: rewrapped.wrappedDek }
    // The ciphertext is the one written, but under another row key: decryption fails closed.
    expect(await rejectionCode(decryptTree(engine, { info: info('User'), strip: [], relations: [] }, stored, scope))).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
  })

  it('remembers the key of each row it decrypts for the tenant, but not inside a bypass', async () => {
    const engine = engineOf()
    const row = await storedRow(engine, 'User', { id: 7, name: 'n', email: 'a@x.io' })
    await decryptTree(engine, { info: info('User'), strip: [], relations: [] }, [{ ...row }], scopeAs('A', false))
    expect(knownRow(engine, info('User'), { id: 7 }, scopeAs('A'))).toMatchObject({ id: 7, wrappedDek: row.wrappedDek })
    const bypassed = engineOf()
    await decryptTree(bypassed, { info: info('User'), strip: [], relations: [] }, [{ ...row }], scopeAs(null, true))
    expect(bypassed.knownKeys.size).toBe(0)
  })

  it('leaves rows without encrypted values alone', async () => {
    const engine = engineOf()
    const open = jest.spyOn(engine.rle, 'openRowKeySync')
    const row = { id: 1, name: 'n', email: null, tenantId: 'A', wrappedDek: null, keyVersion: null }
    await decryptTree(engine, { info: info('User'), strip: ['wrappedDek'], relations: [] }, row, scopeAs('A'))
    expect(open).not.toHaveBeenCalled()
    expect(row).toEqual({ id: 1, name: 'n', email: null, tenantId: 'A', keyVersion: null })
  })
})

describe('planForResult', () => {
  it("matches a fluent call's related rows against the plan of its one selected relation", () => {
    const args: Obj = { where: { id: 1 }, select: { posts: true } }
    const plan = walkSelection({ table, scope: scopeAs('A') }, info('User'), args, '')
    expect(planForResult(plan, { posts: [], tenantId: 'A' })).toBe(plan)
    expect(planForResult(plan, [{ id: 'p', title: 'x' }]).info.name).toBe('Post')
  })

  it('refuses a result of an unexpected shape', () => {
    const plan = walkSelection({ table, scope: scopeAs('A') }, info('User'), { select: { name: true, posts: true, team: true } }, '')
    expect(codeOf(() => planForResult(plan, { other: 1 }))).toBe(UNSUPPORTED)
  })
})

describe('isOtherTenants', () => {
  it("is true only for another tenant's row (or one without its tenant column), outside a bypass", () => {
    expect(isOtherTenants(info('User'), { tenantId: 'B' }, scopeAs('A'))).toBe(true)
    expect(isOtherTenants(info('User'), {}, scopeAs('A'))).toBe(true)
    expect(isOtherTenants(info('User'), { tenantId: 'A' }, scopeAs('A'))).toBe(false)
    expect(isOtherTenants(info('User'), null, scopeAs('A'))).toBe(false)
    expect(isOtherTenants(info('User'), { tenantId: 'B' }, scopeAs(null, true))).toBe(false)
  })
})
