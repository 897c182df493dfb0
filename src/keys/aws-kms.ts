// AWS KMS key provider on an injected KMSClient. Two modes:
//
//   hierarchical (default)  one intermediate key per tenant and key version, generated and wrapped by
//                           KMS, stored wrapped in a TenantKeyStore and cached; row data keys are
//                           wrapped locally under it. KMS calls grow with tenants and versions.
//   direct                  each row's data key is made (GenerateDataKey) and unwrapped (Decrypt) by
//                           KMS itself; identical wrapped keys requested together share one call.
//
// Provider blob (inside the row's wrappedDek column, after rowcrypt's 2-byte header):
//   0x03 | nonce (24) | ciphertext (32) | tag (16)              hierarchical: XAES-256-GCM under the
//                                                               tenant key, 73 bytes (row-wrap.ts)
//   0x02 | KMS CiphertextBlob                                   direct
//   0x01 | salt (16) | IV (12) | ciphertext (32) | tag (16)    hierarchical, earlier releases: AES-256-GCM
//                                                               under HKDF(tenant key, salt); read only
//
// @aws-sdk/client-kms is an optional peer dependency: the client is typed by shape (kms-client.ts),
// and the command classes are required when a provider is constructed.
import { createHash, hkdfSync } from 'node:crypto'
import { AuthenticationFailure, IV_BYTES, KEY_BYTES, TAG_BYTES, generateKey, open, zero } from '../crypto/aes-gcm'
import { cacheKey } from '../crypto/cache-key'
import { encodeContext, type BindingContext } from '../crypto/context'
import { ConfigError, DecryptionError, InvalidValueError, KeyProviderError, KeyVersionError, KmsAccessDeniedError, KmsKeyUnusableError, KmsUnavailableError, RowcryptError } from '../errors'
import { notifyKeyProvider, type KeyProviderEvent, type RowcryptObserver } from '../metrics/observer'
import { assertTenantId } from '../tenant/context'
import { DATA_KEY_CACHE_DEFAULTS, KeyCache, type KeyCacheOptions } from './cache'
import type { KmsClientLike, KmsCommandClasses, KmsCommandLike, KmsOperation, KmsOperations } from './kms-client'
import { KeyCreationTimes, tenantKeyCreatedAtFromStore, type KeyCreatedAtInput } from './key-ages'
import type { GeneratedDataKey, KeyProvider } from './provider'
import { ROW_WRAP_BYTES, RowAadEncoder, unwrapRowKey, wrapRowKey } from './row-wrap'
import type { TenantKeyRecord, TenantKeyStore } from './tenant-key-store'
import { TenantKeyring, checkTenantKeyStore, shreddedError, type TenantKey } from './tenant-keyring'

/**
 * How row data keys relate to KMS. See {@link AwsKmsKeyProvider} and docs/aws-kms.md.
 *
 * @example
 * ```ts
 * const mode: AwsKmsMode = settings.kmsMode === 'direct' ? 'direct' : 'hierarchical'
 * ```
 */
export type AwsKmsMode = 'hierarchical' | 'direct'

/**
 * Options of {@link AwsKmsKeyProvider}.
 *
 * @example
 * ```ts
 * const options: AwsKmsKeyProviderOptions = {
 *   client: new KMSClient({ region: 'eu-west-1', maxAttempts: 5, retryMode: 'standard' }),
 *   keys: { v1: 'alias/rowcrypt-v1', v2: 'alias/rowcrypt-v2' },
 *   activeVersion: 'v2',
 *   tenantKeys: { bigcorp: { v2: 'arn:aws:kms:eu-west-1:111122223333:key/0f3e...' } },
 *   tenantKeyStore: new PrismaTenantKeyStore({ prisma: base }),
 *   cache: { maxAgeMs: 60_000 },
 * }
 * ```
 */
export interface AwsKmsKeyProviderOptions {
  /**
   * Your `KMSClient`. Its retry settings are the provider's: set `maxAttempts` and `retryMode`
   * (and `requestHandler` timeouts) there; the provider never retries on its own.
   */
  client: KmsClientLike
  /**
   * Key-encryption-key versions: version name → KMS key id, key ARN, alias name or alias ARN.
   * A version must always name the same KMS key; a new KMS key is a new version.
   */
  keys: Readonly<Record<string, string>>
  /** The version new data keys are made under. */
  activeVersion: string
  /** `hierarchical` (default) or `direct`. */
  mode?: AwsKmsMode
  /**
   * Tenants with their own KMS keys: tenant id → version → KMS key. Versions not listed use `keys`.
   * Shredding such a tenant also schedules deletion of its keys (when no other tenant uses them).
   */
  tenantKeys?: Readonly<Record<string, Readonly<Record<string, string>>>>
  /**
   * Resolves a tenant's KMS key for a version; `undefined` falls back to `tenantKeys`, then `keys`.
   * Must return the same key every time for a (tenant, version) pair, and a key no other tenant uses.
   */
  keyIdFor?: (tenantId: string, keyVersion: string) => string | undefined
  /** Where wrapped tenant keys are persisted. Required in hierarchical mode; in direct mode it records shredding. */
  tenantKeyStore?: TenantKeyStore
  /**
   * Limits of the key cache: tenant keys in hierarchical mode (default 1,000 entries, 5 minutes,
   * 1,000,000 uses), data keys in direct mode (default: nothing kept; only concurrent requests of one
   * wrapped key are shared).
   */
  cache?: Partial<KeyCacheOptions>
  /** Most KMS requests in flight at once from this provider. Default 16. */
  maxConcurrency?: number
  /** Receivers of `kms-request` and `cache` events. */
  observers?: readonly RowcryptObserver[]
  /** When each version's key was created (Date or ISO 8601 string), for key ages; default: the KMS key's `CreationDate` (`DescribeKey`). */
  createdAt?: KeyCreatedAtInput
}

