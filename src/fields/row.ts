// The Prisma-free core: encrypt, decrypt and re-wrap one row. The Prisma extension is a thin
// layer over this; it can also be used on its own (queues, exports, other ORMs).
import { AuthenticationFailure, generateIv, generateKey, IV_BYTES, open, openSealed, seal, sealUtf8, zero } from '../crypto/aes-gcm'
import { bytesEqual } from '../crypto/bytes'
import { cacheKey } from '../crypto/cache-key'
import { encodeContext, isWellFormed, type BindingContext } from '../crypto/context'
import {
  ALGORITHM,
  decodeCiphertextInto,
  decodedBodyBound,
  FORMAT_VERSION,
  formatCiphertext,
  formatCiphertextBody,
  isCiphertext,
  parseCiphertext,
  typeCode,
  type ValueType,
} from '../envelope/ciphertext'
import { formatWrappedKey, WRAPPED_KEY_HEADER_BYTES, wrappedKeyRowBound } from '../envelope/wrapped-key'
import { CiphertextFormatError, ConfigError, DecryptionError, InvalidValueError, KeyProviderError, RowcryptError, TenantMismatchError, type DecryptionErrorLocation } from '../errors'
import type { GeneratedDataKey, KeyProvider } from '../keys/provider'
import { assertTenantId } from '../tenant/context'
import { BlindIndexes, type BlindIndexOptions } from './blind-index'
import { buildModelSpec, type FieldSpec, type ModelEncryptionConfig, type ModelSpec } from './spec'
import { isNullMarker, storedText, toStored } from './storage'

/** Options of {@link RowLevelEncryption}. */
export interface RowLevelEncryptionOptions {
  keyProvider: KeyProvider
  models: Record<string, ModelEncryptionConfig>
  /** Required when a field is `searchable`: the key version blind indexes derive from. */
  blindIndex?: BlindIndexOptions
}

/** Input of {@link RowLevelEncryption.encryptRow}. */
export interface EncryptRowInput {
  model: string
  /** The row's values; only the model's encrypted fields are changed, the rest is copied. */
  data: Record<string, unknown>
  tenantId: string
  /** The row's primary key, when known before the write; bound into the data key's context. */
  rowId?: string | number | bigint
  /** Extra authenticated data; the same bytes must be given to `decryptRow`. */
  aad?: Uint8Array
}

/** Options of {@link RowLevelEncryption.decryptRow} and {@link RowLevelEncryption.reEncryptRow}. */
export interface RowContext {
  model: string
  tenantId: string
  aad?: Uint8Array
  /**
   * The row's primary key, for rows encrypted with `rowId` when the model has no `idField`
   * (or whose id column is not in `row`). Defaults to `row[idField]`.
   */
  rowId?: string | number | bigint
}

type Row = Record<string, unknown>

/**
 * Per-row envelope encryption without any database: each row gets a fresh 256-bit data key,
 * each marked field is sealed with AES-256-GCM under it, and the data key is wrapped by the key
 * provider: `encryptRow`, `decryptRow` and `reEncryptRow`.
 *
 * @example
 * ```ts
 * const rle = new RowLevelEncryption({ keyProvider, models: { User: { fields: ['email', 'ssn'] } } })
 * const stored = await rle.encryptRow({ model: 'User', data: { email: 'a@x.io' }, tenantId: 'tenant_a', rowId: 'user_123' })
 * const row = await rle.decryptRow(stored, { model: 'User', tenantId: 'tenant_a', rowId: 'user_123' })
 * const rotated = await rle.reEncryptRow(stored, 'v2', { model: 'User', tenantId: 'tenant_a', rowId: 'user_123' })
 * ```
 */
export class RowLevelEncryption {
  readonly keyProvider: KeyProvider
  readonly #models = new Map<string, ModelSpec>()
  /** @internal Blind-index settings; set when some field is searchable. */
  indexes: BlindIndexes | undefined

