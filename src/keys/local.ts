import { readFileSync } from 'node:fs'
import { hkdfSync, randomBytes } from 'node:crypto'
import { AuthenticationFailure, IV_BYTES, KEY_BYTES, TAG_BYTES, generateKey, open, zero } from '../crypto/aes-gcm'
import { encodeContext, type BindingContext } from '../crypto/context'
import { xaesKey, xaesNonce, xaesOpenStored, xaesSeal, XAES_NONCE_BYTES, type XaesKey } from '../crypto/xaes'
import { ConfigError, DecryptionError, KeyVersionError } from '../errors'
import type { RowcryptObserver } from '../metrics/observer'
import { assertTenantId } from '../tenant/context'
import type { KeyCacheOptions } from './cache'
import { KeyCreationTimes, tenantKeyCreatedAtFromStore, type KeyCreatedAtInput } from './key-ages'
import type { GeneratedDataKey, KeyProvider } from './provider'
import { ROW_WRAP_BYTES, RowAadEncoder, unwrapRowKey, wrapRowKey } from './row-wrap'
import type { TenantKeyRecord, TenantKeyStore } from './tenant-key-store'
import { TenantKeyring, checkTenantKeyStore } from './tenant-keyring'

/** A 256-bit master key: raw bytes, a 64-character hex string or a base64/base64url string. */
export type MasterKeyInput = Uint8Array | string

/** Options of {@link LocalKeyProvider}. */
export interface LocalKeyProviderOptions {
  /** Master keys by version. Every listed version unwraps; only `activeVersion` wraps. */
  keys: Record<string, MasterKeyInput>
  /** The version that wraps new data keys. */
  activeVersion: string
  /**
   * Where per-tenant keys are kept. With a store, each tenant gets its own random key per version
   * (wrapped by the master key, stored here), row data keys are wrapped under it, and
   * {@link LocalKeyProvider.shredTenant} can destroy a tenant. Without one, data keys are wrapped
   * under keys derived from the master key alone, which cannot be shredded per tenant.
   */
  tenantKeyStore?: TenantKeyStore
  /** Limits of the tenant-key cache (with a `tenantKeyStore`); as `AwsKmsKeyProvider`'s `cache`. */
  cache?: Partial<KeyCacheOptions>
  /** Receivers of `cache` events of the tenant-key cache. */
  observers?: readonly RowcryptObserver[]
  /** When each version's master key was created (Date or ISO 8601 string), for key ages; versions left out have no known age. */
  createdAt?: KeyCreatedAtInput
}

/**
 * What {@link LocalKeyProvider.shredTenant} destroyed.
 *
 * @example
 * ```ts
 * const { tenantKeysDestroyed } = await keyProvider.shredTenant('acme')
 * ```
 */
export interface LocalShredResult {
  readonly tenantId: string
  /** Live tenant keys removed from the store. */
  readonly tenantKeysDestroyed: number
  /** Always empty: a local provider has no KMS keys. Present so that CLI output matches `AwsKmsKeyProvider`'s. */
  readonly kmsKeys: readonly []
}

// Wrapped row keys (the provider blob inside the row's wrappedDek column, after rowcrypt's header):
//   0x05 | nonce (24) | ciphertext (32) | tag (16)   XAES-256-GCM under the tenant's key (with a store)
//   0x04 | nonce (24) | ciphertext (32) | tag (16)   XAES-256-GCM under a key derived from the master key
//   IV (12) | ciphertext (32) | tag (16)             earlier releases: AES-256-GCM under HKDF(master);
//                                                   60 bytes, no format byte; read only
const FORMAT_TENANT = 0x05
const FORMAT_MASTER = 0x04
const LEGACY_BLOB_BYTES = IV_BYTES + KEY_BYTES + TAG_BYTES
const LEGACY_WRAP_INFO = Buffer.from('rowcrypt/local-key-provider/wrap/v1')
const WRAP_INFO = Buffer.from('rowcrypt/local-key-provider/wrap/xaes/v1')
const TENANT_KEY_INFO = Buffer.from('rowcrypt/local-key-provider/tenant-key/v1')
const INDEX_INFO = Buffer.from('rowcrypt/local-key-provider/blind-index/v1')
const TENANT_INDEX_INFO = Buffer.from('rowcrypt/local-key-provider/tenant-blind-index/v1')
const TENANT_KEY_FORMAT = 0x01
// A stored tenant key: format (1) | nonce (24) | XAES-256-GCM of the key (32) | tag (16).
const TENANT_KEY_BYTES = 1 + XAES_NONCE_BYTES + KEY_BYTES + TAG_BYTES
const VERSION_NAME = /^[A-Za-z0-9._-]{1,64}$/

