import type { Obj } from '../../../../src/prisma/engine/context'
import { encryptNew } from '../../../../src/prisma/engine/encrypt'
import { takeWritten, writtenKey } from '../../../../src/prisma/engine/written'
import { engineOf, info, scopeAs } from './fixture'

const spec = info('User').spec!

async function written(): Promise<{ row: Obj; written: NonNullable<ReturnType<typeof scopeAs>['written']> }> {
  const scope = scopeAs('A')
  const row = await encryptNew(engineOf(), info('User'), { id: 1, name: 'n', email: 'a@x.io' }, scope)
  return { row, written: scope.written! }
}

describe('written values', () => {
  it('are noted by their header and IV', async () => {
    const { row, written: w } = await written()
    expect([...w.keys()]).toEqual([writtenKey(row.email as string)])
  })

  it('come back as plaintext for the same row, field, tenant and sidecars', async () => {
    const { row, written: w } = await written()
    expect(takeWritten(spec, row, 'A', w)).toEqual([])
    expect(row.email).toBe('a@x.io')
  })

  it('are not taken for another tenant, another row id or other sidecars', async () => {
    for (const change of [{ tenantId: 'B' }, { id: 2 }, { wrappedDek: new Uint8Array(4) }, { keyVersion: 'v2' }] as Obj[]) {
      const { row, written: w } = await written()
      const stored = { ...row, ...change }
      expect([change, takeWritten(spec, stored, (stored.tenantId as string) ?? 'A', w)]).toEqual([change, undefined])
      expect(stored.email).toBe(row.email)
    }
  })

  it('are found among many (a createMany) as among few, and only for their exact ciphertext', async () => {
    const scope = scopeAs('A')
    const engine = engineOf()
    const rows: Obj[] = []
    for (let i = 1; i <= 12; i++) rows.push(await encryptNew(engine, info('User'), { id: i, name: 'n', email: `u${i}@x.io` }, scope))
    expect(scope.written!.size).toBeGreaterThan(8)
    for (const [i, row] of rows.entries()) {
      const copy = { ...row }
      expect(takeWritten(spec, copy, 'A', scope.written!)).toEqual([])
      expect(copy.email).toBe(`u${i + 1}@x.io`)
    }
    // One character changed after the IV: not the value written.
    const { row, written: few } = await written()
    const email = row.email as string
    const altered = { ...row, email: email.slice(0, -1) + (email.endsWith('A') ? 'B' : 'A') }
    expect(takeWritten(spec, altered, 'A', few)).toBeUndefined()
    expect(altered.email).not.toBe('a@x.io')
  })
})