  constructor(options: RowLevelEncryptionOptions) {
    if (typeof options?.keyProvider?.generateDataKey !== 'function') {
      throw new ConfigError('a keyProvider is required')
    }
    this.keyProvider = options.keyProvider
    for (const [name, config] of Object.entries(options.models ?? {})) {
      this.#models.set(name, buildModelSpec(name, config))
    }
    this.indexes = blindIndexesFor(options.keyProvider, this.#models.values(), options.blindIndex)
  }

  /** @internal Builds an instance from already-validated specs (used by the extension). */
  static fromSpecs(keyProvider: KeyProvider, specs: Iterable<ModelSpec>, blindIndex?: BlindIndexOptions): RowLevelEncryption {
    const rle = new RowLevelEncryption({ keyProvider, models: {} })
    for (const s of specs) rle.#models.set(s.name, s)
    rle.indexes = blindIndexesFor(keyProvider, rle.#models.values(), blindIndex)
    return rle
  }

  /**
   * The blind-index values of the searchable fields in `data` (plaintext), as index column →
   * value under the active index key version: what `encryptRow` stores beside the ciphertext.
   *
   * @example
   * ```ts
   * const { emailIndex } = await rle.blindIndexes({ model: 'Customer', tenantId: 'tenant_a', data: { email: 'a@x.io' } })
   * ```
   */
  async blindIndexes(input: { model: string; tenantId: string; data: Row }): Promise<Row> {
    const spec = this.spec(input.model)
    assertTenantId(input.tenantId)
    const out: Row = {}
    if (spec.indexed.length === 0 || this.indexes === undefined) return out
    const session = await this.indexes.session(input.tenantId, [this.indexes.keyVersion])
    try {
      session.indexInto(spec, input.data, out)
      return out
    } finally {
      session.dispose()
    }
  }

  /** The normalized description of a model; throws `ConfigError` for an unknown model. */
  spec(model: string): ModelSpec {
    const s = this.#models.get(model)
    if (s === undefined) throw new ConfigError(`model ${model} is not configured for encryption`)
    return s
  }

  /**
   * Encrypts the marked fields of `data` under a fresh data key. Returns a copy of `data` with
   * ciphertext strings in the marked fields and the sidecar columns filled.
   */
  async encryptRow(input: EncryptRowInput): Promise<Row> {
    const spec = this.spec(input.model)
    assertTenantId(input.tenantId)
    const rowId = input.rowId ?? (spec.idField !== undefined ? (input.data[spec.idField] as EncryptRowInput['rowId']) : undefined)
    const indexes = await this.blindIndexes(input)
    const key = await this.newRowKey(spec, input.tenantId, rowId === undefined || rowId === null ? undefined : String(rowId), input.aad)
    try {
      return Object.assign(key.encryptInto({ ...input.data }, input.data, true), indexes)
    } finally {
      key.dispose()
    }
  }

  /**
   * Decrypts the marked fields present in `row`. The row's tenant column, when present, must
   * equal `tenantId`; the binding fails otherwise. A row without a wrapped key is an error
   * (`CiphertextFormatError`), unless the model is in migrating mode and the row's id (`rowId`, or
   * `row[idField]`) satisfies `legacyIds`: such a row is returned as it is (plaintext).
   */
  async decryptRow(row: Row, ctx: RowContext): Promise<Row> {
    const spec = this.spec(ctx.model)
    if (isLegacyPlaintextRow(spec, row, ctx.rowId)) return { ...row }
    const key = await this.openRowKey(spec, row, ctx.tenantId, ctx.aad, ctx.rowId)
    try {
      return key.decryptInto({ ...row }, row)
    } finally {
      key.dispose()
    }
  }

  /**
   * Re-wraps the row's data key under `newKeyVersion` without touching field ciphertext.
   * Returns a copy of `row` with new `wrappedDek` and `keyVersion` values.
   */
  async reEncryptRow(row: Row, newKeyVersion: string, ctx: RowContext): Promise<Row> {
    const spec = this.spec(ctx.model)
    const rewrap = this.keyProvider.rewrapDataKey
    if (typeof rewrap === 'function') {
      // The provider moves the wrapped key itself (KMS ReEncrypt): no plaintext key reaches us.
      const b = rowBinding(spec, row, ctx.tenantId, ctx.rowId)
      const { wrappedKey, keyVersion } = await providerCall(spec, b, 'unwrap', () => rewrap.call(this.keyProvider, b.providerBlob, b.keyVersion, newKeyVersion, b.context))
      return { ...row, [spec.columns.wrappedDek]: formatWrappedKey({ rowBound: b.rowBound, providerBlob: wrappedKey }), [spec.columns.keyVersion]: keyVersion }
    }
    const key = await this.openRowKey(spec, row, ctx.tenantId, ctx.aad, ctx.rowId)
    try {
      const { wrappedKey, keyVersion } = await this.keyProvider.wrapDataKey(key.plaintextKey, key.keyContext, newKeyVersion)
      return { ...row, [spec.columns.wrappedDek]: formatWrappedKey({ rowBound: key.rowBound, providerBlob: wrappedKey }), [spec.columns.keyVersion]: keyVersion }
    } finally {
      key.dispose()
    }
  }

  /**
   * Re-keys a row: decrypts its marked fields (those present in `row`) with its current data key,
   * then encrypts them under a fresh data key wrapped under `newKeyVersion`. Returns a copy of `row`
   * with new ciphertexts and new `wrappedDek` / `keyVersion` values; the row id binding is kept.
   * For a suspected leak of data keys; `reEncryptRow` is enough after a master-key rotation.
   *
   * @example
   * ```ts
   * const rekeyed = await rle.rekeyRow(stored, 'v3', { model: 'User', tenantId: 'tenant_a' })
   * ```
   */
  async rekeyRow(row: Row, newKeyVersion: string, ctx: RowContext): Promise<Row> {
    const spec = this.spec(ctx.model)
    const old = await this.openRowKey(spec, row, ctx.tenantId, ctx.aad, ctx.rowId)
    let plain: Row
    try {
      plain = old.decryptInto({}, row)
    } finally {
      old.dispose()
    }
    const key = await this.newRowKey(spec, ctx.tenantId, old.rowBound ? old.rowLabel : undefined, ctx.aad, newKeyVersion)
    try {
      return key.encryptInto({ ...row }, plain, true)
    } finally {
      key.dispose()
    }
  }

  /** @internal A fresh data key for a new row, under `keyVersion` (default: the provider's active one). */
  async newRowKey(spec: ModelSpec, tenantId: string, rowId: string | undefined, aad?: Uint8Array, keyVersion?: string): Promise<RowKey> {
    const context = keyContext(spec, tenantId, rowId)
    let dk: { plaintextKey: Uint8Array; wrappedKey: Uint8Array; keyVersion: string }
    if (keyVersion === undefined || keyVersion === this.keyProvider.activeKeyVersion) {
      dk = await this.keyProvider.generateDataKey(context)
    } else {
      const plaintextKey = generateKey()
      try {
        dk = { plaintextKey, ...(await this.keyProvider.wrapDataKey(plaintextKey, context, keyVersion)) }
      } catch (e) {
        zero(plaintextKey)
        throw e
      }
    }
    return newKeyOf(spec, tenantId, rowId, context, dk, aad)
  }

  /**
   * @internal `newRowKey` under the active version, synchronously, when the provider can
   * (its `generateDataKeySync`); undefined otherwise (then call `newRowKey`).
   */
  newRowKeySync(spec: ModelSpec, tenantId: string, rowId: string | undefined, aad?: Uint8Array): RowKey | undefined {
    const provider = this.keyProvider
    if (provider.generateDataKeySync === undefined) return undefined
    const context = keyContext(spec, tenantId, rowId)
    const dk = provider.generateDataKeySync(context)
    return dk === undefined ? undefined : newKeyOf(spec, tenantId, rowId, context, dk, aad)
  }

  /** @internal Unwraps the data key of a stored row (its sidecar columns, and id when bound). */
  async openRowKey(spec: ModelSpec, row: Row, tenantId: string, aad?: Uint8Array, rowIdOverride?: string | number | bigint): Promise<RowKey> {
    const b = rowBinding(spec, row, tenantId, rowIdOverride)
    const plaintextKey = await providerCall(spec, b, 'unwrap', () => this.keyProvider.unwrapDataKey(b.providerBlob, b.keyVersion, b.context))
    return openedKeyOf(spec, tenantId, b, plaintextKey, aad)
  }

  /**
   * @internal `openRowKey` without a promise, when the provider unwraps synchronously
   * (its `unwrapDataKeySync`); undefined otherwise (then call `openRowKey`). Same checks and errors.
   */
  openRowKeySync(spec: ModelSpec, row: Row, tenantId: string, aad?: Uint8Array, rowIdOverride?: string | number | bigint): RowKey | undefined {
    const provider = this.keyProvider
    if (provider.unwrapDataKeySync === undefined) return undefined
    const b = rowBinding(spec, row, tenantId, rowIdOverride)
    let plaintextKey: Uint8Array | undefined
    try {
      plaintextKey = provider.unwrapDataKeySync(b.providerBlob, b.keyVersion, b.context)
    } catch (e) {
      throw providerError(spec, b, 'unwrap', e)
    }
    return plaintextKey === undefined ? undefined : openedKeyOf(spec, tenantId, b, plaintextKey, aad)
  }

  /**
   * @internal When `openRowKeySync` gave undefined for this row: a promise after which it may
   * answer (the provider is loading the key material it lacked, `prepareUnwrapSync`), or undefined
   * when waiting would not help. Never rejects; a row it cannot bind gives undefined (its
   * `openRowKey` then says why).
   */
  prepareRowKey(spec: ModelSpec, row: Row, tenantId: string): Promise<void> | undefined {
    const provider = this.keyProvider
    if (provider.prepareUnwrapSync === undefined || provider.unwrapDataKeySync === undefined) return undefined
    try {
      const b = rowBinding(spec, row, tenantId)
      const ready = provider.prepareUnwrapSync(b.providerBlob, b.keyVersion, b.context)
      // The contract says it never rejects; a provider that does must not fail the read here.
      return ready === undefined ? undefined : Promise.resolve(ready).then(ignore, ignore)
    } catch {
      return undefined
    }
  }
}

function ignore(): void {}

function blindIndexesFor(provider: KeyProvider, specs: Iterable<ModelSpec>, options: BlindIndexOptions | undefined): BlindIndexes | undefined {
  for (const s of specs) if (s.indexed.length > 0) return new BlindIndexes(provider, options as BlindIndexOptions)
  if (options !== undefined) throw new ConfigError('blindIndex is set but no field is searchable')
  return undefined
}

/** What binds a stored row's data key: its wrapped key (the provider's blob and the row-bound flag), key version and key context. */
interface RowBinding {
  /** The key provider's blob inside the stored wrapped key. */
  readonly providerBlob: Uint8Array
  readonly rowBound: boolean
  readonly wrappedDek: Uint8Array
  readonly keyVersion: string
  readonly context: BindingContext
  readonly idValue: unknown
  readonly idText: string | undefined
}

/** Where a row's decryption failed, for its `DecryptionError` (made only on failure). */
function locationOf(spec: ModelSpec, tenantId: string, idText: string | undefined): DecryptionErrorLocation {
  return { model: spec.name, tenantId, ...(idText !== undefined ? { rowId: idText } : {}) }
}

function rowBinding(spec: ModelSpec, row: Row, tenantId: string, rowIdOverride?: string | number | bigint): RowBinding {
  assertTenantId(tenantId)
  const { columns } = spec
  const rowTenant = row[columns.tenantId]
  if (rowTenant !== undefined && rowTenant !== tenantId) {
    throw new TenantMismatchError(`model ${spec.name}: row belongs to another tenant than ${tenantId}`)
  }
  const wrappedDek = row[columns.wrappedDek]
  const rowBound = wrappedKeyRowBound(wrappedDek)
  const idValue = rowIdOverride ?? (spec.idField === undefined ? undefined : row[spec.idField])
  const idText = idString(idValue)
  if (rowBound && idText === undefined) throw new DecryptionError(locationOf(spec, tenantId, idText))
  const keyVersion = row[columns.keyVersion]
  if (typeof keyVersion !== 'string') throw new DecryptionError(locationOf(spec, tenantId, idText))
  const context = keyContext(spec, tenantId, rowBound ? idText : undefined)
  const stored = wrappedDek as Uint8Array
  return { providerBlob: stored.subarray(WRAPPED_KEY_HEADER_BYTES), rowBound, wrappedDek: stored, keyVersion, context, idValue, idText }
}

// A row id as bound into the key context; undefined for none, and for a value with no string form
// (an object whose toString throws would otherwise escape as an uncoded TypeError).
function idString(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined
  try {
    return String(v)
  } catch {
    return undefined
  }
}

// Maps a key provider failure on a row's key: an authentication failure becomes a DecryptionError
// with the row's location; an outage or a refusal must not look like tampering.
async function providerCall<T>(spec: ModelSpec, b: RowBinding, what: 'unwrap', fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (e) {
    throw providerError(spec, b, what, e)
  }
}

function providerError(spec: ModelSpec, b: RowBinding, what: 'unwrap', e: unknown): unknown {
  if (e instanceof DecryptionError || e instanceof AuthenticationFailure) return new DecryptionError(locationOf(spec, b.context.tenantId as string, b.idText))
  if (e instanceof RowcryptError) return e
  return new KeyProviderError(`key provider failed to ${what} the data key (model ${spec.name}, tenant ${String(b.context.tenantId)})`, { cause: e })
}

// The provider hands the caller a fresh key buffer (the KeyProvider contract): a Buffer is kept as
// the RowKey's own (no copy); any other Uint8Array is copied, and the RowKey zeroes the original.
function ownKey(k: Uint8Array): Buffer {
  return Buffer.isBuffer(k) ? k : Buffer.from(k)
}

// V8 keeps the hidden class (map) that RowKeys end up with only while some object has it, and a
// RowKey lives for one row. With none alive at a full collection (between two calls, typically),
// the map is collected and the optimized code that depended on it discarded: the calls after each
// full collection then decrypted in unoptimized code until V8 compiled it again. This placeholder
// keeps the map alive. It holds nothing of any caller: a model of its own, an empty key (any use
// fails the key's size check), no tenant.
let shapeHolder: RowKey | undefined

function holdShape(): void {
  if (shapeHolder !== undefined) return
  try {
    const spec = buildModelSpec('', { fields: ['value'] })
    const empty = Buffer.alloc(0)
    shapeHolder = new RowKey(spec, '', undefined, false, empty, keyContext(spec, '', undefined), empty, '', undefined, empty)
  } catch {
    // Only speed depends on it.
  }
}

function newKeyOf(spec: ModelSpec, tenantId: string, rowId: string | undefined, context: BindingContext, dk: GeneratedDataKey, aad: Uint8Array | undefined): RowKey {
  holdShape()
  const wrapped = formatWrappedKey({ rowBound: rowId !== undefined, providerBlob: dk.wrappedKey })
  return new RowKey(spec, tenantId, rowId, rowId !== undefined, ownKey(dk.plaintextKey), context, wrapped, dk.keyVersion, aad, dk.plaintextKey)
}

function openedKeyOf(spec: ModelSpec, tenantId: string, b: RowBinding, plaintextKey: Uint8Array, aad: Uint8Array | undefined): RowKey {
  holdShape()
  return new RowKey(spec, tenantId, b.idText ?? idString(b.idValue), b.rowBound, ownKey(plaintextKey), b.context, b.wrappedDek, b.keyVersion, aad, plaintextKey)
}

/**
 * @internal One row's unwrapped data key, with the row's binding. Encrypts and decrypts the
 * row's fields; `dispose()` zeroes the key. Never leave one undisposed.
 */
export class RowKey {
  // Fields are declared only and set in the constructor by plain assignment: a RowKey is made per
  // row read, and V8's class field definitions (one per field) were measurably slower.
  declare readonly spec: ModelSpec
  declare readonly tenantId: string
  /** The row's id, when known (for error locations). */
  declare readonly rowLabel: string | undefined
  /** True when the row id is part of the key's binding context. */
  declare readonly rowBound: boolean
  declare readonly plaintextKey: Buffer
  declare readonly keyContext: BindingContext
  declare readonly wrappedDek: Uint8Array
  declare readonly keyVersion: string
  declare readonly aad: Uint8Array | undefined
  // This key's field AADs (model, tenant and extra AAD are fixed), from the shared cache on first use.
  declare private fieldAadMemo: Map<string, Buffer> | undefined

  constructor(
    spec: ModelSpec,
    tenantId: string,
    rowLabel: string | undefined,
    rowBound: boolean,
    plaintextKey: Buffer,
    keyContext: BindingContext,
    wrappedDek: Uint8Array,
    keyVersion: string,
    aad: Uint8Array | undefined,
    providerKey: Uint8Array,
  ) {
    this.spec = spec
    this.tenantId = tenantId
    this.rowLabel = rowLabel
    this.rowBound = rowBound
    this.plaintextKey = plaintextKey
    this.keyContext = keyContext
    this.wrappedDek = wrappedDek
    this.keyVersion = keyVersion
    this.aad = aad
    this.fieldAadMemo = undefined
    // When the provider's key was copied (not a Buffer), zero the provider's copy right away.
    if (providerKey !== plaintextKey) zero(providerKey)
  }

  /**
   * Encrypts the marked fields found in `source` into `target` and, when `withSidecars`, sets the
   * sidecar columns. Returns `target`.
   */
  encryptInto(target: Row, source: Row, withSidecars: boolean): Row {
    const fields = this.spec.fieldList
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i]!
      const name = field.name
      if (!(name in source)) continue
      target[name] = this.encryptValue(field, source[name])
    }
    if (withSidecars) {
      const c = this.spec.columns
      target[c.wrappedDek] = this.wrappedDek
      target[c.keyVersion] = this.keyVersion
      target[c.tenantId] = this.tenantId
    }
    return target
  }

