// The extended client of the blind-index tests: Customer (email unique per tenant and normalized,
// phone searchable, ssn with a truncated index in a custom column) and Invoice (reference).
import { rowcrypt, type BlindIndexOptions, type KeyProvider } from '../../src'
import type { TestDatabase } from './db'
import { rlsOf, testKeyProvider } from './setup'

/** Bits of the truncated ssn index: small, so that a few hundred rows collide for sure. */
export const SSN_BITS = 8

export function extendSearchable(db: TestDatabase, keyProvider: KeyProvider = testKeyProvider(), blindIndex: BlindIndexOptions = { keyVersion: 'v1' }) {
  return db.prisma.$extends(
    rowcrypt({
      ...rlsOf(db),
      schema: db.manifest,
      keyProvider,
      blindIndex,
      models: {
        Customer: {
          fields: [
            { name: 'email', searchable: true, normalize: 'lowercase-trim' },
            { name: 'phone', searchable: true, normalize: (v: string) => v.replace(/[^0-9+]/g, '') },
            { name: 'ssn', searchable: true, indexColumn: 'ssnIdx', indexBits: SSN_BITS },
          ],
        },
        Invoice: { fields: [{ name: 'reference', searchable: true }] },
      },
    }),
  )
}

export type Searchable = ReturnType<typeof extendSearchable>
