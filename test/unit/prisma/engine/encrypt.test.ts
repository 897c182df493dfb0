import { checkUpdateData, encryptLegacyRow, encryptNew, encryptWithRowKey, tenantOfNewRow, touchedFields } from '../../../../src/prisma/engine/encrypt'
import { isCiphertext } from '../../../../src/envelope/ciphertext'
import { codeOf } from '../walk/fixture'
import { engineOf, info, keylessUser, migratingTable, rejectionCode, scopeAs, storedRow, TENANT_MISMATCH, TENANT_MISSING, UNSUPPORTED } from './fixture'

describe('encryptNew', () => {
  it('gives a new row the tenant, a fresh key and ciphertexts that decrypt back', async () => {
    const engine = engineOf()
    const scope = scopeAs('A')
    const data = { id: 1, name: 'n', email: 'a@x.io' }
    const a = await encryptNew(engine, info('User'), data, scope)
    const b = await encryptNew(engine, info('User'), { ...data }, scope)
    expect(a).toMatchObject({ id: 1, name: 'n', tenantId: 'A', keyVersion: 'v1' })
    expect(isCiphertext(a.email)).toBe(true)
    expect(a.wrappedDek).toBeInstanceOf(Uint8Array)
    expect(Buffer.from(a.wrappedDek as Uint8Array).equals(Buffer.from(b.wrappedDek as Uint8Array))).toBe(false)
    expect(data).toEqual({ id: 1, name: 'n', email: 'a@x.io' })
    expect(await engine.rle.decryptRow(a, { model: 'User', tenantId: 'A' })).toMatchObject({ email: 'a@x.io' })
    // The key is bound to the row id.
    expect(await rejectionCode(engine.rle.decryptRow({ ...a, id: 2 }, { model: 'User', tenantId: 'A' }))).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    expect(scope.stats.rowsEncrypted).toBe(2)
    expect(scope.written?.size).toBe(2)
  })

  it('records no written value for a call whose result holds no rows', async () => {
    const engine = engineOf()
    const scope = scopeAs('A')
    scope.resultRows = false
    const a = await encryptNew(engine, info('User'), { id: 1, name: 'n', email: 'a@x.io' }, scope)
    expect(isCiphertext(a.email)).toBe(true)
    expect(scope.written).toBeUndefined()
    expect(scope.stats.rowsEncrypted).toBe(1)
  })

  it('refuses data naming another tenant, and managed columns', async () => {
    const engine = engineOf()
    expect(await rejectionCode(encryptNew(engine, info('User'), { id: 1, email: 'e', tenantId: 'B' }, scopeAs('A')))).toBe(TENANT_MISMATCH)
    expect(await rejectionCode(encryptNew(engine, info('User'), { id: 1, email: 'e', tenantId: 'A' }, scopeAs('A')))).toBeUndefined()
    for (const column of ['wrappedDek', 'keyVersion']) {
      expect(await rejectionCode(encryptNew(engine, info('User'), { id: 1, email: 'e', [column]: 'x' }, scopeAs('A')))).toBe(UNSUPPORTED)
    }
  })

  it('inside a bypass takes the tenant the data names, and refuses data naming none', async () => {
    const engine = engineOf()
    expect(await encryptNew(engine, info('User'), { id: 1, email: 'e', tenantId: 'B' }, scopeAs(null, true))).toMatchObject({ tenantId: 'B' })
    expect(await rejectionCode(encryptNew(engine, info('User'), { id: 1, email: 'e' }, scopeAs(null, true)))).toBe(TENANT_MISSING)
  })
})

describe('tenantOfNewRow', () => {
  it("is the call's tenant, and refuses another one", () => {
    expect(tenantOfNewRow(info('Post'), {}, scopeAs('A'))).toBe('A')
    expect(codeOf(() => tenantOfNewRow(info('Post'), { tenantId: 'B' }, scopeAs('A')))).toBe(TENANT_MISMATCH)
    expect(codeOf(() => tenantOfNewRow(info('Post'), { tenantId: '' }, scopeAs(null, true)))).toBe('ERR_ROWCRYPT_TENANT_INVALID')
  })
})

describe('encryptWithRowKey', () => {
  it("encrypts the written fields under the row's own key, { set } included", async () => {
    const engine = engineOf()
    const row = await storedRow(engine, 'User', { id: 1, name: 'n', email: 'old' })
    const scope = scopeAs('A')
    const out = await encryptWithRowKey(engine, info('User').spec!, row, { email: { set: 'new' }, name: 'm' }, touchedFields(info('User'), { email: 1 }), scope)
    expect(out.name).toBe('m')
    const email = (out.email as { set: string }).set
    expect(isCiphertext(email)).toBe(true)
    expect(await engine.rle.decryptRow({ ...row, email }, { model: 'User', tenantId: 'A' })).toMatchObject({ email: 'new' })
    expect(scope.stats.rowsEncrypted).toBe(1)
  })
})

describe('encryptLegacyRow', () => {
  it('puts every encrypted field of a plaintext row under a fresh key, with a condition on it having none', async () => {
    const engine = engineOf(migratingTable)
    const spec = migratingTable.get('User')!.spec!
    const row = keylessUser(1)
    const scope = scopeAs('A')
    const { data, cas } = await encryptLegacyRow(engine, spec, row, { name: 'm' }, [], scope)
    expect(cas).toEqual({ wrappedDek: null })
    // Its stored values were taken as they are: a plaintext read, with its id.
    expect(scope.stats).toMatchObject({ rowsEncrypted: 1, rowsPlaintext: 1, plaintextRowIds: ['1'] })
    expect(data.tenantId).toBeUndefined()
    expect(data.name).toBe('m')
    expect(await engine.rle.decryptRow({ ...row, ...data }, { model: 'User', tenantId: 'A' })).toMatchObject({ email: 'plain' })
  })
})

describe('checkUpdateData', () => {
  it('refuses managed columns and operations other than { set } on encrypted fields', () => {
    for (const column of ['wrappedDek', 'keyVersion', 'tenantId']) expect(codeOf(() => checkUpdateData(info('User'), { [column]: 'x' }))).toBe(UNSUPPORTED)
    expect(codeOf(() => checkUpdateData(info('User'), { email: { increment: 1 } }))).toBe(UNSUPPORTED)
    expect(codeOf(() => checkUpdateData(info('User'), { email: { set: 'x' }, name: { set: 'y' } }))).toBeUndefined()
    // Unscoped models are not checked here.
    expect(codeOf(() => checkUpdateData(info('Team'), { name: { set: 'y' } }))).toBeUndefined()
  })
})