  /** Decrypts the marked fields `source` holds a value for into `target` (null and absent ones are not set). Returns `target`. */
  decryptInto(target: Row, source: Row): Row {
    // An indexed loop: this runs per row and must not allocate an iterator.
    const fields = this.spec.fieldList
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i]!
      const name = field.name
      const value = source[name]
      if (value === null || value === undefined) continue
      target[name] = this.decryptValue(field, value)
    }
    return target
  }

  encryptValue(field: FieldSpec, value: unknown): unknown {
    if (value === null || value === undefined || isNullMarker(value)) return value
    if (field.type === 'string' && typeof value === 'string') {
      // UTF-8 would store a lone surrogate as U+FFFD: the value read back would not be the one written.
      if (!isWellFormed(value)) throw new InvalidValueError(`model ${this.spec.name}, field ${field.name}: a string must be well-formed Unicode (no lone surrogates)`)
      // Strings, the common case: encrypted straight from the string, ciphertext and tag in one buffer.
      const iv = generateIv()
      return toStored(field, formatCiphertextBody('string', iv, sealUtf8(this.plaintextKey, iv, value, this.fieldAad(field))))
    }
    const plaintext = encodeValue(field, value, this.spec.name)
    const iv = generateIv()
    const { ciphertext, tag } = seal(this.plaintextKey, iv, plaintext, this.fieldAad(field))
    return toStored(field, formatCiphertext({ type: field.type, iv, ciphertext, tag }))
  }

  decryptValue(field: FieldSpec, value: unknown): unknown {
    if (value === null || value === undefined) return value
    const text = storedText(field, value)
    let plaintext: Buffer
    try {
      const body = typeof text === 'string' ? readBody(text) : undefined
      const n = body === undefined ? -1 : decodeCiphertextInto(text as string, field.type, readIv, body)
      if (n >= 0) plaintext = openSealed(this.plaintextKey, readIv, body!, n, this.fieldAad(field))
      else {
        // Not a well-formed value of the field's type: parsed again to say why (a format error),
        // or opened as what it claims to be so that a value of another type fails authentication.
        const p = parseCiphertext(text)
        if (p.type !== field.type) throw new AuthenticationFailure()
        plaintext = open(this.plaintextKey, p.iv, p.ciphertext, p.tag, this.fieldAad(field))
      }
    } catch (e) {
      if (e instanceof AuthenticationFailure) {
        throw new DecryptionError({ model: this.spec.name, field: field.name, tenantId: this.tenantId, ...(this.rowLabel !== undefined ? { rowId: this.rowLabel } : {}) })
      }
      throw e
    }
    return decodeValue(field.type, plaintext)
  }

  /**
   * True when `row` (of `spec`, read for `tenantId`) stores this very key: the same model, tenant,
   * key version and wrapped key, and the same row id when the key is bound to it. Unwrapping that
   * row's key would give this one, so it may decrypt the row; any other row needs its own unwrap,
   * which checks its binding.
   */
  isKeyOf(spec: ModelSpec, row: Row, tenantId: string): boolean {
    const c = spec.columns
    if (spec !== this.spec || tenantId !== this.tenantId || this.aad !== undefined || row[c.keyVersion] !== this.keyVersion) return false
    const rowTenant = row[c.tenantId]
    if (rowTenant !== undefined && rowTenant !== tenantId) return false
    if (!bytesEqual(row[c.wrappedDek], this.wrappedDek)) return false
    return !this.rowBound || (spec.idField !== undefined && idString(row[spec.idField]) === this.rowLabel)
  }

  dispose(): void {
    zero(this.plaintextKey)
  }

  private fieldAad(field: FieldSpec): Buffer {
    const byField = (this.fieldAadMemo ??= fieldAads(this.spec, this.tenantId, this.aad))
    let encoded = byField.get(field.name)
    if (encoded === undefined) byField.set(field.name, (encoded = encodeFieldAad(this.spec, field, this.tenantId, this.aad)))
    return encoded
  }
}

