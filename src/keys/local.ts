import { readFileSync } from 'node:fs'
import { hkdfSync, randomBytes } from 'node:crypto'
import { AuthenticationFailure, IV_BYTES, KEY_BYTES, TAG_BYTES, generateIv, generateKey, open, seal, zero } from '../crypto/aes-gcm'
import { cacheKey } from '../crypto/cache-key'
import { appendContext, encodeContext, encodeContextPrefix, type BindingContext } from '../crypto/context'
import { ConfigError, DecryptionError, KeyVersionError } from '../errors'
import { KeyCreationTimes, type KeyCreatedAtInput } from './key-ages'
import type { GeneratedDataKey, KeyProvider } from './provider'

/** A 256-bit master key: raw bytes, a 64-character hex string or a base64/base64url string. */
export type MasterKeyInput = Uint8Array | string

/** Options of {@link LocalKeyProvider}. */
export interface LocalKeyProviderOptions {
  /** Master keys by version. Every listed version unwraps; only `activeVersion` wraps. */
  keys: Record<string, MasterKeyInput>
  /** The version that wraps new data keys. */
  activeVersion: string
  /** When each version's master key was created (Date or ISO 8601 string), for key ages; versions left out have no known age. */
  createdAt?: KeyCreatedAtInput
}

const WRAP_INFO = Buffer.from('rowcrypt/local-key-provider/wrap/v1')
const INDEX_INFO = Buffer.from('rowcrypt/local-key-provider/blind-index/v1')
const BLOB_BYTES = IV_BYTES + KEY_BYTES + TAG_BYTES
const VERSION_NAME = /^[A-Za-z0-9._-]{1,64}$/
// Bound of the per-provider cache of encoded AAD prefixes (one per key version, model and purpose).
const AAD_PREFIXES_MAX = 1024

/** @internal A synchronous unwrap; undefined when the provider's method was replaced (use the async one). */
export type SyncUnwrap = (wrappedKey: Uint8Array, keyVersion: string, context: BindingContext) => Uint8Array | undefined

let unwrapSync: (p: LocalKeyProvider, wrappedKey: Uint8Array, keyVersion: string, context: BindingContext) => Uint8Array
let generateSync: (p: LocalKeyProvider, context: BindingContext) => GeneratedDataKey

/**
 * A key provider that holds versioned 256-bit master keys in process memory. For development,
 * tests and single-host deployments; production keys belong in a KMS.
 *
 * Data keys are wrapped with AES-256-GCM under a wrapping key derived from the master key with
 * HKDF-SHA256, and the AAD is the same binding context (plus the key version) that the data uses.
 *
 * @example
 * ```ts
 * const keyProvider = new LocalKeyProvider({
 *   keys: { v1: secrets.rowcryptKeyV1, v2: secrets.rowcryptKeyV2 }, // from your secret store
 *   activeVersion: 'v2',
 * })
 * ```
 */
export class LocalKeyProvider implements KeyProvider {
  readonly activeKeyVersion: string
  readonly #wrappingKeys = new Map<string, Buffer>()
  readonly #aadPrefixes = new Map<string, Buffer>()
  readonly #indexRoots = new Map<string, Buffer>()
  readonly #createdAt: KeyCreationTimes

  static {
    unwrapSync = (p, wrappedKey, keyVersion, context) => p.#unwrap(wrappedKey, keyVersion, context)
    generateSync = (p, context) => p.#generate(context)
  }

  constructor(options: LocalKeyProviderOptions) {
    if (options === null || typeof options !== 'object' || options.keys === null || typeof options.keys !== 'object') {
      throw new ConfigError('LocalKeyProvider needs { keys, activeVersion }')
    }
    for (const [version, input] of Object.entries(options.keys)) {
      if (!VERSION_NAME.test(version)) throw new ConfigError(`LocalKeyProvider: key version name "${version}" must match ${VERSION_NAME}`)
      const master = decodeMasterKey(input, version)
      this.#wrappingKeys.set(version, Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), WRAP_INFO, KEY_BYTES)))
      // A separate HKDF output: blind-index keys never relate to the keys that wrap data keys.
      this.#indexRoots.set(version, Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), INDEX_INFO, KEY_BYTES)))
      if (typeof input === 'string') zero(master)
    }
    if (!this.#wrappingKeys.has(options.activeVersion)) {
      throw new ConfigError(`LocalKeyProvider: activeVersion "${String(options.activeVersion)}" is not among the keys`)
    }
    this.activeKeyVersion = options.activeVersion
    this.#createdAt = new KeyCreationTimes('LocalKeyProvider', options.createdAt, this.#wrappingKeys.keys())
  }

