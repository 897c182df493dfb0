import { forgetKey, KNOWN_KEYS_PER_CALL, knownRow, rememberKey, rememberReadKey } from '../../../../src/prisma/engine/known-keys'
import { engineOf, info, scopeAs } from './fixture'

const spec = info('User').spec!
const row = { id: 7, wrappedDek: new Uint8Array([1, 2]), keyVersion: 'v1', tenantId: 'A' }

describe('known keys', () => {
  it("give back a remembered row's sidecars for an update naming it by id alone, for its tenant only", () => {
    const engine = engineOf()
    rememberKey(engine, spec, 'A', row)
    expect(knownRow(engine, info('User'), { id: 7 }, scopeAs('A'))).toEqual(row)
    expect(knownRow(engine, info('User'), { id: 7 }, scopeAs('B'))).toBeUndefined()
    expect(knownRow(engine, info('User'), { id: 7, name: 'n' }, scopeAs('A'))).toBeUndefined()
    expect(knownRow(engine, info('User'), { id: { equals: 7 } }, scopeAs('A'))).toBeUndefined()
    expect(knownRow(engine, info('User'), { id: 7 }, scopeAs(null, true))).toBeUndefined()
    forgetKey(engine, spec, 'A', 7)
    expect(knownRow(engine, info('User'), { id: 7 }, scopeAs('A'))).toBeUndefined()
  })

  it('serve an entry only to its own model and tenant, and keep one entry for a row read again', () => {
    const engine = engineOf()
    rememberKey(engine, info('Post').spec!, 'A', row)
    expect(knownRow(engine, info('User'), { id: 7 }, scopeAs('A'))).toBeUndefined()
    rememberKey(engine, spec, 'A', row)
    rememberKey(engine, spec, 'A', { ...row, wrappedDek: new Uint8Array([1, 2]) })
    expect(engine.knownKeys.size).toBe(1)
    expect(knownRow(engine, info('User'), { id: 7 }, scopeAs('A'))).toEqual(row)
    // A row read with another key replaces the entry.
    rememberKey(engine, spec, 'A', { ...row, wrappedDek: new Uint8Array([3]) })
    expect(knownRow(engine, info('User'), { id: 7 }, scopeAs('A'))?.wrappedDek).toEqual(new Uint8Array([3]))
    // Forgetting another tenant's row leaves this one.
    forgetKey(engine, spec, 'B', 7)
    expect(knownRow(engine, info('User'), { id: 7 }, scopeAs('A'))).toBeDefined()
  })

  it('remember only rows with an id and both sidecars', () => {
    const engine = engineOf()
    rememberKey(engine, spec, 'A', { ...row, id: null })
    rememberKey(engine, spec, 'A', { ...row, wrappedDek: null })
    rememberKey(engine, spec, 'A', { ...row, keyVersion: undefined })
    expect(engine.knownKeys.size).toBe(0)
  })

  it("remember the first rows of a call only, so that a large read keeps the others' entries", () => {
    const engine = engineOf()
    const earlier = scopeAs('A')
    rememberReadKey(engine, spec, 'A', { ...row, id: 'kept' }, earlier)
    const scan = scopeAs('A')
    for (let i = 0; i < KNOWN_KEYS_PER_CALL + 50; i++) rememberReadKey(engine, spec, 'A', { ...row, id: `scan-${i}` }, scan)
    expect(knownRow(engine, info('User'), { id: `scan-${KNOWN_KEYS_PER_CALL - 1}` }, scopeAs('A'))).toBeDefined()
    expect(knownRow(engine, info('User'), { id: `scan-${KNOWN_KEYS_PER_CALL}` }, scopeAs('A'))).toBeUndefined()
    expect(knownRow(engine, info('User'), { id: 'kept' }, scopeAs('A'))).toBeDefined()
    expect(engine.knownKeys.size).toBe(KNOWN_KEYS_PER_CALL + 1)
    // The next call remembers its rows again; a bypass remembers none.
    rememberReadKey(engine, spec, 'A', { ...row, id: 'next' }, scopeAs('A'))
    expect(knownRow(engine, info('User'), { id: 'next' }, scopeAs('A'))).toBeDefined()
    rememberReadKey(engine, spec, 'A', { ...row, id: 'admin' }, scopeAs(null, true))
    expect(engine.knownKeys.get('admin')).toBeUndefined()
  })
})
