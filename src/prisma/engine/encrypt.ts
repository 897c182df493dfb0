// One row's write data encrypted: a new row under a fresh key, an existing one under its own key
// (or, still plaintext in migrating mode, under a fresh one), and the checks of what a write may set.
import { TenantMismatchError, TenantMissingError, UnsupportedQueryError } from '../../errors'
import type { RowKey } from '../../fields/row'
import type { FieldSpec, ModelSpec } from '../../fields/spec'
import { notePlaintextRow } from '../../metrics/observer'
import { assertTenantId } from '../../tenant/context'
import type { ModelInfo } from '../config'
import type { Scope } from '../scope'
import { isFieldSetOp, isObj, writtenValue, type Engine, type Obj } from './context'
import { copyOf } from '../walk/grammar'
import { indexInto } from './recheck'
import { noteWritten } from './written'

/** Fills the tenant, makes the row's key and id, and encrypts the marked fields of a new row. */
export async function encryptNew(engine: Engine, info: ModelInfo, data: Obj, scope: Scope): Promise<Obj> {
  const spec = info.spec!
  if (!isObj(data)) return data
  const row = newRowOf(info, data, scope)
  await indexInto(engine, spec, row.tenantId, data, row.out, scope)
  const key = engine.rle.newRowKeySync(spec, row.tenantId, row.rowLabel) ?? (await engine.rle.newRowKey(spec, row.tenantId, row.rowLabel))
  return sealNew(key, data, row.out, scope)
}

/**
 * `encryptNew` without a promise, when nothing in it waits: no blind index to write and a key
 * provider that generates keys synchronously. Undefined otherwise (then call `encryptNew`).
 */
export function encryptNewNow(engine: Engine, info: ModelInfo, data: Obj, scope: Scope): Obj | undefined {
  const spec = info.spec!
  for (const f of spec.indexed) if (data[f.name] !== undefined) return undefined
  const row = newRowOf(info, data, scope)
  const key = engine.rle.newRowKeySync(spec, row.tenantId, row.rowLabel)
  return key === undefined ? undefined : sealNew(key, data, row.out, scope)
}

/** A new row's copy with its tenant checked and its id made (when rowcrypt makes it). */
function newRowOf(info: ModelInfo, data: Obj, scope: Scope): { out: Obj; tenantId: string; rowLabel: string | undefined } {
  const spec = info.spec!
  checkNoManagedColumns(info, data, info.plan.createManaged)
  const tenantId = tenantOfNewRow(info, data, scope)
  const out = copyOf(data)
  let rowId: unknown = spec.idField === undefined ? undefined : data[spec.idField]
  if (rowId === undefined && info.makeId !== undefined) {
    rowId = info.makeId()
    out[spec.idField!] = rowId
  }
  const rowLabel = rowId === undefined || rowId === null ? undefined : String(rowId)
  if (rowLabel === undefined && info.requireRowBinding) {
    // An id left to the database (a static default the schema gives) is known only after the insert.
    throw new UnsupportedQueryError(`model ${info.name} requires row binding: a create must give its id${spec.idField === undefined ? '' : ` (data.${spec.idField})`}`)
  }
  return { out, tenantId, rowLabel }
}

// Encrypts a new row's fields into `out` under its fresh key, then disposes of the key.
function sealNew(key: RowKey, data: Obj, out: Obj, scope: Scope): Obj {
  try {
    key.encryptInto(out, data, true)
    if (scope.resultRows) noteWritten(scope, key, key.spec.fieldList, data, out)
    scope.stats.rowsEncrypted++
    return out
  } finally {
    key.dispose()
  }
}

/**
 * A plaintext row (migrating mode) being written: all its encrypted fields, the new values over
 * the stored ones, go under a fresh key, with a compare-and-swap on the row still having none.
 * Its stored values are taken as they are: counted as a plaintext read.
 */
export async function encryptLegacyRow(engine: Engine, spec: ModelSpec, row: Obj, data: Obj, touched: FieldSpec[], scope: Scope): Promise<{ data: Obj; cas: Obj }> {
  const tenantId = scope.bypass ? row[spec.columns.tenantId] : scope.tenantId
  assertTenantId(tenantId)
  const values: Obj = {}
  for (const f of spec.fields.keys()) values[f] = row[f]
  for (const f of touched) values[f.name] = writtenValue(f, data[f.name])
  const idValue = spec.idField === undefined ? undefined : row[spec.idField]
  const indexes: Obj = {}
  await indexInto(engine, spec, tenantId, values, indexes, scope)
  const key = await engine.rle.newRowKey(spec, tenantId, idValue == null ? undefined : String(idValue))
  try {
    const out = Object.assign(key.encryptInto({ ...data }, values, true), indexes)
    delete out[spec.columns.tenantId] // unchanged; the tenant column is not rewritten
    scope.stats.rowsEncrypted++
    notePlaintextRow(scope.stats, idValue)
    return { data: out, cas: { [spec.columns.wrappedDek]: null } }
  } finally {
    key.dispose()
  }
}