// Each stored value is decoded into these, reused, rather than into two new buffers per value (a
// large read allocates less, so it collects less). Decryption is synchronous, one value at a time,
// and they only ever hold IVs and ciphertexts.
const readIv = Buffer.alloc(IV_BYTES)
let readBodies = Buffer.alloc(0)
const READ_BODY_MIN = 4096
const READ_BODY_MAX = 64 * 1024

// The body buffer for a stored value, made on first use and grown for a longer one up to
// READ_BODY_MAX (a value beyond that is decoded into buffers of its own, by parseCiphertext).
function readBody(text: string): Buffer {
  const need = decodedBodyBound(text)
  if (need > readBodies.length && need <= READ_BODY_MAX) {
    let size = Math.max(readBodies.length, READ_BODY_MIN)
    while (size < need) size *= 2
    readBodies = Buffer.alloc(size)
  }
  return readBodies
}

/**
 * True for a row written before encryption was turned on, in a model in `migrating` mode: no
 * wrapped key, an id in the legacy set (`migrating.legacyIds`), and no ciphertext in its fields (a
 * ciphertext without its key is an error). Any other row without a key is not one: reading it
 * fails on the missing key, as outside migrating mode. `rowId` defaults to `row[idField]`.
 */
export function isLegacyPlaintextRow(spec: ModelSpec, row: Row, rowId?: unknown): boolean {
  if (!spec.migrating || row[spec.columns.wrappedDek] != null) return false
  const id = rowId ?? (spec.idField === undefined ? undefined : row[spec.idField])
  if (!isLegacyId(spec, id)) return false
  for (const [f, field] of spec.fields) {
    if (isCiphertext(storedText(field, row[f]))) throw new CiphertextFormatError(`model ${spec.name}: field ${f} holds a ciphertext but the row has no wrapped data key`)
  }
  return true
}

