// What maintenance jobs (key rotation, verify, status) reach through `prisma.$rowcrypt()` beyond
// the public description: the core with the configured key provider, and the schema manifest. Kept
// under a symbol so that it is neither enumerated nor serialized with the description.
import type { RowLevelEncryption } from '../fields/row'
import type { Manifest } from './manifest'

/** @internal The symbol under which `$rowcrypt()` carries {@link RowcryptInternals}. */
export const ROWCRYPT_INTERNALS: unique symbol = Symbol.for('rowcrypt.internals')

/** @internal */
export interface RowcryptInternals {
  readonly core: RowLevelEncryption
  readonly schema: Manifest
}