/** The keys one master key version gives, each from its own HKDF-SHA256 output. */
interface VersionKeys {
  /** Wraps row keys without a tenant key (XAES-256-GCM). */
  readonly wrap: XaesKey
  /** Wraps tenant keys (XAES-256-GCM). */
  readonly tenantWrap: XaesKey
  /** Reads row keys of earlier releases (AES-256-GCM). */
  readonly legacy: Buffer
  /** Root of blind-index keys without a tenant key. */
  readonly index: Buffer
}

/**
 * A key provider that holds versioned 256-bit master keys in process memory. For development,
 * tests and single-host deployments; production keys belong in a KMS.
 *
 * Data keys are wrapped with XAES-256-GCM (AES-256-GCM with a 192-bit random nonce and a key per
 * nonce, so one key can wrap any number of data keys) with the row key's binding context plus the
 * key version as AAD. With a `tenantKeyStore`, the wrapping key is the tenant's own random key for
 * that version, itself wrapped by the master key and kept in the store: destroying it
 * (`shredTenant`, `rowcrypt tenant shred`) makes the tenant's rows unreadable. Without a store it is
 * derived from the master key with HKDF-SHA256 and cannot be destroyed for one tenant.
 *
 * @example
 * ```ts
 * const keyProvider = new LocalKeyProvider({
 *   keys: { v1: secrets.rowcryptKeyV1, v2: secrets.rowcryptKeyV2 }, // from your secret store
 *   activeVersion: 'v2',
 *   tenantKeyStore: new PrismaTenantKeyStore({ prisma: base }), // optional: per-tenant keys, shredding
 * })
 * ```
 */
export class LocalKeyProvider implements KeyProvider {
  readonly activeKeyVersion: string
  readonly #versions = new Map<string, VersionKeys>()
  readonly #keyring: TenantKeyring | undefined
  readonly #store: TenantKeyStore | undefined
  readonly #aad = new RowAadEncoder()
  readonly #createdAt: KeyCreationTimes

