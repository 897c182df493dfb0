// The commonest calls done in a few steps: a findUnique of the whole row by its id, an update of
// plain values by the row's id, and a create of plain values. The general path (query.ts and the
// rest of engine/) handles any call, and so runs some ninety functions per update. Between two
// calls of an application, Prisma's own work pushes those out of the CPU's caches, and fetching
// them back costs more than running them: an update measured about 100 µs slower in an
// application than in a loop of updates alone. These paths touch a handful.
//
// Each accepts one shape, exactly, and returns undefined for anything else: the general path then
// runs the call, so a shape these do not know is still allow-listed or refused there. For the
// shapes they take they send the statements the general path sends and give the same result;
// test/unit/prisma/engine/quick.test.ts compares the two on the same calls. An update whose
// compare-and-swap misses (its row changed during the call) is handed to the general path, which
// starts it over on a freshly read key.
import { RecordNotFoundError } from '../../errors'
import type { RowKey } from '../../fields/row'
import type { FieldSpec, ModelSpec } from '../../fields/spec'
import type { ModelInfo } from '../config'
import type { QueryIO } from '../query'
import type { Scope } from '../scope'
import { copyOf } from '../walk/grammar'
import { P2025, type Engine, type Obj, type Query } from './context'
import { checkRowTenant, hasEncryptedValue, run, stripRow } from './decrypt'
import { forgetKey, knownKeyOf, rememberReadKey } from './known-keys'
import { DATA, decrypted, idOf, onlyPlain, plainValues, quickModel, underKey, WHERE, WHERE_DATA, type QuickModel } from './quick-model'

/**
 * findUnique (or findUniqueOrThrow) of an encrypted model by its id alone (`{ where: { id } }`),
 * whole rows, inside withTenant. Undefined for any other call.
 */
export function quickFindUnique(engine: Engine, info: ModelInfo, args: Obj, query: Query, io: QueryIO, scope: Scope): Promise<unknown> | undefined {
  const m = quickModel(info, scope, io)
  if (m === undefined || !onlyPlain(args, WHERE)) return undefined
  const id = idOf(m, args.where as Obj | undefined)
  if (id === undefined) return undefined
  const { spec, strip } = m
  const tenantId = scope.tenantId!
  return query({ where: { [m.idField]: id, [m.tenantColumn]: tenantId } }).then((row) => {
    if (row === null || typeof row !== 'object') return row
    const r = row as Obj
    checkRowTenant(info, r, scope)
    if (hasEncryptedValue(spec, r)) {
      const key = engine.rle.openRowKeySync(spec, r, tenantId)
      // A key the provider unwraps only asynchronously (a tenant key not yet loaded): the general
      // decryption, which waits for it.
      if (key === undefined) return run(engine, info, {}, () => Promise.resolve(r), scope)
      try {
        key.decryptInto(r, r)
        scope.stats.rowsDecrypted++
        rememberReadKey(engine, spec, tenantId, r, scope)
      } finally {
        key.dispose()
      }
    }
    stripRow(strip, r)
    return r
  })
}

/**
 * update of an encrypted model by its id alone, `data` holding only plain values of its own
 * columns (at least one encrypted string field), whole rows returned, inside withTenant and
 * outside batch transactions. Undefined for any other call. `general` runs the call on the general
 * path: a compare-and-swap that missed (the row was re-keyed or is gone) is retried there, on a
 * freshly read key.
 */
export function quickUpdate(engine: Engine, info: ModelInfo, args: Obj, query: Query, io: QueryIO, scope: Scope, general: () => Promise<unknown>): Promise<unknown> | undefined {
  const m = quickModel(info, scope, io)
  if (m === undefined || io.inBatch() || !onlyPlain(args, WHERE_DATA)) return undefined
  const id = idOf(m, args.where as Obj | undefined)
  const data = args.data as Obj | undefined
  if (id === undefined || data === undefined) return undefined
  const touched = plainUpdate(m, data)
  if (touched === undefined) return undefined
  const w: QuickWrite = { engine, info, m, id, data, touched, query, scope, general }
  const known = knownKeyOf(engine, m.spec, scope.tenantId!, id)
  if (known !== undefined) return write(w, known)
  // A row this client has not read: its key first, as the general path reads it.
  return io.readUnique(info.name, { [m.idField]: id, [m.tenantColumn]: scope.tenantId }, info.plan.requiredSelect).then((row) => {
    if (row === null) throw new RecordNotFoundError(`model ${m.spec.name}: no row of the current tenant matches the update`, { modelName: info.name })
    return write(w, row)
  })
}

/** An update the short path took: what `write` needs besides the row's sidecars and key. */
interface QuickWrite {
  readonly engine: Engine
  readonly info: ModelInfo
  readonly m: QuickModel
  readonly id: unknown
  readonly data: Obj
  readonly touched: FieldSpec[]
  readonly query: Query
  readonly scope: Scope
  readonly general: () => Promise<unknown>
}

// The update under the key of `row` (its sidecars).
function write(w: QuickWrite, row: Obj): Promise<unknown> {
  const key = w.engine.rle.openRowKeySync(w.m.spec, row, w.scope.tenantId!)
  // A key the provider unwraps only asynchronously (a tenant key to load): waited for, as the
  // general path waits for it.
  if (key === undefined) return w.engine.rle.openRowKey(w.m.spec, row, w.scope.tenantId!).then((k) => writeUnder(w, row, k))
  return writeUnder(w, row, key)
}

