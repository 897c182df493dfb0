// Where hierarchical-mode tenant keys live, wrapped by KMS. The interface is small so that a table
// in the application's own database (PrismaTenantKeyStore), DynamoDB or a file can back it.

/**
 * One stored tenant key: the tenant's intermediate key for one key version, wrapped by KMS under
 * that version's KMS key with the encryption context
 * `{ purpose: 'tenant-key', tenantId, keyVersion }`. Or a shredding tombstone.
 *
 * @example
 * ```ts
 * const record = await tenantKeyStore.get('acme', 'v1')
 * if (record?.shreddedAt) log.info('acme was shredded on', record.shreddedAt)
 * ```
 */
export interface TenantKeyRecord {
  readonly tenantId: string
  /**
   * The key version (a name from the provider's `keys` map), or `'*'` for the tenant-wide
   * tombstone that shredding writes.
   */
  readonly keyVersion: string
  /** The KMS key (ARN) that wrapped it, as KMS reported it. Informational: unwrapping uses the configured key. */
  readonly kmsKeyId: string
  /** The KMS `CiphertextBlob` of the tenant key; `null` once shredded. */
  readonly wrappedKey: Uint8Array | null
  readonly createdAt: Date
  /** When the tenant was shredded; `null` while the key is live. */
  readonly shreddedAt: Date | null
}

/**
 * Persistence of wrapped tenant keys for `AwsKmsKeyProvider` in hierarchical mode. Implement it to
 * keep them somewhere other than your Prisma database (`PrismaTenantKeyStore`).
 *
 * Contract:
 * - `get` returns the record of `(tenantId, keyVersion)`, or `null`; once the tenant has been
 *   shredded it returns a record with `shreddedAt` set (whatever the version);
 * - `putIfAbsent` inserts atomically unless a record of `(tenantId, keyVersion)` exists, and returns
 *   the record that is stored afterwards (the existing one when another process won the race);
 * - `shred` removes every wrapped key of the tenant and marks the tenant shredded (a tombstone
 *   that `get` reports from then on), returning how many live keys it destroyed;
 * - `validate` (optional) checks the backing storage at start-up and throws `ConfigError`.
 *
 * Records hold only KMS-wrapped keys; a store never sees a plaintext key.
 *
 * @example
 * ```ts
 * class DynamoTenantKeyStore implements TenantKeyStore {
 *   async get(tenantId, keyVersion) { ... }          // GetItem + tombstone check
 *   async putIfAbsent(record) { ... }                 // PutItem with attribute_not_exists, then GetItem
 *   async shred(tenantId, at) { ... }                 // TransactWriteItems
 * }
 * ```
 */
export interface TenantKeyStore {
  get(tenantId: string, keyVersion: string): Promise<TenantKeyRecord | null>
  putIfAbsent(record: TenantKeyRecord): Promise<TenantKeyRecord>
  shred(tenantId: string, at: Date): Promise<{ keysDestroyed: number }>
  validate?(): Promise<void>
}

/**
 * The `keyVersion` of a tenant-wide shredding tombstone. Never a valid version name.
 *
 * @example
 * ```ts
 * const shredded = (await tenantKeyStore.get(tenantId, TOMBSTONE_VERSION))?.shreddedAt != null
 * ```
 */
export const TOMBSTONE_VERSION = '*'

/**
 * A {@link TenantKeyStore} in process memory, for tests and development only: its keys are gone when
 * the process exits, and with them every row written in hierarchical mode.
 *
 * @example
 * ```ts
 * const keyProvider = new AwsKmsKeyProvider({ client, keys: { v1: 'alias/app' }, activeVersion: 'v1', tenantKeyStore: new InMemoryTenantKeyStore() })
 * ```
 */
export class InMemoryTenantKeyStore implements TenantKeyStore {
  readonly #records = new Map<string, TenantKeyRecord>()

  async get(tenantId: string, keyVersion: string): Promise<TenantKeyRecord | null> {
    const tombstone = this.#records.get(id(tenantId, TOMBSTONE_VERSION))
    const record = this.#records.get(id(tenantId, keyVersion))
    return copy(tombstone ?? record ?? null)
  }

  async putIfAbsent(record: TenantKeyRecord): Promise<TenantKeyRecord> {
    const k = id(record.tenantId, record.keyVersion)
    if (!this.#records.has(k)) this.#records.set(k, copy(record)!)
    return copy(this.#records.get(k)!)!
  }

  async shred(tenantId: string, at: Date): Promise<{ keysDestroyed: number }> {
    let keysDestroyed = 0
    for (const [k, r] of this.#records) {
      if (r.tenantId !== tenantId || r.shreddedAt !== null) continue
      if (r.wrappedKey !== null) keysDestroyed++
      this.#records.set(k, { ...r, wrappedKey: null, shreddedAt: at })
    }
    const t = id(tenantId, TOMBSTONE_VERSION)
    if (!this.#records.has(t)) this.#records.set(t, { tenantId, keyVersion: TOMBSTONE_VERSION, kmsKeyId: '', wrappedKey: null, createdAt: at, shreddedAt: at })
    return { keysDestroyed }
  }

  /** Every record, for inspection in tests. */
  records(): TenantKeyRecord[] {
    return [...this.#records.values()].map((r) => copy(r)!)
  }
}

function id(tenantId: string, keyVersion: string): string {
  return JSON.stringify([tenantId, keyVersion])
}

function copy(r: TenantKeyRecord | null): TenantKeyRecord | null {
  return r === null ? null : { ...r, wrappedKey: r.wrappedKey === null ? null : Uint8Array.from(r.wrappedKey) }
}