/**
 * Options of {@link AwsKmsKeyProvider.shredTenant}.
 *
 * @example
 * ```ts
 * await keyProvider.shredTenant('acme', { kmsKeys: 'schedule-deletion', pendingWindowInDays: 7 })
 * ```
 */
export interface ShredTenantOptions {
  /**
   * What to do with the tenant's own KMS keys (from `tenantKeys` / `keyIdFor`):
   * `schedule-deletion` (default), `disable`, or `keep`. Shared keys are never touched.
   */
  kmsKeys?: 'schedule-deletion' | 'disable' | 'keep'
  /** Waiting period before KMS deletes a scheduled key, 7 to 30 days. Default 30. */
  pendingWindowInDays?: number
}

/**
 * What {@link AwsKmsKeyProvider.shredTenant} destroyed.
 *
 * @example
 * ```ts
 * const { tenantKeysDestroyed, kmsKeys } = await keyProvider.shredTenant('acme')
 * audit.log({ tenant: 'acme', tenantKeysDestroyed, kmsKeys: kmsKeys.map((k) => `${k.keyArn}: ${k.action}`) })
 * ```
 */
export interface ShredTenantResult {
  readonly tenantId: string
  /** Live tenant intermediate keys removed from the store (0 in direct mode without a store). */
  readonly tenantKeysDestroyed: number
  /** The tenant's own KMS keys and what was done to them. */
  readonly kmsKeys: ReadonlyArray<{
    readonly keyVersion: string
    readonly keyArn: string
    readonly action: 'scheduled-deletion' | 'disabled' | 'kept' | 'already-pending-deletion'
    readonly deletionDate?: Date
  }>
}

const FORMAT_HKDF_GCM = 0x01
const FORMAT_DIRECT = 0x02
const FORMAT_XAES = 0x03
const SALT_BYTES = 16
const HKDF_GCM_BLOB_BYTES = 1 + SALT_BYTES + IV_BYTES + KEY_BYTES + TAG_BYTES
const WRAP_INFO = Buffer.from('rowcrypt/aws-kms/hierarchical/row-dek/v1')
const INDEX_INFO = Buffer.from('rowcrypt/aws-kms/hierarchical/blind-index/v1')
const VERSION_NAME = /^[A-Za-z0-9._-]{1,64}$/
const TENANT_KEY_PURPOSE = 'tenant-key'

const UNAVAILABLE = new Set([
  'KMSInternalException',
  'DependencyTimeoutException',
  'KeyUnavailableException',
  'ServiceUnavailableException',
  'ServiceUnavailable',
  'InternalFailure',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'AbortError',
])
const THROTTLED = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded', 'LimitExceededException'])
const DENIED = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignature',
  'IncompleteSignatureException',
  'MissingAuthenticationToken',
  'MissingAuthenticationTokenException',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'CredentialsProviderError',
])
const AUTHENTICATION = new Set(['InvalidCiphertextException', 'IncorrectKeyException'])
const KEY_UNUSABLE = new Set(['DisabledException', 'KMSInvalidStateException', 'NotFoundException', 'InvalidKeyUsageException', 'InvalidArnException'])
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])
const NETWORK_CODE_IN_MESSAGE = /\b(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)\b/

/**
 * A key provider backed by AWS KMS, on a `KMSClient` you construct (region, credentials, retries).
 *
 * Every KMS request carries an `EncryptionContext` equal to the binding: in direct mode the row
 * key's context `{ purpose: 'row-dek', model, tenantId, rowId?, keyVersion }`; in hierarchical
 * mode the tenant key's `{ purpose: 'tenant-key', tenantId, keyVersion }` (the row binding is then
 * the AAD of the local AES-256-GCM wrap). IAM conditions such as `kms:EncryptionContext:tenantId`
 * therefore work in both modes.
 *
 * Failures map to coded errors: unreachable, throttled or failing KMS (after the SDK's retries) →
 * `KmsUnavailableError`; access denied → `KmsAccessDeniedError`; disabled, pending-deletion or
 * missing keys → `KmsKeyUnusableError`; a wrong context, wrong key or damaged ciphertext →
 * `DecryptionError`; a shredded tenant → `TenantShreddedError`. A write whose key cannot be
 * obtained fails before any SQL is sent.
 *
 * @example
 * ```ts
 * import { KMSClient } from '@aws-sdk/client-kms'
 * import { AwsKmsKeyProvider, PrismaTenantKeyStore, rowcrypt } from 'rowcrypt'
 *
 * const base = new PrismaClient({ adapter })
 * const keyProvider = new AwsKmsKeyProvider({
 *   client: new KMSClient({ region: 'eu-west-1', maxAttempts: 5, retryMode: 'standard' }),
 *   keys: { v1: 'alias/rowcrypt-v1' },
 *   activeVersion: 'v1',
 *   tenantKeyStore: new PrismaTenantKeyStore({ prisma: base }),
 * })
 * await keyProvider.validate() // at start-up: store table and active KMS key
 * export const prisma = base.$extends(rowcrypt({ schema: manifest, keyProvider, models }))
 * ```
 */
