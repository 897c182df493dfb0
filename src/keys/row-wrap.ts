// How key providers wrap a row's data key locally: XAES-256-GCM under a key the provider holds (a
// tenant intermediate key, or a key derived from a local master key), with a fresh random 192-bit
// nonce per wrap and the row key's binding context plus the key version as AAD.
//
//   format (1) | nonce (24) | encrypted data key (32) | tag (16)    73 bytes
//
// The format byte is the provider's own (each provider numbers its wrapping constructions).
import { AuthenticationFailure, KEY_BYTES, TAG_BYTES } from '../crypto/aes-gcm'
import { cacheKey } from '../crypto/cache-key'
import { appendContext, encodeContext, encodeContextPrefix, type BindingContext } from '../crypto/context'
import { XAES_NONCE_BYTES, xaesNonce, xaesOpenStored, xaesSeal, type XaesKey } from '../crypto/xaes'
import { ConfigError, DecryptionError, InvalidValueError } from '../errors'

/** Bytes of a wrapped row key in this construction, format byte included. */
export const ROW_WRAP_BYTES = 1 + XAES_NONCE_BYTES + KEY_BYTES + TAG_BYTES

/** Wraps a 32-byte data key under `key`; the result starts with `format`. */
export function wrapRowKey(format: number, key: XaesKey, dataKey: Uint8Array, aad: Uint8Array): Uint8Array {
  if (dataKey.length !== KEY_BYTES) throw new InvalidValueError('data keys are 32 bytes')
  const nonce = xaesNonce()
  const sealed = xaesSeal(key, nonce, dataKey, aad)
  const out = new Uint8Array(ROW_WRAP_BYTES)
  out[0] = format
  out.set(nonce, 1)
  out.set(sealed, 1 + XAES_NONCE_BYTES)
  return out
}

/** Unwraps what {@link wrapRowKey} made (any format byte); a wrong length or any authentication failure is a `DecryptionError`. */
export function unwrapRowKey(key: XaesKey, blob: Uint8Array, aad: Uint8Array): Uint8Array {
  if (blob.length !== ROW_WRAP_BYTES) throw new DecryptionError()
  try {
    return xaesOpenStored(key, blob, 1, aad)
  } catch (e) {
    if (e instanceof AuthenticationFailure) throw new DecryptionError()
    throw e
  }
}

// Bound of the cache of encoded AAD prefixes (one per key version, model and purpose).
const AAD_PREFIXES_MAX = 1024

/**
 * Encodes the AAD of a row key wrap: the binding context plus `keyVersion`, the bytes of
 * `encodeContext({ ...context, keyVersion })`. For the contexts rowcrypt makes for row keys,
 * `{ purpose, model, tenantId }` plus `rowId` when bound, the sorted entries are keyVersion, model,
 * purpose, (rowId), tenantId, so the first three are encoded once per (version, model, purpose).
 */
export class RowAadEncoder {
  readonly #prefixes = new Map<string, Buffer>()
  // The prefix last used: consecutive rows of one call share version, model and purpose.
  #last: { keyVersion: string; model: string; purpose: string; prefix: Buffer } | undefined

  encode(context: BindingContext, keyVersion: string): Buffer {
    const { purpose, model, tenantId, rowId } = context
    if (
      typeof purpose === 'string' &&
      typeof model === 'string' &&
      typeof tenantId === 'string' &&
      Object.hasOwn(context, 'purpose') &&
      Object.hasOwn(context, 'model') &&
      Object.hasOwn(context, 'tenantId') &&
      (rowId === undefined ? ownKeyCount(context) === 3 : typeof rowId === 'string' && Object.hasOwn(context, 'rowId') && ownKeyCount(context) === 4)
    ) {
      const prefix = this.#prefix(keyVersion, model, purpose)
      return appendContext(prefix, rowId === undefined ? ['tenantId', tenantId] : ['rowId', rowId, 'tenantId', tenantId])
    }
    // The key version is bound by the provider itself; a caller's entry of that name would be lost.
    if (Object.hasOwn(context, 'keyVersion')) throw new ConfigError('a binding context must not contain "keyVersion"; the provider binds it')
    return encodeContext({ ...context, keyVersion })
  }

  #prefix(keyVersion: string, model: string, purpose: string): Buffer {
    const last = this.#last
    if (last !== undefined && last.keyVersion === keyVersion && last.model === model && last.purpose === purpose) return last.prefix
    const id = cacheKey(keyVersion, model, purpose)
    let prefix = this.#prefixes.get(id)
    if (prefix === undefined) {
      if (this.#prefixes.size >= AAD_PREFIXES_MAX) this.#prefixes.clear()
      prefix = encodeContextPrefix([
        ['keyVersion', keyVersion],
        ['model', model],
        ['purpose', purpose],
      ])
      this.#prefixes.set(id, prefix)
    }
    this.#last = { keyVersion, model, purpose, prefix }
    return prefix
  }
}

// The number of own enumerable string keys of a context, as Object.keys counts them, without
// making the array (this runs for every row key).
function ownKeyCount(o: object): number {
  let n = 0
  for (const k in o) if (Object.hasOwn(o, k)) n++
  return n
}
