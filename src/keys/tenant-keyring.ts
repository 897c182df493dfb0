// Per-tenant intermediate keys, shared by the key providers that keep them (AwsKmsKeyProvider in
// hierarchical mode, LocalKeyProvider with a tenant key store): one random key per tenant and key
// version, made and wrapped by a source (KMS, or a local master key), persisted wrapped in a
// TenantKeyStore, cached unwrapped, and destroyed by shredding. Row data keys are wrapped under it
// with XAES-256-GCM (row-wrap.ts).
import { KEY_BYTES, zero } from '../crypto/aes-gcm'
import { cacheKey } from '../crypto/cache-key'
import { destroyXaesKey, xaesKey, type XaesKey } from '../crypto/xaes'
import { ConfigError, DecryptionError, KeyProviderError, RowcryptError, TenantShreddedError } from '../errors'
import type { RowcryptObserver } from '../metrics/observer'
import { KeyCache, TENANT_KEY_CACHE_DEFAULTS, type KeyCacheOptions } from './cache'
import type { TenantKeyRecord, TenantKeyStore } from './tenant-key-store'

/** @internal Where tenant keys come from and how a stored one is opened. */
export interface TenantKeySource {
  /** A new tenant key: its plaintext (32 bytes, the caller's to zero), wrapped form and wrapping key's name. */
  generate(tenantId: string, keyVersion: string): Promise<{ plaintext: Uint8Array; wrappedKey: Uint8Array; wrappingKeyId: string }>
  /** The plaintext of a stored tenant key; `DecryptionError` when it does not authenticate. */
  open(record: TenantKeyRecord, tenantId: string, keyVersion: string): Promise<Uint8Array>
}

/** @internal What a cached tenant key gives its user: the key prepared for XAES-256-GCM, and its raw bytes. */
export interface TenantKey {
  readonly xaes: XaesKey
  readonly bytes: Uint8Array
}

/** @internal The tenant keys of one provider. */
export class TenantKeyring {
  readonly #store: TenantKeyStore
  readonly #source: TenantKeySource
  readonly #cache: KeyCache
  readonly #shredded = new Set<string>()
  // The XAES preparation of each cached key (its cipher context), released when the cache zeroes the key.
  readonly #prepared = new WeakMap<Uint8Array, XaesKey>()
  #lastId: { readonly tenantId: string; readonly keyVersion: string; readonly id: string } | undefined
  readonly #now: () => Date
  #validation: Promise<void> | undefined

  constructor(store: TenantKeyStore, source: TenantKeySource, setup: { cache?: Partial<KeyCacheOptions> | undefined; observers: readonly RowcryptObserver[]; now?: () => Date }) {
    this.#store = store
    this.#source = source
    const onZero = (key: Uint8Array) => {
      const x = this.#prepared.get(key)
      if (x !== undefined) destroyXaesKey(x)
      this.#prepared.delete(key)
    }
    this.#cache = new KeyCache(setup.cache, { name: 'tenant-key', observers: setup.observers, onZero }, TENANT_KEY_CACHE_DEFAULTS)
    this.#now = setup.now ?? (() => new Date())
  }

  /** Whether `tenantId` was shredded through this process. */
  shredded(tenantId: string): boolean {
    return this.#shredded.has(tenantId)
  }

  /** Throws `TenantShreddedError` when `tenantId` was shredded through this process. */
  assertLive(tenantId: string): void {
    if (this.#shredded.has(tenantId)) throw shreddedError(tenantId)
  }

  /**
   * Runs `fn` with the tenant's key under `keyVersion`, loading it from the store (and making it
   * when `create` and none exists). A tenant key that was never made cannot authenticate a row.
   */
  use<T>(tenantId: string, keyVersion: string, create: boolean, fn: (key: TenantKey) => T): Promise<T> {
    return this.#cache.use(cacheKey(tenantId, keyVersion), () => this.#load(tenantId, keyVersion, create), this.#checked(tenantId, fn), [tenantTag(tenantId)])
  }

  /**
   * Loads the tenant's key under `keyVersion` into the cache when it is not there (no key is made).
   * Settles once the load is done, and never rejects: whoever uses the key next reports a failure.
   */
  prepare(tenantId: string, keyVersion: string): Promise<void> {
    const ignore = (): void => undefined
    try {
      return this.use(tenantId, keyVersion, false, ignore).then(ignore, ignore)
    } catch {
      return Promise.resolve()
    }
  }

  /** `use` from the cache only, synchronously: `{ value }` when the key is cached, else undefined. */
  peek<T>(tenantId: string, keyVersion: string, fn: (key: TenantKey) => T): { value: T } | undefined {
    this.assertLive(tenantId)
    return this.#cache.peek(this.#idOf(tenantId, keyVersion), this.#checked(tenantId, fn))
  }

  // The cache id of a tenant's key under a version; the last one is kept, as calls come in runs of
  // one tenant (every row of a read).
  #idOf(tenantId: string, keyVersion: string): string {
    const last = this.#lastId
    if (last !== undefined && last.tenantId === tenantId && last.keyVersion === keyVersion) return last.id
    const id = cacheKey(tenantId, keyVersion)
    this.#lastId = { tenantId, keyVersion, id }
    return id
  }