  constructor(options: LocalKeyProviderOptions) {
    if (options === null || typeof options !== 'object' || options.keys === null || typeof options.keys !== 'object') {
      throw new ConfigError('LocalKeyProvider needs { keys, activeVersion }')
    }
    for (const [version, input] of Object.entries(options.keys)) {
      if (!VERSION_NAME.test(version)) throw new ConfigError(`LocalKeyProvider: key version name "${version}" must match ${VERSION_NAME}`)
      const master = decodeMasterKey(input, version)
      const derive = (info: Buffer) => Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), info, KEY_BYTES))
      const prepared = (info: Buffer) => {
        const k = derive(info)
        const x = xaesKey(k)
        zero(k)
        return x
      }
      // Separate HKDF outputs: no key serves two constructions or two purposes.
      this.#versions.set(version, { wrap: prepared(WRAP_INFO), tenantWrap: prepared(TENANT_KEY_INFO), legacy: derive(LEGACY_WRAP_INFO), index: derive(INDEX_INFO) })
      if (typeof input === 'string') zero(master)
    }
    if (!this.#versions.has(options.activeVersion)) {
      throw new ConfigError(`LocalKeyProvider: activeVersion "${String(options.activeVersion)}" is not among the keys`)
    }
    this.activeKeyVersion = options.activeVersion
    this.#createdAt = new KeyCreationTimes('LocalKeyProvider', options.createdAt, this.#versions.keys())
    const store = checkTenantKeyStore(options.tenantKeyStore, 'LocalKeyProvider')
    this.#store = store
    this.#keyring =
      store === undefined
        ? undefined
        : new TenantKeyring(
            store,
            {
              generate: async (tenantId, keyVersion) => this.#generateTenantKey(tenantId, keyVersion),
              open: async (record, tenantId, keyVersion) => this.#openTenantKey(record, tenantId, keyVersion),
            },
            { cache: options.cache, observers: [...(options.observers ?? [])] },
          )
  }

  /**
   * Reads a key file: JSON `{ "activeVersion": "v1", "keys": { "v1": "<base64 or hex>" }, "createdAt": { "v1": "2026-01-31" } }`
   * (`createdAt` optional). Pass `extra` for what a file does not hold (a `tenantKeyStore`).
   *
   * @example
   * ```ts
   * const keyProvider = LocalKeyProvider.fromFile('/run/secrets/rowcrypt-keys.json', { tenantKeyStore })
   * ```
   */
  static fromFile(path: string, extra: Partial<Omit<LocalKeyProviderOptions, 'keys' | 'activeVersion'>> = {}): LocalKeyProvider {
    let parsed: unknown
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'))
    } catch (cause) {
      // The cause is an fs or JSON error; a JSON error may quote the file, so keep only fs errors.
      throw new ConfigError(`LocalKeyProvider: cannot read key file ${path}`, { cause: cause instanceof SyntaxError ? undefined : cause })
    }
    return new LocalKeyProvider({ ...(parsed as LocalKeyProviderOptions), ...extra })
  }

  /**
   * Makes a new random master key as base64, for a key file or a secret store.
   *
   * @example
   * ```ts
   * const v2 = LocalKeyProvider.generateMasterKey()
   * ```
   */
  static generateMasterKey(): string {
    return randomBytes(KEY_BYTES).toString('base64')
  }

  /** Whether data keys are wrapped under per-tenant keys (a `tenantKeyStore` is configured). */
  get tenantKeys(): boolean {
    return this.#keyring !== undefined
  }

  async generateDataKey(context: BindingContext): Promise<GeneratedDataKey> {
    const keyVersion = this.activeKeyVersion
    const tenantId = this.#tenantOf(context)
    if (tenantId === undefined) return this.#generateUnder(FORMAT_MASTER, this.#version(keyVersion).wrap, context, keyVersion)
    return this.#keyring!.use(tenantId, keyVersion, true, (t) => this.#generateUnder(FORMAT_TENANT, t.xaes, context, keyVersion))
  }

  /**
   * `generateDataKey` without a promise: always with master-derived keys; with a tenant key store
   * when the tenant's key is cached. `undefined` otherwise, and when a subclass or the instance
   * replaced `generateDataKey` (so that its override runs).
   *
   * @example
   * ```ts
   * const dk = keyProvider.generateDataKeySync(context) ?? (await keyProvider.generateDataKey(context))
   * ```
   */
  generateDataKeySync(context: BindingContext): GeneratedDataKey | undefined {
    if (this.generateDataKey !== LocalKeyProvider.prototype.generateDataKey) return undefined
    const keyVersion = this.activeKeyVersion
    const tenantId = this.#tenantOf(context)
    if (tenantId === undefined) return this.#generateUnder(FORMAT_MASTER, this.#version(keyVersion).wrap, context, keyVersion)
    return this.#keyring!.peek(tenantId, keyVersion, (t) => this.#generateUnder(FORMAT_TENANT, t.xaes, context, keyVersion))?.value
  }

  async wrapDataKey(plaintextKey: Uint8Array, context: BindingContext, keyVersion = this.activeKeyVersion): Promise<{ wrappedKey: Uint8Array; keyVersion: string }> {
    if (plaintextKey.length !== KEY_BYTES) throw new RangeError('data keys are 32 bytes')
    const keys = this.#version(keyVersion)
    const aad = this.#aad.encode(context, keyVersion)
    const tenantId = this.#tenantOf(context)
    const wrappedKey =
      tenantId === undefined
        ? wrapRowKey(FORMAT_MASTER, keys.wrap, plaintextKey, aad)
        : await this.#keyring!.use(tenantId, keyVersion, true, (t) => wrapRowKey(FORMAT_TENANT, t.xaes, plaintextKey, aad))
    return { wrappedKey, keyVersion }
  }

  async unwrapDataKey(wrappedKey: Uint8Array, keyVersion: string, context: BindingContext): Promise<Uint8Array> {
    const keys = this.#version(keyVersion)
    const aad = this.#aad.encode(context, keyVersion)
    // A tenant shredded through this process: none of its rows open here, whatever wraps them.
    if (this.#keyring !== undefined && typeof context.tenantId === 'string') this.#keyring.assertLive(context.tenantId)
    if (!isTenantWrapped(wrappedKey)) return unwrapUnderMaster(keys, wrappedKey, aad)
    const tenantId = this.#tenantKeyTenant(context)
    return this.#keyring!.use(tenantId, keyVersion, false, (t) => unwrapRowKey(t.xaes, wrappedKey, aad))
  }

  /**
   * `unwrapDataKey` without a promise, on the same terms as {@link LocalKeyProvider.generateDataKeySync}.
   *
   * @example
   * ```ts
   * const key = keyProvider.unwrapDataKeySync(blob, 'v1', context) ?? (await keyProvider.unwrapDataKey(blob, 'v1', context))
   * ```
   */
  unwrapDataKeySync(wrappedKey: Uint8Array, keyVersion: string, context: BindingContext): Uint8Array | undefined {
    if (this.unwrapDataKey !== LocalKeyProvider.prototype.unwrapDataKey) return undefined
    const keys = this.#version(keyVersion)
    const aad = this.#aad.encode(context, keyVersion)
    // A tenant shredded through this process: none of its rows open here, whatever wraps them.
    if (this.#keyring !== undefined && typeof context.tenantId === 'string') this.#keyring.assertLive(context.tenantId)
    if (!isTenantWrapped(wrappedKey)) return unwrapUnderMaster(keys, wrappedKey, aad)
    const tenantId = this.#tenantKeyTenant(context)
    return this.#keyring!.peek(tenantId, keyVersion, (t) => unwrapRowKey(t.xaes, wrappedKey, aad))?.value
  }

  /**
   * Loads the tenant key that `unwrapDataKeySync` needs for this wrapped key (with a tenant key
   * store); `undefined` for a key wrapped under the master key (always synchronous), and when a
   * subclass or the instance replaced `unwrapDataKey`. The promise settles, never rejects, once the
   * load is done or failed.
   *
   * @example
   * ```ts
   * await keyProvider.prepareUnwrapSync(blob, 'v1', context)
   * ```
   */
  prepareUnwrapSync(wrappedKey: Uint8Array, keyVersion: string, context: BindingContext): Promise<void> | undefined {
    if (this.unwrapDataKey !== LocalKeyProvider.prototype.unwrapDataKey || this.#keyring === undefined || !isTenantWrapped(wrappedKey)) return undefined
    let tenantId: string
    try {
      this.#version(keyVersion)
      tenantId = this.#tenantKeyTenant(context)
    } catch {
      return undefined
    }
    return this.#keyring.prepare(tenantId, keyVersion)
  }

  /**
   * Moves a wrapped data key to another version: unwrapped and wrapped again inside the provider,
   * the plaintext key zeroed before returning (it never reaches the caller). The result is in the
   * current wrapping format whatever the source's.
   *
   * @example
   * ```ts
   * const moved = await provider.rewrapDataKey(wrappedKey, 'v1', 'v2', context)
   * ```
   */
  async rewrapDataKey(wrappedKey: Uint8Array, fromVersion: string, toVersion: string, context: BindingContext): Promise<{ wrappedKey: Uint8Array; keyVersion: string }> {
    this.#version(toVersion)
    const plaintextKey = await this.unwrapDataKey(wrappedKey, fromVersion, context)
    try {
      return await this.wrapDataKey(plaintextKey, context, toVersion)
    } finally {
      zero(plaintextKey)
    }
  }

  /**
   * The tenant's blind-index root key under `keyVersion`: HKDF-SHA256 of the tenant's key with a
   * tenant key store (so shredding destroys it too), else of the version's master key with the
   * tenant in the info. Deterministic; unrelated across tenants and versions.
   *
   * @example
   * ```ts
   * const root = await provider.indexKey('tenant_a', 'v1')
   * ```
   */
  async indexKey(tenantId: string, keyVersion: string): Promise<Uint8Array> {
    const keys = this.#version(keyVersion)
    const info = encodeContext({ purpose: 'blind-index', tenantId, keyVersion })
    if (this.#keyring === undefined) return new Uint8Array(hkdfSync('sha256', keys.index, Buffer.alloc(0), info, KEY_BYTES))
    assertTenantId(tenantId)
    return this.#keyring.use(tenantId, keyVersion, true, (t) => new Uint8Array(hkdfSync('sha256', t.bytes, Buffer.alloc(0), Buffer.concat([TENANT_INDEX_INFO, info]), KEY_BYTES)))
  }

  /**
   * Crypto-shredding (needs a `tenantKeyStore`): destroys every key of `tenantId` in the store,
   * leaving a tombstone, and drops its keys from this process's cache. Afterwards the tenant's rows
   * fail with `ERR_ROWCRYPT_TENANT_SHREDDED` here, and in other processes once their cache expires
   * (`cache.maxAgeMs`, default 5 minutes); new rows are refused; no other tenant is affected. Rows
   * whose data keys were wrapped under the master key alone (written without a store) are not
   * affected: rotate them (`rowcrypt rotate --rekey`) before relying on shredding.
   *
   * @example
   * ```ts
   * const { tenantKeysDestroyed } = await keyProvider.shredTenant('tenant_x')
   * ```
   */
  async shredTenant(tenantId: string): Promise<LocalShredResult> {
    assertTenantId(tenantId)
    if (this.#keyring === undefined) {
      throw new ConfigError('LocalKeyProvider: shredding needs per-tenant keys; configure a tenantKeyStore (keys derived from the master key alone cannot be destroyed for one tenant)')
    }
    return { tenantId, tenantKeysDestroyed: await this.#keyring.shred(tenantId), kmsKeys: [] }
  }

  /**
   * When `keyVersion`'s master key was created, from the `createdAt` option; undefined when not given.
   *
   * @example
   * ```ts
   * const created = await provider.keyCreatedAt('v1')
   * ```
   */
  async keyCreatedAt(keyVersion: string): Promise<Date | undefined> {
    return this.#createdAt.of(keyVersion)
  }

  /**
   * When the tenant's key under `keyVersion` was made (from the tenant key store); undefined
   * without a store or when the tenant has none yet.
   *
   * @example
   * ```ts
   * const created = await provider.tenantKeyCreatedAt('acme', 'v2')
   * ```
   */
  tenantKeyCreatedAt(tenantId: string, keyVersion: string): Promise<Date | undefined> {
    return tenantKeyCreatedAtFromStore(this.#store, tenantId, keyVersion)
  }

  /**
   * Checks the tenant key store (when configured) once and remembers success.
   *
   * @example
   * ```ts
   * await keyProvider.validate()
   * ```
   */
  async validate(): Promise<void> {
    await this.#keyring?.validate()
  }

  /**
   * Drops (and zeroes) every cached tenant key; the next use reloads from the store.
   *
   * @example
   * ```ts
   * process.on('SIGTERM', () => keyProvider.clearCache())
   * ```
   */
  clearCache(): void {
    this.#keyring?.clear()
  }

  #generateUnder(format: number, key: XaesKey, context: BindingContext, keyVersion: string): GeneratedDataKey {
    const plaintextKey = generateKey()
    try {
      return { plaintextKey, wrappedKey: wrapRowKey(format, key, plaintextKey, this.#aad.encode(context, keyVersion)), keyVersion }
    } catch (e) {
      zero(plaintextKey)
      throw e
    }
  }

  // The tenant whose key wraps this context's data keys; undefined without a store. A context
  // without a tenant cannot use tenant keys.
  #tenantOf(context: BindingContext): string | undefined {
    if (this.#keyring === undefined) return undefined
    return this.#tenantKeyTenant(context)
  }

  #tenantKeyTenant(context: BindingContext): string {
    const tenantId = context?.tenantId
    if (typeof tenantId !== 'string') throw new ConfigError('LocalKeyProvider: per-tenant keys need a tenantId in the binding context')
    // Without a store a blob in the tenant-key format cannot be authenticated here (it may also be a
    // damaged master-key blob): a decryption failure, not a configuration error.
    if (this.#keyring === undefined) throw new DecryptionError()
    this.#keyring.assertLive(tenantId)
    return tenantId
  }

  #generateTenantKey(tenantId: string, keyVersion: string): { plaintext: Uint8Array; wrappedKey: Uint8Array; wrappingKeyId: string } {
    const keys = this.#version(keyVersion)
    const plaintext = generateKey()
    const nonce = xaesNonce()
    const sealed = xaesSeal(keys.tenantWrap, nonce, plaintext, tenantKeyAad(tenantId, keyVersion))
    return { plaintext, wrappedKey: Buffer.concat([Buffer.from([TENANT_KEY_FORMAT]), nonce, sealed]), wrappingKeyId: `local:${keyVersion}` }
  }

  #openTenantKey(record: TenantKeyRecord, tenantId: string, keyVersion: string): Uint8Array {
    const keys = this.#version(keyVersion)
    const w = record.wrappedKey
    if (w === null || w.length !== TENANT_KEY_BYTES || w[0] !== TENANT_KEY_FORMAT) throw new DecryptionError()
    try {
      return xaesOpenStored(keys.tenantWrap, w, 1, tenantKeyAad(tenantId, keyVersion))
    } catch (e) {
      if (e instanceof AuthenticationFailure) throw new DecryptionError()
      throw e
    }
  }

  #version(version: string): VersionKeys {
    const k = this.#versions.get(version)
    if (k === undefined) throw new KeyVersionError(`no local master key for version "${version}"`)
    return k
  }
}

function isTenantWrapped(blob: Uint8Array): boolean {
  return blob.length === ROW_WRAP_BYTES && blob[0] === FORMAT_TENANT
}

function unwrapUnderMaster(keys: VersionKeys, blob: Uint8Array, aad: Buffer): Uint8Array {
  if (blob.length === ROW_WRAP_BYTES && blob[0] === FORMAT_MASTER) return unwrapRowKey(keys.wrap, blob, aad)
  if (blob.length !== LEGACY_BLOB_BYTES) throw new DecryptionError()
  try {
    return open(keys.legacy, blob.subarray(0, IV_BYTES), blob.subarray(IV_BYTES, IV_BYTES + KEY_BYTES), blob.subarray(IV_BYTES + KEY_BYTES), aad)
  } catch (e) {
    if (e instanceof AuthenticationFailure) throw new DecryptionError()
    throw e
  }
}

function tenantKeyAad(tenantId: string, keyVersion: string): Buffer {
  return encodeContext({ purpose: 'tenant-key', tenantId, keyVersion })
}

function decodeMasterKey(input: MasterKeyInput, version: string): Uint8Array {
  let bytes: Uint8Array | undefined
  if (input instanceof Uint8Array) bytes = input
  else if (typeof input === 'string') {
    const s = input.trim()
    if (/^[0-9a-fA-F]{64}$/.test(s)) bytes = Buffer.from(s, 'hex')
    else if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(s)) bytes = Buffer.from(s, /[-_]/.test(s) ? 'base64url' : 'base64')
  }
  // Never echo the input: it is key material.
  if (bytes === undefined || bytes.length !== KEY_BYTES) {
    throw new ConfigError(`LocalKeyProvider: key "${version}" must be 32 bytes (Uint8Array, 64 hex characters or base64)`)
  }
  return bytes
}