export class AwsKmsKeyProvider implements KeyProvider {
  readonly activeKeyVersion: string
  readonly mode: AwsKmsMode
  readonly #client: KmsClientLike
  readonly #kms: KmsCommandClasses
  readonly #keys: ReadonlyMap<string, string>
  readonly #tenantKeys: ReadonlyMap<string, ReadonlyMap<string, string>>
  readonly #keyIdFor: ((tenantId: string, keyVersion: string) => string | undefined) | undefined
  readonly #store: TenantKeyStore | undefined
  readonly #keyring: TenantKeyring | undefined
  readonly #dataCache: KeyCache
  readonly #limiter: Limiter
  readonly #observers: readonly RowcryptObserver[]
  readonly #shredded = new Set<string>()
  readonly #aad = new RowAadEncoder()
  readonly #createdAt: KeyCreationTimes
  #validation: Promise<void> | undefined

  constructor(options: AwsKmsKeyProviderOptions) {
    if (options === null || typeof options !== 'object') throw new ConfigError('AwsKmsKeyProvider needs { client, keys, activeVersion }')
    if (typeof (options.client as { send?: unknown } | undefined)?.send !== 'function') throw new ConfigError('AwsKmsKeyProvider: "client" must be a KMSClient from @aws-sdk/client-kms')
    this.#client = options.client
    this.#kms = loadKmsModule()
    this.#keys = versionMap(options.keys, 'keys')
    if (this.#keys.size === 0) throw new ConfigError('AwsKmsKeyProvider: "keys" must name at least one version')
    if (typeof options.activeVersion !== 'string' || !this.#keys.has(options.activeVersion)) {
      throw new ConfigError(`AwsKmsKeyProvider: activeVersion "${String(options.activeVersion)}" is not among the keys`)
    }
    this.activeKeyVersion = options.activeVersion
    const mode = options.mode ?? 'hierarchical'
    if (mode !== 'hierarchical' && mode !== 'direct') throw new ConfigError(`AwsKmsKeyProvider: mode must be "hierarchical" or "direct"`)
    this.mode = mode
    const tenantKeys = new Map<string, ReadonlyMap<string, string>>()
    if (options.tenantKeys !== undefined) {
      if (options.tenantKeys === null || typeof options.tenantKeys !== 'object') throw new ConfigError('AwsKmsKeyProvider: "tenantKeys" must map tenant ids to { version: keyId }')
      for (const [tenant, map] of Object.entries(options.tenantKeys)) {
        const m = versionMap(map, `tenantKeys.${tenant}`)
        for (const v of m.keys()) if (!this.#keys.has(v)) throw new ConfigError(`AwsKmsKeyProvider: tenantKeys.${tenant} names version "${v}", which is not among the keys`)
        tenantKeys.set(tenant, m)
      }
    }
    this.#tenantKeys = tenantKeys
    if (options.keyIdFor !== undefined && typeof options.keyIdFor !== 'function') throw new ConfigError('AwsKmsKeyProvider: "keyIdFor" must be a function')
    this.#keyIdFor = options.keyIdFor
    const store = checkTenantKeyStore(options.tenantKeyStore, 'AwsKmsKeyProvider')
    if (mode === 'hierarchical' && store === undefined) {
      throw new ConfigError('AwsKmsKeyProvider: hierarchical mode needs a tenantKeyStore (PrismaTenantKeyStore, or InMemoryTenantKeyStore for tests)')
    }
    this.#store = store
    const concurrency = options.maxConcurrency ?? 16
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new ConfigError('AwsKmsKeyProvider: maxConcurrency must be an integer >= 1')
    this.#limiter = new Limiter(concurrency)
    this.#observers = [...(options.observers ?? [])]
    const cacheOptions = mode === 'hierarchical' ? options.cache : undefined
    this.#keyring =
      store === undefined
        ? undefined
        : new TenantKeyring(
            store,
            { generate: (tenantId, keyVersion) => this.#generateTenantKey(tenantId, keyVersion), open: (record, tenantId, keyVersion) => this.#openTenantKey(record, tenantId, keyVersion) },
            { cache: cacheOptions, observers: this.#observers },
          )
    this.#dataCache = new KeyCache(mode === 'direct' ? options.cache : undefined, { name: 'data-key', observers: this.#observers }, DATA_KEY_CACHE_DEFAULTS)
    this.#createdAt = new KeyCreationTimes(
      'AwsKmsKeyProvider',
      options.createdAt,
      this.#keys.keys(),
      async (v) => (await this.#call('DescribeKey', { KeyId: this.#keys.get(v)! }, undefined, v)).KeyMetadata?.CreationDate,
    )
  }

  async generateDataKey(context: BindingContext): Promise<GeneratedDataKey> {
    const tenantId = this.#checkContext(context)
    const keyVersion = this.activeKeyVersion
    if (this.mode === 'hierarchical') return this.#withTenantKey(tenantId, keyVersion, true, (t) => this.#generateUnder(t, context, keyVersion))
    const out = await this.#call('GenerateDataKey', { KeyId: this.#keyId(tenantId, keyVersion), KeySpec: 'AES_256', EncryptionContext: { ...context, keyVersion } }, tenantId, keyVersion)
    const plaintextKey = takeKey(out.Plaintext)
    return { plaintextKey, wrappedKey: directBlob(out.CiphertextBlob), keyVersion }
  }

  async wrapDataKey(plaintextKey: Uint8Array, context: BindingContext, keyVersion: string = this.activeKeyVersion): Promise<{ wrappedKey: Uint8Array; keyVersion: string }> {
    if (!(plaintextKey instanceof Uint8Array) || plaintextKey.length !== KEY_BYTES) throw new InvalidValueError('AwsKmsKeyProvider: data keys are 32 bytes')
    const tenantId = this.#checkContext(context)
    if (this.mode === 'hierarchical') {
      const wrappedKey = await this.#withTenantKey(tenantId, keyVersion, true, (t) => wrapRowKey(FORMAT_XAES, t.xaes, plaintextKey, this.#aad.encode(context, keyVersion)))
      return { wrappedKey, keyVersion }
    }
    const out = await this.#call('Encrypt', { KeyId: this.#keyId(tenantId, keyVersion), Plaintext: plaintextKey, EncryptionContext: { ...context, keyVersion } }, tenantId, keyVersion)
    return { wrappedKey: directBlob(out.CiphertextBlob), keyVersion }
  }

  async unwrapDataKey(wrappedKey: Uint8Array, keyVersion: string, context: BindingContext): Promise<Uint8Array> {
    const tenantId = this.#checkContext(context)
    const kmsKeyId = this.#keyId(tenantId, keyVersion)
    if (!(wrappedKey instanceof Uint8Array) || wrappedKey.length < 2) throw new DecryptionError()
    if (wrappedKey[0] === FORMAT_XAES || wrappedKey[0] === FORMAT_HKDF_GCM) {
      if (!tenantWrapped(wrappedKey)) throw new DecryptionError()
      const aad = this.#aad.encode(context, keyVersion)
      return this.#withTenantKey(tenantId, keyVersion, false, (t) => unwrapUnder(t, wrappedKey, aad))
    }
    if (wrappedKey[0] !== FORMAT_DIRECT) throw new DecryptionError()
    const blob = wrappedKey.subarray(1)
    const encryptionContext = { ...context, keyVersion }
    // Identical wrapped keys with identical bindings (one row reached twice in a result) share a call.
    const id = createHash('sha256').update(encodeContext(encryptionContext)).update(blob).digest('base64')
    return this.#dataCache.use(
      id,
      async () => takeKey((await this.#call('Decrypt', { CiphertextBlob: blob, KeyId: kmsKeyId, EncryptionContext: encryptionContext }, tenantId, keyVersion)).Plaintext),
      (key) => Uint8Array.from(key),
      tenantId === undefined ? [] : [tenantTag(tenantId)],
    )
  }

  /**
   * `generateDataKey` without a promise when the tenant's key for the active version is cached
   * (hierarchical mode); `undefined` otherwise, and when a subclass or the instance replaced
   * `generateDataKey`. Same keys, binding and errors as `generateDataKey`.
   *
   * @example
   * ```ts
   * const dk = keyProvider.generateDataKeySync(context) ?? (await keyProvider.generateDataKey(context))
   * ```
   */
  generateDataKeySync(context: BindingContext): GeneratedDataKey | undefined {
    if (this.mode !== 'hierarchical' || this.generateDataKey !== AwsKmsKeyProvider.prototype.generateDataKey) return undefined
    const tenantId = this.#checkContext(context)
    if (tenantId === undefined) return undefined
    const keyVersion = this.activeKeyVersion
    this.#checkKeyId(tenantId, keyVersion)
    return this.#keyring?.peek(tenantId, keyVersion, (t) => this.#generateUnder(t, context, keyVersion))?.value
  }

  /**
   * `unwrapDataKey` without a promise when the row's tenant key is cached (hierarchical mode);
   * `undefined` otherwise, and when a subclass or the instance replaced `unwrapDataKey`. Same
   * checks and errors as `unwrapDataKey`.
   *
   * @example
   * ```ts
   * const key = keyProvider.unwrapDataKeySync(blob, 'v1', context) ?? (await keyProvider.unwrapDataKey(blob, 'v1', context))
   * ```
   */
  unwrapDataKeySync(wrappedKey: Uint8Array, keyVersion: string, context: BindingContext): Uint8Array | undefined {
    if (this.unwrapDataKey !== AwsKmsKeyProvider.prototype.unwrapDataKey) return undefined
    if (!(wrappedKey instanceof Uint8Array) || !tenantWrapped(wrappedKey)) return undefined
    const tenantId = this.#checkContext(context)
    if (tenantId === undefined) return undefined
    this.#checkKeyId(tenantId, keyVersion)
    const aad = this.#aad.encode(context, keyVersion)
    return this.#keyring?.peek(tenantId, keyVersion, (t) => unwrapUnder(t, wrappedKey, aad))?.value
  }

  /**
   * Loads the tenant key that `unwrapDataKeySync` needs for this wrapped key (hierarchical mode);
   * `undefined` for a key KMS unwraps itself (direct mode), and when a subclass or the instance
   * replaced `unwrapDataKey`. The promise settles, never rejects, once the load is done or failed.
   *
   * @example
   * ```ts
   * await keyProvider.prepareUnwrapSync(blob, 'v1', context)
   * ```
   */
  prepareUnwrapSync(wrappedKey: Uint8Array, keyVersion: string, context: BindingContext): Promise<void> | undefined {
    if (this.unwrapDataKey !== AwsKmsKeyProvider.prototype.unwrapDataKey || this.#keyring === undefined) return undefined
    if (!(wrappedKey instanceof Uint8Array) || !tenantWrapped(wrappedKey)) return undefined
    let tenantId: string | undefined
    try {
      tenantId = this.#checkContext(context)
      this.#keyId(tenantId, keyVersion)
    } catch {
      return undefined
    }
    if (tenantId === undefined) return undefined
    return this.#keyring.prepare(tenantId, keyVersion)
  }

  /**
   * Moves a wrapped data key from `fromVersion` to `toVersion` for key rotation. In direct mode a
   * key wrapped by KMS is moved with one KMS `ReEncrypt` call (source and destination encryption
   * contexts carry the two versions), so the plaintext data key never leaves KMS. Otherwise (hierarchical
   * mode) the key is unwrapped under the tenant's `fromVersion` intermediate key and wrapped under its
   * `toVersion` one (made on first use), inside this process, and zeroed at once.
   *
   * @example
   * ```ts
   * const { wrappedKey, keyVersion } = await keyProvider.rewrapDataKey(blob, 'v1', 'v2', context)
   * ```
   */
  async rewrapDataKey(wrappedKey: Uint8Array, fromVersion: string, toVersion: string, context: BindingContext): Promise<{ wrappedKey: Uint8Array; keyVersion: string }> {
    const tenantId = this.#checkContext(context)
    const sourceKeyId = this.#keyId(tenantId, fromVersion)
    const destinationKeyId = this.#keyId(tenantId, toVersion)
    if (this.mode === 'direct' && wrappedKey instanceof Uint8Array && wrappedKey.length >= 2 && wrappedKey[0] === FORMAT_DIRECT) {
      const out = await this.#call(
        'ReEncrypt',
        {
          CiphertextBlob: wrappedKey.subarray(1),
          SourceKeyId: sourceKeyId,
          SourceEncryptionContext: { ...context, keyVersion: fromVersion },
          DestinationKeyId: destinationKeyId,
          DestinationEncryptionContext: { ...context, keyVersion: toVersion },
        },
        tenantId,
        `${fromVersion} -> ${toVersion}`,
      )
      return { wrappedKey: directBlob(out.CiphertextBlob), keyVersion: toVersion }
    }
    const plaintextKey = await this.unwrapDataKey(wrappedKey, fromVersion, context)
    try {
      return await this.wrapDataKey(plaintextKey, context, toVersion)
    } finally {
      zero(plaintextKey)
    }
  }

  /**
   * Checks the set-up once and remembers success: the tenant key store (table present, columns
   * usable) and the active version's KMS key (exists, enabled, symmetric encryption key). Call it at
   * start-up; it throws `ConfigError`, `KmsKeyUnusableError`, `KmsAccessDeniedError` or
   * `KmsUnavailableError`. The store is also validated before its first use anyway.
   *
   * @example
   * ```ts
   * await keyProvider.validate()
   * ```
   */
  validate(): Promise<void> {
    this.#validation ??= (async () => {
      await this.#keyring?.validate()
      const version = this.activeKeyVersion
      const out = await this.#call('DescribeKey', { KeyId: this.#keys.get(version)! }, undefined, version)
      const m = out.KeyMetadata
      if (m?.KeyState !== 'Enabled') throw new KmsKeyUnusableError(`the KMS key of the active version "${version}" is ${m?.KeyState ?? 'unknown'}, not Enabled`)
      if (m.KeyUsage !== 'ENCRYPT_DECRYPT' || (m.KeySpec ?? 'SYMMETRIC_DEFAULT') !== 'SYMMETRIC_DEFAULT') {
        throw new KmsKeyUnusableError(`the KMS key of version "${version}" must be a symmetric encryption key (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT)`)
      }
    })().catch((e: unknown) => {
      this.#validation = undefined
      throw e
    })
    return this.#validation
  }

  /**
   * Crypto-shredding: destroys every intermediate key of `tenantId` in the store (leaving a
   * tombstone), drops its keys from this process's cache, and schedules deletion of (or disables)
   * the tenant's own KMS keys. Afterwards every row of the tenant fails with
   * `ERR_ROWCRYPT_TENANT_SHREDDED` (or, in other processes until their cache expires, at most
   * `cache.maxAgeMs` later), new rows are refused, and no other tenant is affected.
   *
   * With shared KMS keys, old database backups still hold the tenant's wrapped intermediate key:
   * give tenants their own KMS keys when backups must be shredded too (see docs/aws-kms.md).
   *
   * @example
   * ```ts
   * const result = await keyProvider.shredTenant('tenant_x')
   * log.info(result.tenantKeysDestroyed, result.kmsKeys)
   * ```
   */
  async shredTenant(tenantId: string, options: ShredTenantOptions = {}): Promise<ShredTenantResult> {
    assertTenantId(tenantId)
    const action = options.kmsKeys ?? 'schedule-deletion'
    if (!['schedule-deletion', 'disable', 'keep'].includes(action)) throw new ConfigError('shredTenant: kmsKeys must be "schedule-deletion", "disable" or "keep"')
    const window = options.pendingWindowInDays ?? 30
    if (!Number.isInteger(window) || window < 7 || window > 30) throw new ConfigError('shredTenant: pendingWindowInDays must be an integer from 7 to 30')
    const own = this.#ownKeys(tenantId)
    // Direct mode keeps no tenant key: with shared KMS keys there is nothing to destroy, whatever
    // a store would record (direct-mode reads never consult it).
    if (own.length === 0 && (this.#store === undefined || this.mode === 'direct')) {
      throw new ConfigError(`shredTenant: tenant ${tenantId} has no key of its own to destroy (direct mode with shared KMS keys); give it its own KMS keys or use hierarchical mode`)
    }
    const tenantKeysDestroyed = this.#keyring === undefined ? 0 : await this.#keyring.shred(tenantId)
    this.#shredded.add(tenantId)
    this.#dataCache.evictTagged(tenantTag(tenantId))
    const kmsKeys: Array<ShredTenantResult['kmsKeys'][number]> = []
    const seen = new Set<string>()
    for (const { keyVersion, keyId } of own) {
      const meta = (await this.#call('DescribeKey', { KeyId: keyId }, tenantId, keyVersion)).KeyMetadata
      const arn = meta?.Arn ?? keyId
      if (seen.has(arn)) continue
      seen.add(arn)
      if (action === 'keep') kmsKeys.push({ keyVersion, keyArn: arn, action: 'kept' })
      else if (meta?.KeyState === 'PendingDeletion') kmsKeys.push({ keyVersion, keyArn: arn, action: 'already-pending-deletion', ...(meta.DeletionDate ? { deletionDate: meta.DeletionDate } : {}) })
      else if (action === 'disable') {
        await this.#call('DisableKey', { KeyId: arn }, tenantId, keyVersion)
        kmsKeys.push({ keyVersion, keyArn: arn, action: 'disabled' })
      } else {
        const out = await this.#call('ScheduleKeyDeletion', { KeyId: arn, PendingWindowInDays: window }, tenantId, keyVersion)
        kmsKeys.push({ keyVersion, keyArn: arn, action: 'scheduled-deletion', ...(out.DeletionDate ? { deletionDate: out.DeletionDate } : {}) })
      }
    }
    return { tenantId, tenantKeysDestroyed, kmsKeys }
  }

  /**
   * When `keyVersion`'s KMS key was created: the `createdAt` option, else KMS `DescribeKey`'s
   * `CreationDate` (asked once per version).
   *
   * @example
   * ```ts
   * const created = await keyProvider.keyCreatedAt('v1')
   * ```
   */
  keyCreatedAt(keyVersion: string): Promise<Date | undefined> {
    return this.#createdAt.of(keyVersion)
  }

  /**
   * When the tenant's intermediate key under `keyVersion` was created (hierarchical mode, from the
   * tenant key store); undefined in direct mode, before the tenant's first row, or once shredded.
   *
   * @example
   * ```ts
   * const created = await keyProvider.tenantKeyCreatedAt('acme', 'v2')
   * ```
   */
  tenantKeyCreatedAt(tenantId: string, keyVersion: string): Promise<Date | undefined> {
    return tenantKeyCreatedAtFromStore(this.mode === 'hierarchical' ? this.#store : undefined, tenantId, keyVersion)
  }

  /**
   * Drops (and zeroes) every cached key; the next use reloads from the store and KMS.
   *
   * @example
   * ```ts
   * process.on('SIGTERM', () => keyProvider.clearCache())
   * ```
   */
  clearCache(): void {
    this.#keyring?.clear()
    this.#dataCache.clear()
  }

  /**
   * The tenant's blind-index root key under `keyVersion` (hierarchical mode only): HKDF-SHA256 of
   * the tenant's intermediate key, so searching costs no KMS call once that key is cached. Direct
   * mode holds no key material outside KMS and throws `ConfigError`.
   *
   * @example
   * ```ts
   * const root = await keyProvider.indexKey('tenant_a', 'v1')
   * ```
   */
  async indexKey(tenantId: string, keyVersion: string): Promise<Uint8Array> {
    assertTenantId(tenantId)
    if (this.mode !== 'hierarchical') throw new ConfigError('AwsKmsKeyProvider: searchable fields (blind indexes) need hierarchical mode')
    const info = Buffer.concat([INDEX_INFO, encodeContext({ purpose: 'blind-index', tenantId, keyVersion })])
    return this.#withTenantKey(tenantId, keyVersion, true, (t) => new Uint8Array(hkdfSync('sha256', t.bytes, Buffer.alloc(0), info, KEY_BYTES)))
  }

  // --- tenant keys (hierarchical) -----------------------------------------------------------

  #withTenantKey<T>(tenantId: string | undefined, keyVersion: string, create: boolean, fn: (key: TenantKey) => T): Promise<T> {
    if (tenantId === undefined) throw new ConfigError('AwsKmsKeyProvider: hierarchical keys need a tenantId in the binding context')
    const keyring = this.#keyring
    if (keyring === undefined) throw new ConfigError('AwsKmsKeyProvider: this data key was wrapped in hierarchical mode; configure the tenantKeyStore to unwrap it')
    this.#keyId(tenantId, keyVersion)
    return keyring.use(tenantId, keyVersion, create, fn)
  }

  #generateUnder(t: TenantKey, context: BindingContext, keyVersion: string): GeneratedDataKey {
    const plaintextKey = generateKey()
    try {
      return { plaintextKey, wrappedKey: wrapRowKey(FORMAT_XAES, t.xaes, plaintextKey, this.#aad.encode(context, keyVersion)), keyVersion }
    } catch (e) {
      zero(plaintextKey)
      throw e
    }
  }

  async #generateTenantKey(tenantId: string, keyVersion: string): Promise<{ plaintext: Uint8Array; wrappedKey: Uint8Array; wrappingKeyId: string }> {
    const kmsKeyId = this.#keyId(tenantId, keyVersion)
    const out = await this.#call('GenerateDataKey', { KeyId: kmsKeyId, KeySpec: 'AES_256', EncryptionContext: tenantKeyContext(tenantId, keyVersion) }, tenantId, keyVersion)
    const plaintext = takeKey(out.Plaintext)
    try {
      return { plaintext, wrappedKey: requireBlob(out.CiphertextBlob), wrappingKeyId: out.KeyId ?? kmsKeyId }
    } catch (e) {
      zero(plaintext)
      throw e
    }
  }

  async #openTenantKey(record: TenantKeyRecord, tenantId: string, keyVersion: string): Promise<Uint8Array> {
    if (record.wrappedKey === null || record.wrappedKey.length === 0) throw new DecryptionError()
    const kmsKeyId = this.#keyId(tenantId, keyVersion)
    const out = await this.#call('Decrypt', { CiphertextBlob: record.wrappedKey, KeyId: kmsKeyId, EncryptionContext: tenantKeyContext(tenantId, keyVersion) }, tenantId, keyVersion)
    return takeKey(out.Plaintext)
  }

  // --- KMS ----------------------------------------------------------------------------------

  async #call<K extends KmsOperation>(operation: K, input: KmsInput<K>, tenantId: string | undefined, keyVersion: string): Promise<KmsOutput<K>> {
    if (tenantId !== undefined && this.#shredded.has(tenantId) && operation !== 'DescribeKey' && operation !== 'DisableKey' && operation !== 'ScheduleKeyDeletion') {
      throw shreddedError(tenantId)
    }
    const Command = this.#kms[`${operation}Command`] as unknown as new (input: KmsInput<K>) => KmsCommandLike
    return this.#limiter.run(async () => {
      const started = performance.now()
      try {
        const out = (await this.#client.send(new Command(input))) as KmsOutput<K>
        this.#event({ type: 'kms-request', operation, outcome: 'ok', durationMs: performance.now() - started, attempts: out.$metadata?.attempts ?? 1 })
        return out
      } catch (e) {
        const { outcome, error } = mapKmsError(operation, e, tenantId, keyVersion)
        const attempts = (e as { $metadata?: { attempts?: number } } | null)?.$metadata?.attempts ?? 1
        this.#event({ type: 'kms-request', operation, outcome, durationMs: performance.now() - started, attempts })
        throw error
      }
    })
  }

  #event(event: KeyProviderEvent): void {
    if (this.#observers.length > 0) notifyKeyProvider(this.#observers, event)
  }

  // --- keys and contexts --------------------------------------------------------------------

  #keyId(tenantId: string | undefined, keyVersion: string): string {
    const fallback = this.#keys.get(keyVersion)
    if (fallback === undefined) throw new KeyVersionError(`no KMS key for version "${keyVersion}"`)
    if (tenantId === undefined) return fallback
    const resolved = this.#keyIdFor?.(tenantId, keyVersion) ?? this.#tenantKeys.get(tenantId)?.get(keyVersion)
    if (resolved === undefined) return fallback
    if (typeof resolved !== 'string' || resolved.length === 0) throw new ConfigError(`AwsKmsKeyProvider: keyIdFor returned no usable key id for tenant ${tenantId}, version "${keyVersion}"`)
    return resolved
  }

  // The tenant's own KMS keys: those that differ from the shared ones and (for the map form) are not
  // used by another tenant. A resolver is trusted to return keys exclusive to the tenant.
  #ownKeys(tenantId: string): Array<{ keyVersion: string; keyId: string }> {
    const own: Array<{ keyVersion: string; keyId: string }> = []
    const shared = new Set(this.#keys.values())
    for (const [t, m] of this.#tenantKeys) if (t !== tenantId) for (const k of m.values()) shared.add(k)
    for (const keyVersion of this.#keys.keys()) {
      const keyId = this.#keyId(tenantId, keyVersion)
      if (!shared.has(keyId)) own.push({ keyVersion, keyId })
    }
    return own
  }

  // Refuses what #keyId refuses, as the per-row synchronous paths must. Without a keyIdFor function
  // that is only a version without a KMS key (the tenant maps were checked at construction), so a
  // row costs one map lookup instead of the tenant's resolution.
  #checkKeyId(tenantId: string, keyVersion: string): void {
    if (this.#keyIdFor !== undefined || !this.#keys.has(keyVersion)) this.#keyId(tenantId, keyVersion)
  }

  #checkContext(context: BindingContext): string | undefined {
    if (context === null || typeof context !== 'object') throw new ConfigError('a binding context must be an object of strings')
    if (Object.hasOwn(context, 'keyVersion')) throw new ConfigError('a binding context must not contain "keyVersion"; the provider binds it')
    // Own enumerable keys, as Object.values reads them, without making its array (this runs per row).
    for (const k in context) if (Object.hasOwn(context, k) && typeof context[k] !== 'string') throw new ConfigError('a binding context must be an object of strings')
    const tenantId = context.tenantId
    if (tenantId !== undefined && this.#shredded.has(tenantId)) throw shreddedError(tenantId)
    return tenantId
  }
}

type KmsInput<K extends KmsOperation> = KmsOperations[K][0]
type KmsOutput<K extends KmsOperation> = KmsOperations[K][1]

function loadKmsModule(): KmsCommandClasses {
  try {
    // Required lazily: @aws-sdk/client-kms is an optional peer dependency of rowcrypt.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- synchronous, at first use only
    return require('@aws-sdk/client-kms') as KmsCommandClasses
  } catch (cause) {
    throw new ConfigError('AwsKmsKeyProvider needs the @aws-sdk/client-kms package: npm install @aws-sdk/client-kms', { cause })
  }
}

function versionMap(input: unknown, what: string): Map<string, string> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new ConfigError(`AwsKmsKeyProvider: "${what}" must map version names to KMS key ids`)
  const out = new Map<string, string>()
  for (const [version, keyId] of Object.entries(input)) {
    if (!VERSION_NAME.test(version)) throw new ConfigError(`AwsKmsKeyProvider: key version name "${version}" must match ${VERSION_NAME}`)
    if (typeof keyId !== 'string' || keyId.length === 0) throw new ConfigError(`AwsKmsKeyProvider: ${what}.${version} must be a KMS key id, ARN or alias`)
    out.set(version, keyId)
  }
  return out
}

function tenantTag(tenantId: string): string {
  return cacheKey('tenant', tenantId)
}

function tenantKeyContext(tenantId: string, keyVersion: string): Record<string, string> {
  return { purpose: TENANT_KEY_PURPOSE, tenantId, keyVersion }
}

// Whether a provider blob is a row key wrapped under a tenant key (checked by length too: a damaged
// direct-mode blob must fail as damaged, not as a missing store).
function tenantWrapped(blob: Uint8Array): boolean {
  return (blob[0] === FORMAT_XAES && blob.length === ROW_WRAP_BYTES) || (blob[0] === FORMAT_HKDF_GCM && blob.length === HKDF_GCM_BLOB_BYTES)
}

// A row key under the tenant key: XAES-256-GCM, or (rows written by earlier releases) AES-256-GCM
// under a key derived from the tenant key and the row's salt with HKDF-SHA256.
function unwrapUnder(t: TenantKey, blob: Uint8Array, aad: Buffer): Uint8Array {
  if (blob[0] === FORMAT_XAES) return unwrapRowKey(t.xaes, blob, aad)
  if (blob.length !== HKDF_GCM_BLOB_BYTES) throw new DecryptionError()
  const salt = blob.subarray(1, 1 + SALT_BYTES)
  const iv = blob.subarray(1 + SALT_BYTES, 1 + SALT_BYTES + IV_BYTES)
  const ct = blob.subarray(1 + SALT_BYTES + IV_BYTES, 1 + SALT_BYTES + IV_BYTES + KEY_BYTES)
  const tag = blob.subarray(HKDF_GCM_BLOB_BYTES - TAG_BYTES)
  const k = Buffer.from(hkdfSync('sha256', t.bytes, salt, WRAP_INFO, KEY_BYTES))
  try {
    return open(k, iv, ct, tag, aad)
  } catch (e) {
    if (e instanceof AuthenticationFailure) throw new DecryptionError()
    throw e
  } finally {
    zero(k)
  }
}

function directBlob(blob: Uint8Array | undefined): Uint8Array {
  const b = requireBlob(blob)
  const out = new Uint8Array(1 + b.length)
  out[0] = FORMAT_DIRECT
  out.set(b, 1)
  return out
}

function requireBlob(blob: Uint8Array | undefined): Uint8Array {
  if (!(blob instanceof Uint8Array) || blob.length === 0) throw new KeyProviderError('KMS returned no CiphertextBlob')
  return blob
}

// Copies a plaintext key out of an SDK response and zeroes the response's buffer.
function takeKey(plaintext: Uint8Array | undefined): Buffer {
  if (!(plaintext instanceof Uint8Array)) throw new KeyProviderError('KMS returned no Plaintext')
  const key = Buffer.from(plaintext)
  zero(plaintext)
  if (key.length !== KEY_BYTES) {
    zero(key)
    throw new DecryptionError()
  }
  return key
}

/** @internal Maps an AWS SDK error to a coded rowcrypt error and an event outcome. */
export function mapKmsError(operation: string, e: unknown, tenantId: string | undefined, keyVersion: string): { outcome: 'throttled' | 'unavailable' | 'denied' | 'error'; error: RowcryptError } {
  if (e instanceof RowcryptError) return { outcome: 'error', error: e }
  const err = (e ?? {}) as { name?: unknown; code?: unknown; message?: unknown; $metadata?: { httpStatusCode?: number; attempts?: number } }
  const name = typeof err.name === 'string' ? err.name : 'Error'
  const message = typeof err.message === 'string' ? err.message : ''
  // Errors from another realm reach us wrapped by the SDK ("AWS SDK error wrapper for Error: connect
  // ECONNREFUSED ..."), without their `code`: recover the network code from the message.
  const code = typeof err.code === 'string' ? err.code : NETWORK_CODE_IN_MESSAGE.exec(message)?.[1]
  const status = err.$metadata?.httpStatusCode
  const attempts = err.$metadata?.attempts ?? 1
  const where = `${tenantId !== undefined ? `tenant ${tenantId}, ` : ''}key version "${keyVersion}"`
  const summary = `KMS ${operation} failed (${where}): ${name}${code !== undefined && code !== name ? ` ${code}` : ''}${status !== undefined ? `, HTTP ${status}` : ''}, after ${attempts} attempt${attempts === 1 ? '' : 's'}`
  // The SDK error keeps its raw response; the cause keeps only its name, code and KMS's own message.
  const cause = Object.assign(new Error(message !== '' ? message.slice(0, 500) : name), { name, ...(code !== undefined ? { code } : {}) })
  if (AUTHENTICATION.has(name)) return { outcome: 'error', error: new DecryptionError() }
  if (THROTTLED.has(name) || status === 429) return { outcome: 'throttled', error: new KmsUnavailableError(summary, { cause }) }
  if (UNAVAILABLE.has(name) || (code !== undefined && NETWORK_CODES.has(code)) || (status !== undefined && status >= 500)) {
    return { outcome: 'unavailable', error: new KmsUnavailableError(summary, { cause }) }
  }
  if (DENIED.has(name) || status === 403) return { outcome: 'denied', error: new KmsAccessDeniedError(summary, { cause }) }
  if (KEY_UNUSABLE.has(name)) return { outcome: 'error', error: new KmsKeyUnusableError(summary, { cause }) }
  return { outcome: 'error', error: new KeyProviderError(summary, { cause }) }
}

/** At most `max` tasks at once; a finishing task hands its slot straight to the next waiter. */
class Limiter {
  #active = 0
  readonly #queue: Array<() => void> = []
  constructor(readonly max: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#active < this.max) this.#active++
    else await new Promise<void>((resolve) => this.#queue.push(resolve))
    try {
      return await fn()
    } finally {
      const next = this.#queue.shift()
      if (next !== undefined) next()
      else this.#active--
    }
  }
}