function isLegacyId(spec: ModelSpec, id: unknown): boolean {
  if (spec.legacyIds === undefined || (typeof id !== 'string' && typeof id !== 'number' && typeof id !== 'bigint')) return false
  try {
    return spec.legacyIds(id) === true
  } catch (cause) {
    throw new ConfigError(`model ${spec.name}: migrating.legacyIds threw for row ${String(id)}`, { cause })
  }
}

// The AAD of a field depends only on model, field, type, tenant (and extra AAD): cached, so the
// read path encodes it once per tenant rather than once per value. Bounded per model.
const FIELD_AAD_CACHE = new WeakMap<ModelSpec, Map<string, Map<string, Buffer>>>()
const FIELD_AAD_CACHE_TENANTS = 4096
// The last (model, tenant) without extra AAD looked up: rows of one call share it.
let lastFieldAads: { spec: ModelSpec; tenantId: string; byField: Map<string, Buffer> } | undefined

/** The cached field AADs of (model, tenant, extra AAD), by field name. */
function fieldAads(spec: ModelSpec, tenantId: string, aad: Uint8Array | undefined): Map<string, Buffer> {
  const last = lastFieldAads
  if (aad === undefined && last !== undefined && last.spec === spec && last.tenantId === tenantId) return last.byField
  let byTenant = FIELD_AAD_CACHE.get(spec)
  if (byTenant === undefined) FIELD_AAD_CACHE.set(spec, (byTenant = new Map()))
  // Length-prefixed parts: no tenant id can name the entry of another tenant with extra AAD (a
  // separator could occur in the tenant id).
  const key = aad === undefined ? cacheKey(tenantId) : cacheKey(tenantId, Buffer.from(aad).toString('base64url'))
  let byField = byTenant.get(key)
  if (byField === undefined) {
    if (byTenant.size >= FIELD_AAD_CACHE_TENANTS) byTenant.clear()
    byTenant.set(key, (byField = new Map()))
  }
  if (aad === undefined) lastFieldAads = { spec, tenantId, byField }
  return byField
}