  /**
   * Reads a key file: JSON `{ "activeVersion": "v1", "keys": { "v1": "<base64 or hex>" }, "createdAt": { "v1": "2026-01-31" } }`
   * (`createdAt` optional).
   *
   * @example
   * ```ts
   * const keyProvider = LocalKeyProvider.fromFile('/run/secrets/rowcrypt-keys.json')
   * ```
   */
  static fromFile(path: string): LocalKeyProvider {
    let parsed: unknown
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'))
    } catch (cause) {
      // The cause is an fs or JSON error; a JSON error may quote the file, so keep only fs errors.
      throw new ConfigError(`LocalKeyProvider: cannot read key file ${path}`, { cause: cause instanceof SyntaxError ? undefined : cause })
    }
    return new LocalKeyProvider(parsed as LocalKeyProviderOptions)
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

  async generateDataKey(context: BindingContext): Promise<GeneratedDataKey> {
    return this.#generate(context)
  }

  #generate(context: BindingContext): GeneratedDataKey {
    const plaintextKey = generateKey()
    try {
      const { wrappedKey, keyVersion } = this.#wrap(plaintextKey, context, this.activeKeyVersion)
      return { plaintextKey, wrappedKey, keyVersion }
    } catch (e) {
      zero(plaintextKey)
      throw e
    }
  }

  async wrapDataKey(plaintextKey: Uint8Array, context: BindingContext, keyVersion = this.activeKeyVersion) {
    return this.#wrap(plaintextKey, context, keyVersion)
  }

  async unwrapDataKey(wrappedKey: Uint8Array, keyVersion: string, context: BindingContext): Promise<Uint8Array> {
    return this.#unwrap(wrappedKey, keyVersion, context)
  }

  #unwrap(wrappedKey: Uint8Array, keyVersion: string, context: BindingContext): Uint8Array {
    const kek = this.#key(keyVersion)
    if (wrappedKey.length !== BLOB_BYTES) throw new DecryptionError()
    const iv = wrappedKey.subarray(0, IV_BYTES)
    const ct = wrappedKey.subarray(IV_BYTES, IV_BYTES + KEY_BYTES)
    const tag = wrappedKey.subarray(IV_BYTES + KEY_BYTES)
    try {
      return open(kek, iv, ct, tag, this.#aad(context, keyVersion))
    } catch (e) {
      if (e instanceof AuthenticationFailure) throw new DecryptionError()
      throw e
    }
  }

  /**
   * Moves a wrapped data key to another version: unwrapped and wrapped again inside the provider,
   * the plaintext key zeroed before returning (it never reaches the caller).
   *
   * @example
   * ```ts
   * const moved = await provider.rewrapDataKey(wrappedKey, 'v1', 'v2', context)
   * ```
   */
  async rewrapDataKey(wrappedKey: Uint8Array, fromVersion: string, toVersion: string, context: BindingContext): Promise<{ wrappedKey: Uint8Array; keyVersion: string }> {
    this.#key(toVersion)
    const plaintextKey = await this.unwrapDataKey(wrappedKey, fromVersion, context)
    try {
      return this.#wrap(plaintextKey, context, toVersion)
    } finally {
      zero(plaintextKey)
    }
  }

  /**
   * The tenant's blind-index root key under `keyVersion`: HKDF-SHA256 of the version's master key,
   * with the tenant in the info. Deterministic; unrelated across tenants and versions.
   *
   * @example
   * ```ts
   * const root = await provider.indexKey('tenant_a', 'v1')
   * ```
   */
  async indexKey(tenantId: string, keyVersion: string): Promise<Uint8Array> {
    const root = this.#indexRoots.get(keyVersion)
    if (root === undefined) throw new KeyVersionError(`no local master key for version "${keyVersion}"`)
    return new Uint8Array(hkdfSync('sha256', root, Buffer.alloc(0), encodeContext({ purpose: 'blind-index', tenantId, keyVersion }), KEY_BYTES))
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

  #wrap(plaintextKey: Uint8Array, context: BindingContext, keyVersion: string) {
    if (plaintextKey.length !== KEY_BYTES) throw new RangeError('data keys are 32 bytes')
    const kek = this.#key(keyVersion)
    const iv = generateIv()
    const { ciphertext, tag } = seal(kek, iv, plaintextKey, this.#aad(context, keyVersion))
    // One allocation for the blob: iv | ciphertext | tag.
    const wrappedKey = new Uint8Array(BLOB_BYTES)
    wrappedKey.set(iv, 0)
    wrappedKey.set(ciphertext, IV_BYTES)
    wrappedKey.set(tag, IV_BYTES + KEY_BYTES)
    return { wrappedKey, keyVersion }
  }

  // The key version is bound by the provider itself; a caller's entry of that name would be lost.
  #aad(context: BindingContext, keyVersion: string): Buffer {
    // Fast path for the row key contexts rowcrypt makes, { purpose, model, tenantId } plus
    // `rowId` when bound: sorted, the entries are keyVersion, model, purpose, (rowId), tenantId, so
    // the first three are encoded once per (version, model, purpose). Same bytes as below.
    const { purpose, model, tenantId, rowId } = context
    if (
      typeof purpose === 'string' &&
      typeof model === 'string' &&
      typeof tenantId === 'string' &&
      Object.hasOwn(context, 'purpose') &&
      Object.hasOwn(context, 'model') &&
      Object.hasOwn(context, 'tenantId') &&
      (rowId === undefined ? Object.keys(context).length === 3 : typeof rowId === 'string' && Object.hasOwn(context, 'rowId') && Object.keys(context).length === 4)
    ) {
      const id = cacheKey(keyVersion, model, purpose)
      let prefix = this.#aadPrefixes.get(id)
      if (prefix === undefined) {
        if (this.#aadPrefixes.size >= AAD_PREFIXES_MAX) this.#aadPrefixes.clear()
        prefix = encodeContextPrefix([
          ['keyVersion', keyVersion],
          ['model', model],
          ['purpose', purpose],
        ])
        this.#aadPrefixes.set(id, prefix)
      }
      return appendContext(prefix, rowId === undefined ? ['tenantId', tenantId] : ['rowId', rowId, 'tenantId', tenantId])
    }
    if (Object.hasOwn(context, 'keyVersion')) throw new ConfigError('a binding context must not contain "keyVersion"; the provider binds it')
    return encodeContext({ ...context, keyVersion })
  }

  #key(version: string): Buffer {
    const k = this.#wrappingKeys.get(version)
    if (k === undefined) throw new KeyVersionError(`no local master key for version "${version}"`)
    return k
  }
}

/**
 * @internal The synchronous unwrap of a `LocalKeyProvider` whose `unwrapDataKey` is its own (not
 * overridden by a subclass), for the read path's per-row loop; undefined for any other provider.
 * Same checks, bytes and errors as `unwrapDataKey`, without a promise per row.
 */
export function syncUnwrapOf(p: KeyProvider): SyncUnwrap | undefined {
  const own = () => p.unwrapDataKey === LocalKeyProvider.prototype.unwrapDataKey
  if (!(p instanceof LocalKeyProvider) || !own()) return undefined
  // Checked again on every call: a method replaced on the instance later (an audit hook) must run.
  return (wrappedKey, keyVersion, context) => (own() ? unwrapSync(p, wrappedKey, keyVersion, context) : undefined)
}

/** @internal Like {@link syncUnwrapOf}, for `generateDataKey`. */
export function syncGenerateOf(p: KeyProvider): ((context: BindingContext) => GeneratedDataKey | undefined) | undefined {
  const own = () => p.generateDataKey === LocalKeyProvider.prototype.generateDataKey
  if (!(p instanceof LocalKeyProvider) || !own()) return undefined
  return (context) => (own() ? generateSync(p, context) : undefined)
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