/** The `touched` fields of `data` encrypted under the key of the existing `row`. */
export async function encryptWithRowKey(engine: Engine, spec: ModelSpec, row: Obj, data: Obj, touched: FieldSpec[], scope: Scope, lend = false): Promise<Obj> {
  const tenantId = scope.bypass ? (row[spec.columns.tenantId] as string) : (scope.tenantId as string)
  const indexes: Obj = {}
  await indexInto(engine, spec, tenantId, data, indexes, scope)
  const key = engine.rle.openRowKeySync(spec, row, tenantId) ?? (await engine.rle.openRowKey(spec, row, tenantId))
  return sealTouched(key, data, Object.assign(copyOf(data), indexes), touched, scope, lend)
}

/**
 * `encryptWithRowKey` without a promise, when nothing in it waits: no blind index to write and
 * a key provider that unwraps synchronously. Undefined otherwise (then call `encryptWithRowKey`).
 */
export function encryptWithRowKeyNow(engine: Engine, spec: ModelSpec, row: Obj, data: Obj, touched: FieldSpec[], scope: Scope, lend = false): Obj | undefined {
  for (const f of spec.indexed) if (data[f.name] !== undefined) return undefined
  const tenantId = scope.bypass ? (row[spec.columns.tenantId] as string) : (scope.tenantId as string)
  const key = engine.rle.openRowKeySync(spec, row, tenantId)
  return key === undefined ? undefined : sealTouched(key, data, { ...data }, touched, scope, lend)
}

// Encrypts the touched fields of `data` into `out` under the row's key, then disposes of the key,
// or with `lend` lends it to the scope for the call's result (disposed on failure all the same).
function sealTouched(key: RowKey, data: Obj, out: Obj, touched: FieldSpec[], scope: Scope, lend = false): Obj {
  let done = false
  try {
    for (const field of touched) {
      const v = data[field.name]
      out[field.name] = isFieldSetOp(field, v) ? { set: key.encryptValue(field, v.set) } : key.encryptValue(field, v)
    }
    noteWritten(scope, key, touched, data, out)
    scope.stats.rowsEncrypted++
    done = true
    if (lend) scope.lend(key)
    return out
  } finally {
    if (!lend || !done) key.dispose()
  }
}

/**
 * The tenant of a new scoped row: the call's, or inside an explicit bypass the one `data` names.
 * A different tenant in `data` is refused.
 */
export function tenantOfNewRow(info: ModelInfo, data: Obj, scope: Scope): string {
  const col = info.tenantColumn!
  const given = data[col]
  if (scope.bypass) {
    if (given === undefined) throw new TenantMissingError(`model ${info.name}: inside unsafeBypassTenantScope a create must set ${col}`)
    assertTenantId(given)
    return given
  }
  if (given !== undefined && given !== scope.tenantId) throw new TenantMismatchError(`model ${info.name}: data names another tenant than the current one (${String(scope.tenantId)})`)
  return scope.tenantId!
}

/** The encrypted fields `data` writes. */
export function touchedFields(info: ModelInfo, data: unknown): FieldSpec[] {
  if (!isObj(data)) return []
  return info.plan.fields.filter((f) => data[f.name] !== undefined)
}

/** The columns an update may not write (sidecars, tenant, bound id), and the encrypted fields' values. */
export function checkUpdateData(info: ModelInfo, data: unknown): void {
  if (!isObj(data) || info.tenantColumn === undefined) return
  checkNoManagedColumns(info, data, info.plan.updateManaged)
  for (const f of info.plan.fields) {
    const v = data[f.name]
    // A JSON value may itself be an object: only `{ set }` is an operation, and none in a Json column.
    if (isObj(v) && !isFieldSetOp(f, v) && f.type !== 'json') {
      throw new UnsupportedQueryError(`model ${info.name}: field ${f.name} is encrypted; only plain values or { set } can be written to it`)
    }
  }
}

export function checkNoManagedColumns(info: ModelInfo, data: Obj, columns: readonly string[]): void {
  for (const col of columns) {
    if (data[col] !== undefined) throw new UnsupportedQueryError(`model ${info.name}: column ${col} is managed by rowcrypt and cannot be written directly`)
  }
}