  /**
   * Destroys every key of the tenant in the store (leaving a tombstone) and in this process's
   * cache; returns how many live keys the store destroyed.
   */
  async shred(tenantId: string): Promise<number> {
    await this.validate()
    const { keysDestroyed } = await this.#storeCall(() => this.#store.shred(tenantId, this.#now()))
    this.markShredded(tenantId)
    return keysDestroyed
  }

  /** Marks the tenant shredded in this process and drops its cached keys. */
  markShredded(tenantId: string): void {
    this.#shredded.add(tenantId)
    this.#cache.evictTagged(tenantTag(tenantId))
  }

  /** Drops (and zeroes) every cached key. */
  clear(): void {
    this.#cache.clear()
  }

  /** Checks the store once (its own `validate`), remembering success. */
  validate(): Promise<void> {
    const store = this.#store
    if (store.validate === undefined) return Promise.resolve()
    this.#validation ??= store.validate().catch((e: unknown) => {
      this.#validation = undefined
      throw e instanceof RowcryptError ? e : new ConfigError('tenant key store validation failed', { cause: e })
    })
    return this.#validation
  }

  // A shred in this process while the key was loading: waiters must not use it.
  #checked<T>(tenantId: string, fn: (key: TenantKey) => T): (key: Uint8Array) => T {
    return (key) => {
      if (this.#shredded.has(tenantId)) throw shreddedError(tenantId)
      let xaes = this.#prepared.get(key)
      if (xaes === undefined) {
        xaes = xaesKey(key)
        this.#prepared.set(key, xaes)
      }
      return fn({ xaes, bytes: key })
    }
  }

  async #load(tenantId: string, keyVersion: string, create: boolean): Promise<Uint8Array> {
    const key = await this.#plaintext(tenantId, keyVersion, create)
    if (key.length !== KEY_BYTES) {
      zero(key)
      throw new DecryptionError()
    }
    return key
  }

  async #plaintext(tenantId: string, keyVersion: string, create: boolean): Promise<Uint8Array> {
    await this.validate()
    const store = this.#store
    const record = await this.#storeCall(() => store.get(tenantId, keyVersion))
    if (record?.shreddedAt != null) throw shreddedError(tenantId)
    if (record != null) return this.#source.open(record, tenantId, keyVersion)
    if (!create) throw new DecryptionError()
    const made = await this.#source.generate(tenantId, keyVersion)
    const { plaintext, wrappedKey } = made
    let stored: TenantKeyRecord
    try {
      stored = await this.#storeCall(() => store.putIfAbsent({ tenantId, keyVersion, kmsKeyId: made.wrappingKeyId, wrappedKey, createdAt: this.#now(), shreddedAt: null }))
    } catch (e) {
      zero(plaintext)
      throw e
    }
    if (stored.shreddedAt === null && stored.wrappedKey !== null && Buffer.from(stored.wrappedKey).equals(wrappedKey)) {
      // A shred may have run between our read and our insert without seeing the new row: look
      // again, and destroy what we just stored if the tenant is shredded now.
      const again = await this.#storeCall(() => store.get(tenantId, keyVersion))
      if (again?.shreddedAt != null) {
        zero(plaintext)
        await this.#storeCall(() => store.shred(tenantId, this.#now()))
        throw shreddedError(tenantId)
      }
      return plaintext
    }
    // Another process stored its key first (or the tenant was shredded meanwhile): use the stored one.
    zero(plaintext)
    if (stored.shreddedAt !== null) throw shreddedError(tenantId)
    return this.#source.open(stored, tenantId, keyVersion)
  }

  async #storeCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (e) {
      if (e instanceof RowcryptError) throw e
      throw new KeyProviderError('tenant key store failed', { cause: e })
    }
  }
}

/** @internal Checks a `tenantKeyStore` option. */
export function checkTenantKeyStore(store: unknown, who: string): TenantKeyStore | undefined {
  if (store === undefined) return undefined
  const s = store as Partial<TenantKeyStore> | null
  if (typeof s?.get !== 'function' || typeof s.putIfAbsent !== 'function' || typeof s.shred !== 'function') {
    throw new ConfigError(`${who}: "tenantKeyStore" must implement get, putIfAbsent and shred`)
  }
  return store as TenantKeyStore
}

/** @internal The error of any use of a shredded tenant's keys. */
export function shreddedError(tenantId: string): TenantShreddedError {
  return new TenantShreddedError(`tenant ${tenantId} was shredded: its keys are destroyed`)
}

function tenantTag(tenantId: string): string {
  return cacheKey('tenant', tenantId)
}
