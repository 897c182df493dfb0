// Blind indexes of searchable fields: which key version writes them, which versions a search
// tries, and the per-call session holding the tenant's index keys (zeroed when the call ends).
import { zero } from '../crypto/aes-gcm'
import { blindIndexHex, deriveFieldIndexKey } from '../crypto/blind-index'
import { cacheKey } from '../crypto/cache-key'
import { isWellFormed } from '../crypto/context'
import { ConfigError, InvalidValueError, KeyProviderError, RowcryptError } from '../errors'
import type { KeyProvider } from '../keys/provider'
import type { FieldSpec, ModelSpec } from './spec'

/**
 * Which key version blind indexes are computed under. Pinned apart from the data keys' active
 * version, so a master-key rotation does not change what a search looks for.
 *
 * @example
 * ```ts
 * // Rotating index keys: write v2, still find rows indexed under v1 until `rowcrypt rotate --reindex` is done.
 * const blindIndex: BlindIndexOptions = { keyVersion: 'v2', previousKeyVersions: ['v1'] }
 * ```
 */
export interface BlindIndexOptions {
  /** The key version new index values are computed under. */
  keyVersion: string
  /** Older versions a search also tries, while `rowcrypt rotate --reindex` moves rows off them. */
  previousKeyVersions?: readonly string[]
}

const VERSION_NAME = /^[A-Za-z0-9._-]{1,64}$/
// Stored index values are `<version>:<hex>`; the version tells reindexing which rows are done.
const SEPARATOR = ':'

/** @internal Normalized blind-index settings and the key provider they derive keys from. */
export class BlindIndexes {
  /** Versions a search tries, the active one first. */
  readonly versions: readonly string[]

  constructor(
    private readonly provider: KeyProvider,
    options: BlindIndexOptions,
  ) {
    if (typeof provider.indexKey !== 'function') throw new ConfigError('searchable fields need a key provider with indexKey() (LocalKeyProvider, or AwsKmsKeyProvider in hierarchical mode)')
    if (options === null || typeof options !== 'object' || typeof options.keyVersion !== 'string' || !VERSION_NAME.test(options.keyVersion)) {
      throw new ConfigError('searchable fields need blindIndex: { keyVersion } naming the key version their indexes derive from')
    }
    const previous = options.previousKeyVersions ?? []
    if (!Array.isArray(previous) || previous.some((v) => typeof v !== 'string' || !VERSION_NAME.test(v) || v === options.keyVersion)) {
      throw new ConfigError('blindIndex.previousKeyVersions must list other key versions')
    }
    this.versions = Object.freeze([options.keyVersion, ...new Set(previous)])
  }

  /** The active version. */
  get keyVersion(): string {
    return this.versions[0] as string
  }

  /** Opens the tenant's index keys for `versions` (default: every searchable version). */
  async session(tenantId: string, versions: readonly string[] = this.versions): Promise<IndexSession> {
    const roots = new Map<string, Buffer>()
    try {
      for (const v of versions) {
        const root = await this.#root(tenantId, v)
        roots.set(v, Buffer.from(root))
        zero(root)
      }
    } catch (e) {
      for (const r of roots.values()) zero(r)
      throw e
    }
    return new IndexSession(tenantId, versions, roots)
  }

  async #root(tenantId: string, version: string): Promise<Uint8Array> {
    try {
      const root = await this.provider.indexKey!(tenantId, version)
      if (!(root instanceof Uint8Array) || root.length < 32) throw new KeyProviderError('indexKey() must return at least 32 bytes')
      return root
    } catch (e) {
      if (e instanceof RowcryptError) throw e
      throw new KeyProviderError(`key provider failed to derive the blind-index key (tenant ${tenantId})`, { cause: e })
    }
  }
}

/**
 * @internal One tenant's index keys for the duration of one call. Computes index values;
 * `dispose()` zeroes every key.
 */
export class IndexSession {
  readonly #fieldKeys = new Map<string, Buffer>()

  constructor(
    readonly tenantId: string,
    readonly versions: readonly string[],
    private readonly roots: Map<string, Buffer>,
  ) {}

  /** The stored index value of `value` under the active version. */
  active(spec: ModelSpec, field: FieldSpec, value: unknown): string {
    return this.#value(spec, field, value, this.versions[0] as string)
  }

  /** The index values of `value` under every version of the session, the active one first. */
  all(spec: ModelSpec, field: FieldSpec, value: unknown): string[] {
    return this.versions.map((v) => this.#value(spec, field, value, v))
  }

  /**
   * Sets the index column of every searchable field present in `values` (a plain value or
   * `{ set }`) on `target`: the active version's value, or null for null.
   */
  indexInto(spec: ModelSpec, values: Record<string, unknown>, target: Record<string, unknown>): void {
    for (const field of spec.indexed) {
      if (!(field.name in values)) continue
      let v = values[field.name]
      if (v === undefined) continue
      if (typeof v === 'object' && v !== null && Object.keys(v).length === 1 && 'set' in v) v = (v as { set: unknown }).set
      target[field.index!.column] = v === null ? null : this.active(spec, field, v)
    }
  }

  dispose(): void {
    for (const k of this.#fieldKeys.values()) zero(k)
    for (const k of this.roots.values()) zero(k)
    this.#fieldKeys.clear()
  }

  #value(spec: ModelSpec, field: FieldSpec, value: unknown, version: string): string {
    const index = field.index
    if (index === undefined) throw new ConfigError(`model ${spec.name}: field ${field.name} is not searchable`)
    if (typeof value !== 'string') throw new InvalidValueError(`model ${spec.name}, field ${field.name}: a searchable value must be a string`)
    const normalized = index.normalize(value)
    if (typeof normalized !== 'string') throw new ConfigError(`model ${spec.name}, field ${field.name}: the normalize function must return a string`)
    // UTF-8 writes a lone surrogate as U+FFFD: 'a\uD800' and 'a\uFFFD' would share an index.
    if (!isWellFormed(normalized)) throw new InvalidValueError(`model ${spec.name}, field ${field.name}: a searchable value must be well-formed Unicode (no lone surrogates)`)
    return `${version}${SEPARATOR}${blindIndexHex(this.#fieldKey(spec, field, version), normalized, index.bits)}`
  }

  #fieldKey(spec: ModelSpec, field: FieldSpec, version: string): Buffer {
    // Model and field names may hold any character: the parts are length-prefixed, not joined.
    const id = cacheKey(spec.name, field.name, version)
    let key = this.#fieldKeys.get(id)
    if (key === undefined) {
      const root = this.roots.get(version)
      if (root === undefined) throw new ConfigError(`no blind-index key version ${version} in this session`)
      key = deriveFieldIndexKey(root, { purpose: 'blind-index-field', model: spec.name, field: field.name })
      this.#fieldKeys.set(id, key)
    }
    return key
  }
}

/** The version prefix of a stored index value (`v1:...` → `v1`), or undefined. */
export function indexVersionOf(stored: unknown): string | undefined {
  if (typeof stored !== 'string') return undefined
  const at = stored.indexOf(SEPARATOR)
  return at > 0 ? stored.slice(0, at) : undefined
}

/** The prefix every index value computed under `version` starts with. */
export function indexPrefix(version: string): string {
  return `${version}${SEPARATOR}`
}
