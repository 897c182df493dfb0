// Values a call just encrypted (Scope.written): recorded when written, given back as the plaintext
// the caller gave when the same ciphertext comes back in the call's result, instead of decrypted.
import type { RowKey } from '../../fields/row'
import type { FieldSpec, ModelSpec } from '../../fields/spec'
import type { Scope, WrittenValue } from '../scope'
import { bytesEqual } from '../../crypto/bytes'
import { isSetOp, type Obj } from './context'

/**
 * The key of a written value: its start, format header and random IV, unique per value. Hashing
 * these few characters instead of the whole ciphertext (~1.4 KB for a 1 KB text) is what makes
 * the lookup cheap; a hit is then compared in full.
 */
export function writtenKey(ciphertext: string): string {
  return ciphertext.slice(0, 32)
}

/** Records the string values of `fields` that `key` encrypted from `source` into `target`. */
export function noteWritten(scope: Scope, key: RowKey, fields: Iterable<FieldSpec>, source: Obj, target: Obj): void {
  for (const field of fields) {
    if (field.type !== 'string') continue
    const v = source[field.name]
    const t = target[field.name]
    const plaintext = isSetOp(v) ? v.set : v
    const ciphertext = isSetOp(t) ? t.set : t
    if (typeof plaintext !== 'string' || typeof ciphertext !== 'string') continue
    ;(scope.written ??= new Map()).set(writtenKey(ciphertext), {
      ciphertext,
      spec: key.spec,
      field: field.name,
      tenantId: key.tenantId,
      rowLabel: key.rowBound ? key.rowLabel : undefined,
      wrappedDek: key.wrappedDek,
      keyVersion: key.keyVersion,
      plaintext,
    })
  }
}

/**
 * Puts back the plaintext of the values of `row` this call just encrypted: a value is taken only
 * when it is exactly the ciphertext written (random IV: unique) for the same model, field, tenant,
 * row id, wrapped key and key version, in a row whose tenant column is that tenant. The sidecars
 * are compared because no unwrap checks them here: a row stored with other sidecars (a trigger,
 * a concurrent write) is decrypted as usual, and fails there if it cannot be. Returns the encrypted
 * fields still to decrypt, or undefined when no value was taken (decrypt the row as usual).
 */
export function takeWritten(spec: ModelSpec, row: Obj, tenantId: string, written: Map<string, WrittenValue>): FieldSpec[] | undefined {
  let rest: FieldSpec[] | undefined
  let took = false
  const wrappedDek = row[spec.columns.wrappedDek]
  const keyVersion = row[spec.columns.keyVersion]
  if (row[spec.columns.tenantId] !== tenantId) return undefined
  const fields = spec.fieldList
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!
    const name = field.name
    if (!(name in row)) continue
    const v = row[name]
    if (v === null || v === undefined) continue
    const w = typeof v === 'string' ? writtenAs(written, v) : undefined
    if (
      w !== undefined &&
      w.ciphertext === v &&
      w.spec === spec &&
      w.field === name &&
      w.tenantId === tenantId &&
      (w.rowLabel === undefined || (spec.idField !== undefined && row[spec.idField] != null && String(row[spec.idField]) === w.rowLabel)) &&
      bytesEqual(w.wrappedDek, wrappedDek) &&
      w.keyVersion === keyVersion
    ) {
      row[name] = w.plaintext
      took = true
    } else (rest ??= []).push(field)
  }
  return took ? (rest ?? []) : undefined
}

// The value written as `ciphertext`, if any. A call that wrote one row holds a few values: they
// are compared directly (ciphertexts differ within their first 30 characters, at the IV), with
// no key string to cut and hash; larger sets are looked up by key.
function writtenAs(written: Map<string, WrittenValue>, ciphertext: string): WrittenValue | undefined {
  if (written.size > SCAN_AT_MOST) return written.get(writtenKey(ciphertext))
  for (const w of written.values()) if (w.ciphertext === ciphertext) return w
  return undefined
}

const SCAN_AT_MOST = 8
