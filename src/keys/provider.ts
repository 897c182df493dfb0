import type { BindingContext } from '../crypto/context'

export type { BindingContext }

/** A data key made by a provider: the plaintext key (zero it after use) and its wrapped form. */
export interface GeneratedDataKey {
  /** 32 random bytes. The caller owns this buffer and zeroes it when done. */
  plaintextKey: Uint8Array
  /** The key wrapped under `keyVersion`, opaque to rowcrypt. */
  wrappedKey: Uint8Array
  /** The key-encryption key version that wrapped it; stored in the row's `keyVersion` column. */
  keyVersion: string
}

/**
 * The three operations rowcrypt needs from a key-encryption-key holder (a KMS, a vault, a local
 * keyring). Implement it to add Vault Transit, Google Cloud KMS or an HSM.
 *
 * Contract:
 * - Every call binds `context` **and** the key version: a wrapped key must only unwrap with the
 *   same context entries and the same `keyVersion` (AES-GCM AAD, KMS EncryptionContext, ...).
 * - An authentication failure on unwrap throws `DecryptionError`; an unknown version throws
 *   `KeyVersionError`; an outage or refusal throws `KeyProviderError`. Never put key bytes into
 *   an error.
 * - Returned plaintext keys are fresh buffers the caller may zero.
 *
 * docs/aws-kms.md ("Writing your own key provider") sketches Vault Transit and Google Cloud KMS
 * providers; `test/support/key-provider-conformance.ts` is the suite every provider must pass.
 *
 * @example
 * ```ts
 * class MyVaultProvider implements KeyProvider {
 *   readonly activeKeyVersion = 'v3'
 *   async generateDataKey(context) { ... }
 *   async wrapDataKey(plaintextKey, context, keyVersion) { ... }
 *   async unwrapDataKey(wrappedKey, keyVersion, context) { ... }
 * }
 * ```
 */
export interface KeyProvider {
  /** The version new data keys are wrapped under. */
  readonly activeKeyVersion: string
  /** Makes a fresh 256-bit data key and wraps it under the active version. */
  generateDataKey(context: BindingContext): Promise<GeneratedDataKey>
  /** Wraps an existing data key under `keyVersion` (default: the active one). Used by re-wrapping. */
  wrapDataKey(plaintextKey: Uint8Array, context: BindingContext, keyVersion?: string): Promise<{ wrappedKey: Uint8Array; keyVersion: string }>
  /** Unwraps a data key wrapped under `keyVersion` with the same `context`. */
  unwrapDataKey(wrappedKey: Uint8Array, keyVersion: string, context: BindingContext): Promise<Uint8Array>
  /**
   * Optional fast path: `generateDataKey` without a promise, for a provider that holds the key
   * material in memory (a cached tenant key, a local master key). Returns `undefined` when it cannot
   * answer synchronously (nothing cached); rowcrypt then calls `generateDataKey`. Must apply every
   * check and give every error `generateDataKey` does. A subclass that overrides `generateDataKey`
   * (an audit hook) must override this too, or return `undefined` from it.
   *
   * @example
   * ```ts
   * const dk = provider.generateDataKeySync?.(context) ?? (await provider.generateDataKey(context))
   * ```
   */
  generateDataKeySync?(context: BindingContext): GeneratedDataKey | undefined
  /**
   * Optional fast path: `unwrapDataKey` without a promise, on the same terms as
   * `generateDataKeySync` (`undefined` when the provider must go asynchronous). rowcrypt's read path
   * calls it once per row, so a provider that answers here costs no promise per row.
   *
   * @example
   * ```ts
   * const key = provider.unwrapDataKeySync?.(blob, 'v1', context) ?? (await provider.unwrapDataKey(blob, 'v1', context))
   * ```
   */
  unwrapDataKeySync?(wrappedKey: Uint8Array, keyVersion: string, context: BindingContext): Uint8Array | undefined
  /**
   * Optional, with `unwrapDataKeySync`: loads what `unwrapDataKeySync` lacks to answer for this
   * wrapped key (a tenant key that is not cached, or expired), and gives a promise that settles once
   * it is loaded; `undefined` when loading cannot make the synchronous path answer for it (a key
   * KMS must unwrap itself, a replaced `unwrapDataKey`). The promise never rejects: a failed load is
   * reported by the `unwrapDataKey` call that follows. A read whose first row misses waits for it
   * once, then unwraps the other rows synchronously instead of through a promise each.
   *
   * @example
   * ```ts
   * let key = provider.unwrapDataKeySync?.(blob, 'v1', context)
   * if (key === undefined) {
   *   await provider.prepareUnwrapSync?.(blob, 'v1', context)
   *   key = provider.unwrapDataKeySync?.(blob, 'v1', context) ?? (await provider.unwrapDataKey(blob, 'v1', context))
   * }
   * ```
   */
  prepareUnwrapSync?(wrappedKey: Uint8Array, keyVersion: string, context: BindingContext): Promise<void> | undefined
  /**
   * Optional: moves a wrapped data key from `fromVersion` to `toVersion` (same `context`) without
   * handing the plaintext key to rowcrypt, e.g. KMS `ReEncrypt`. Key rotation uses it when present
   * and falls back to `unwrapDataKey` + `wrapDataKey` otherwise. Same errors as `unwrapDataKey`
   * (for the source) and `wrapDataKey` (for the destination).
   *
   * @example
   * ```ts
   * const { wrappedKey, keyVersion } = await provider.rewrapDataKey!(row.wrappedKey, 'v1', 'v2', context)
   * ```
   */
  rewrapDataKey?(wrappedKey: Uint8Array, fromVersion: string, toVersion: string, context: BindingContext): Promise<{ wrappedKey: Uint8Array; keyVersion: string }>
  /**
   * Optional, needed for searchable fields: a 256-bit secret for `tenantId`'s blind indexes under
   * `keyVersion`, derived from key material the provider holds (never from a row's data key). The
   * same tenant and version must always give the same bytes; different tenants unrelated ones.
   * rowcrypt derives one key per model and field from it and zeroes the returned buffer.
   *
   * @example
   * ```ts
   * const root = await provider.indexKey!('tenant_a', 'v1') // 32 bytes
   * ```
   */
  indexKey?(tenantId: string, keyVersion: string): Promise<Uint8Array>
  /** When `keyVersion`'s key-encryption key was created, when known (key ages, `rotate --older-than`). */
  keyCreatedAt?(keyVersion: string): Promise<Date | undefined>
  /** Providers with per-tenant intermediate keys: when the tenant's key under `keyVersion` was created; undefined if it has none. */
  tenantKeyCreatedAt?(tenantId: string, keyVersion: string): Promise<Date | undefined>
}