function encodeFieldAad(spec: ModelSpec, field: FieldSpec, tenantId: string, aad: Uint8Array | undefined): Buffer {
  return encodeContext({
    purpose: 'field',
    format: FORMAT_VERSION,
    alg: ALGORITHM,
    model: spec.name,
    tenantId,
    ...(aad !== undefined ? { aad: Buffer.from(aad).toString('base64url') } : {}),
    field: field.name,
    type: typeCode(field.type),
  })
}

/** The binding context of a row's data key (passed to the key provider, e.g. as KMS EncryptionContext). */
export function keyContext(spec: ModelSpec, tenantId: string, rowId: string | undefined): BindingContext {
  return rowId === undefined ? { purpose: 'row-dek', model: spec.name, tenantId } : { purpose: 'row-dek', model: spec.name, tenantId, rowId }
}

function encodeValue(field: FieldSpec, value: unknown, model: string): Buffer {
  switch (field.type) {
    case 'string':
      if (typeof value !== 'string') throw new InvalidValueError(`model ${model}, field ${field.name}: expected a string`)
      return Buffer.from(value, 'utf8')
    case 'bytes':
      if (!(value instanceof Uint8Array)) throw new InvalidValueError(`model ${model}, field ${field.name}: expected a Uint8Array`)
      return Buffer.from(value)
    case 'json': {
      let text: string | undefined
      try {
        text = JSON.stringify(value)
      } catch {
        text = undefined
      }
      if (text === undefined) throw new InvalidValueError(`model ${model}, field ${field.name}: value is not JSON-serializable`)
      return Buffer.from(text, 'utf8')
    }
  }
}

function decodeValue(type: ValueType, plaintext: Buffer): unknown {
  switch (type) {
    case 'string':
      return plaintext.toString('utf8')
    case 'bytes':
      return new Uint8Array(plaintext)
    case 'json':
      return JSON.parse(plaintext.toString('utf8'))
  }
}