// The update with the compare-and-swap condition on the row's wrapped key; the result's other
// values decrypted under the same key, which is zeroed whatever happens.
function writeUnder(w: QuickWrite, row: Obj, key: RowKey): Promise<unknown> {
  const { engine, info, m, id, data, touched, query, scope, general } = w
  const spec = m.spec
  const tenantId = scope.tenantId!
  const written: string[] = []
  const wrappedDek = spec.columns.wrappedDek
  const where = { [m.idField]: id, [m.tenantColumn]: tenantId, [wrappedDek]: row[wrappedDek] }
  // The general path again, after the key proved stale: it reads the row's key afresh.
  const missed = (): Promise<unknown> => {
    forgetKey(engine, spec, tenantId, id)
    return general()
  }
  return underKey(
    key,
    () => {
      const out = copyOf(data)
      for (const f of touched) out[f.name] = written[written.length] = key.encryptValue(f, data[f.name]) as string
      scope.stats.rowsEncrypted++
      return query({ where, data: out })
    },
    (result) => {
      const r = result as Obj
      checkRowTenant(info, r, scope)
      // On MySQL a compare-and-swap that matched nothing still returns the row as it was: the
      // values written must come back, under the same key.
      for (let i = 0; i < touched.length; i++) if (r[touched[i]!.name] !== written[i]) return missed()
      if (!key.isKeyOf(spec, r, tenantId)) return missed()
      const fields = spec.fieldList
      for (let i = 0; i < fields.length; i++) {
        const f = fields[i]!
        const v = r[f.name]
        if (touched.includes(f)) r[f.name] = data[f.name]
        else if (v !== null && v !== undefined) r[f.name] = key.decryptValue(f, v)
      }
      return decrypted(engine, m, r, scope)
    },
    (e) => {
      if ((e as { code?: unknown })?.code === P2025) return missed()
      throw e
    },
  )
}

/**
 * create of a row of an encrypted model from plain values of its own columns (`{ data }` alone),
 * whole row returned, inside withTenant. Undefined for any other call. The row returned gives back
 * the plaintext the caller gave when it holds exactly the ciphertexts written, under this key;
 * any other row is decrypted as the general path decrypts it.
 */
export function quickCreate(engine: Engine, info: ModelInfo, args: Obj, query: Query, io: QueryIO, scope: Scope): Promise<unknown> | undefined {
  const m = quickModel(info, scope, io)
  if (m === undefined || !onlyPlain(args, DATA)) return undefined
  const data = args.data as Obj | undefined
  if (data === undefined) return undefined
  const tenantId = scope.tenantId!
  const given = data[m.tenantColumn]
  if ((given !== undefined && given !== tenantId) || plainValues(m.creatable, data) === undefined) return undefined
  const out = copyOf(data)
  let rowId = data[m.idField]
  if (rowId === undefined && info.makeId !== undefined) out[m.idField] = rowId = info.makeId()
  const rowLabel = rowId === undefined || rowId === null ? undefined : String(rowId)
  // A create that must give its id and does not is refused on the general path.
  if (rowLabel === undefined && info.requireRowBinding) return undefined
  const c: QuickCreate = { engine, info, m, data, out, query, scope }
  const key = engine.rle.newRowKeySync(m.spec, tenantId, rowLabel)
  // A key the provider makes only asynchronously (a tenant key to load): waited for.
  if (key === undefined) return engine.rle.newRowKey(m.spec, tenantId, rowLabel).then((k) => createUnder(c, k))
  return createUnder(c, key)
}

/** A create the short path took: what `createUnder` needs besides the new row's key. */
interface QuickCreate {
  readonly engine: Engine
  readonly info: ModelInfo
  readonly m: QuickModel
  /** The caller's data, and the row to write (its copy, with the id rowcrypt made). */
  readonly data: Obj
  readonly out: Obj
  readonly query: Query
  readonly scope: Scope
}

// The create with the row's values encrypted under its new key, which is zeroed whatever happens.
function createUnder(c: QuickCreate, key: RowKey): Promise<unknown> {
  const { engine, info, m, data, out, query, scope } = c
  return underKey(
    key,
    () => {
      key.encryptInto(out, data, true)
      scope.stats.rowsEncrypted++
      return query({ data: out })
    },
    (result) => {
      if (result === null || typeof result !== 'object') return result
      const r = result as Obj
      const spec = m.spec
      checkRowTenant(info, r, scope)
      if (!hasEncryptedValue(spec, r)) {
        stripRow(m.strip, r)
        return r
      }
      // Anything but the values just written under this key (a row stored with other sidecars or
      // values, by a trigger say) is decrypted as the general path decrypts a row.
      if (!key.isKeyOf(spec, r, scope.tenantId!) || !holdsOnly(spec, r, out)) return run(engine, info, {}, () => Promise.resolve(r), scope)
      const fields = spec.fieldList
      for (let i = 0; i < fields.length; i++) {
        const name = fields[i]!.name
        if (r[name] !== null && r[name] !== undefined) r[name] = data[name]
      }
      return decrypted(engine, m, r, scope)
    },
    rethrow,
  )
}

function rethrow(e: unknown): never {
  throw e
}

// True when every encrypted value of `row` is the ciphertext `out` wrote (random IV: unique).
function holdsOnly(spec: ModelSpec, row: Obj, out: Obj): boolean {
  const fields = spec.fieldList
  for (let i = 0; i < fields.length; i++) {
    const name = fields[i]!.name
    const v = row[name]
    if (v !== null && v !== undefined && (typeof v !== 'string' || v !== out[name])) return false
  }
  return true
}

// The encrypted fields of update data that holds only plain values of columns the short path may
// set (strings for the encrypted ones, at least one of them); undefined for any other data.
function plainUpdate(m: QuickModel, data: Obj): FieldSpec[] | undefined {
  const touched = plainValues(m.settable, data)
  return touched === undefined || touched.length === 0 ? undefined : touched
}
