// When key-encryption keys were created, for key ages (`rowcrypt status`, `rotate --older-than`,
// `maxKeyAgeDays`). Kept apart from the providers' key handling: a provider holds one
// KeyCreationTimes and delegates `keyCreatedAt` to it, and `tenantKeyCreatedAt` to
// tenantKeyCreatedAtFromStore.
import { ConfigError, KeyProviderError, KeyVersionError, RowcryptError } from '../errors'
import type { TenantKeyStore } from './tenant-key-store'

/**
 * Creation times of key versions as a provider's `createdAt` option takes them: version → a `Date`
 * or an ISO 8601 string (`2026-01-31`, `2026-01-31T09:30:00Z`, `2026-01-31T09:30:00+02:00`).
 *
 * @example
 * ```ts
 * const createdAt: KeyCreatedAtInput = { v1: '2025-09-01', v2: new Date('2026-03-01T00:00:00Z') }
 * ```
 */
export type KeyCreatedAtInput = Readonly<Record<string, Date | string>>

// A date, or a date and time with seconds optional, fraction optional and a zone required: a time
// without a zone would be read in the local zone of whichever host runs the command.
const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/

/**
 * Parses one creation time: a valid `Date`, or an ISO 8601 date or date-time with a zone. Returns
 * undefined for anything else (impossible dates such as `2026-02-30` included).
 *
 * @example
 * ```ts
 * parseCreationTime('2026-01-31T09:30:00Z') // Date
 * parseCreationTime('31/01/2026') // undefined
 * ```
 */
export function parseCreationTime(input: unknown): Date | undefined {
  if (input instanceof Date) return Number.isNaN(input.getTime()) ? undefined : new Date(input.getTime())
  if (typeof input !== 'string') return undefined
  const m = ISO_8601.exec(input.trim())
  if (m === null) return undefined
  const [, y, mo, d, h, mi, s] = m
  // Date.parse rolls impossible dates over (2026-02-30 is 2 March): check the fields came back.
  const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)))
  if (day.getUTCFullYear() !== Number(y) || day.getUTCMonth() !== Number(mo) - 1 || day.getUTCDate() !== Number(d)) return undefined
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59)) return undefined
  const ms = Date.parse(input.trim())
  return Number.isNaN(ms) ? undefined : new Date(ms)
}

/**
 * The creation times of a provider's key versions: those configured (`createdAt` option) first,
 * else those a `lookup` reports (KMS `DescribeKey`), each looked up once and cached; failures are
 * not cached. Asking for a version the provider does not have throws `KeyVersionError`.
 *
 * @example
 * ```ts
 * const times = new KeyCreationTimes('MyProvider', options.createdAt, ['v1', 'v2'])
 * const created = await times.of('v1') // Date | undefined
 * ```
 */
export class KeyCreationTimes {
  readonly #versions: ReadonlySet<string>
  readonly #configured = new Map<string, number>()
  readonly #lookup: ((keyVersion: string) => Promise<Date | undefined>) | undefined
  readonly #looked = new Map<string, Promise<number | undefined>>()

  /**
   * @param owner The provider's name, for error messages.
   * @param createdAt The `createdAt` option as given (validated here: `ConfigError` when it is not a
   *   map of configured versions to valid dates).
   * @param versions Every key version the provider has.
   * @param lookup Asks the key's holder for a version not in `createdAt`.
   */
  constructor(owner: string, createdAt: unknown, versions: Iterable<string>, lookup?: (keyVersion: string) => Promise<Date | undefined>) {
    this.#versions = new Set(versions)
    this.#lookup = lookup
    if (createdAt === undefined) return
    if (createdAt === null || typeof createdAt !== 'object' || Array.isArray(createdAt) || createdAt instanceof Date) {
      throw new ConfigError(`${owner}: "createdAt" must map key versions to creation times (Date or ISO 8601 string)`)
    }
    for (const [version, value] of Object.entries(createdAt)) {
      if (!this.#versions.has(version)) throw new ConfigError(`${owner}: createdAt names version "${version}", which is not among the keys`)
      const date = parseCreationTime(value)
      if (date === undefined) {
        throw new ConfigError(`${owner}: createdAt.${version} must be a valid Date or an ISO 8601 date or date-time with a zone (2026-01-31, 2026-01-31T09:30:00Z)`)
      }
      this.#configured.set(version, date.getTime())
    }
  }

  /** When `keyVersion` was created, when known. A fresh `Date` each time. */
  async of(keyVersion: string): Promise<Date | undefined> {
    if (!this.#versions.has(keyVersion)) throw new KeyVersionError(`no key for version "${keyVersion}"`)
    const configured = this.#configured.get(keyVersion)
    if (configured !== undefined) return new Date(configured)
    const lookup = this.#lookup
    if (lookup === undefined) return undefined
    let pending = this.#looked.get(keyVersion)
    if (pending === undefined) {
      pending = lookup(keyVersion).then((d) => parseCreationTime(d)?.getTime())
      this.#looked.set(keyVersion, pending)
      // A failed lookup (KMS unreachable) is asked again next time.
      pending.catch(() => this.#looked.delete(keyVersion))
    }
    const ms = await pending
    return ms === undefined ? undefined : new Date(ms)
  }
}

/**
 * When a tenant's intermediate key under `keyVersion` was created, from the `createdAt` of its
 * tenant key store record; undefined when there is no store, no record, or the tenant was shredded
 * (its keys are gone). A store failure throws `KeyProviderError`.
 *
 * @example
 * ```ts
 * async tenantKeyCreatedAt(tenantId: string, keyVersion: string) {
 *   return tenantKeyCreatedAtFromStore(this.store, tenantId, keyVersion)
 * }
 * ```
 */
export async function tenantKeyCreatedAtFromStore(store: TenantKeyStore | undefined, tenantId: string, keyVersion: string): Promise<Date | undefined> {
  if (store === undefined) return undefined
  let record: Awaited<ReturnType<TenantKeyStore['get']>>
  try {
    record = await store.get(tenantId, keyVersion)
  } catch (e) {
    if (e instanceof RowcryptError) throw e
    throw new KeyProviderError('tenant key store failed', { cause: e })
  }
  if (record == null || record.shreddedAt != null || record.wrappedKey === null) return undefined
  return parseCreationTime(record.createdAt)
}
