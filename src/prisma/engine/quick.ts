// The commonest calls, by a row's id alone, done in a few steps: a findUnique of the whole row
// and an update of plain values. The general path (query.ts and the rest of engine/) handles any
// call, and so runs some ninety functions per update. Between two calls of an application,
// Prisma's own work pushes those out of the CPU's caches, and fetching them back costs more than
// running them: an update measured about 100 µs slower in an application than in a loop of
// updates alone. These paths touch a handful.
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
import { copyOf, isPlain } from '../walk/grammar'
import { wholeRowStrip } from '../walk/read'
import { P2025, type Engine, type Obj, type Query } from './context'
import { checkRowTenant, hasEncryptedValue, run, stripRow } from './decrypt'
import { forgetKey, knownKeyOf, rememberReadKey } from './known-keys'

/**
 * What the short paths know of a model, worked out once per model, so that a call only looks it
 * up: its columns, the update data they take, and what a whole-row read strips.
 */
interface QuickModel {
  readonly spec: ModelSpec
  readonly idField: string
  readonly tenantColumn: string
  /**
   * The columns update data may set on the short path: an encrypted field stored as a text string
   * maps to its spec, any other column of the model's own to null. Managed columns (sidecars,
   * tenant, id) and foreign keys into scoped models are absent: data naming them takes the general
   * path.
   */
  readonly settable: ReadonlyMap<string, FieldSpec | null>
  /** The columns a whole-row read removes from its result (`wholeRowStrip`). */
  readonly strip: readonly string[]
}

// Per model: its QuickModel, or null when the short paths never take it.
const QUICK_MODELS = new WeakMap<ModelInfo, QuickModel | null>()

function quickModelOf(info: ModelInfo): QuickModel | undefined {
  let m = QUICK_MODELS.get(info)
  if (m === undefined) QUICK_MODELS.set(info, (m = buildQuickModel(info)))
  return m ?? undefined
}

// An encrypted, tenant-scoped model (not a view) with an id field and no blind index, not migrating.
function buildQuickModel(info: ModelInfo): QuickModel | null {
  const spec = info.spec
  if (spec === undefined || info.tenantColumn === undefined || info.viewOf !== undefined || spec.idField === undefined || spec.migrating || spec.indexed.length > 0) return null
  const strip = wholeRowStrip(info)
  if (strip === undefined) return null
  const foreignKeys = new Set(info.plan.foreignKeys.flatMap((fk) => fk.relation.fromFields))
  const settable = new Map<string, FieldSpec | null>()
  for (const column of info.scalars.keys()) {
    if (info.plan.updateManaged.includes(column) || foreignKeys.has(column)) continue
    const field = spec.fields.get(column)
    if (field === undefined) settable.set(column, null)
    else if (field.type === 'string' && field.storage === 'text') settable.set(column, field)
  }
  return { spec, idField: spec.idField, tenantColumn: info.tenantColumn, settable, strip }
}

// The model's QuickModel when the short paths may take a call in this scope: inside withTenant
// (not a bypass, no blind-index session), on a client whose default omit hides none of its columns.
function quickModel(info: ModelInfo, scope: Scope, io: QueryIO): QuickModel | undefined {
  if (scope.bypass || scope.tenantId === undefined || scope.idx !== undefined) return undefined
  const m = quickModelOf(info)
  return m !== undefined && io.globallyOmitted(info.name)?.size === 0 ? m : undefined
}

/**
 * findUnique (or findUniqueOrThrow) of an encrypted model by its id alone (`{ where: { id } }`),
 * whole rows, inside withTenant. Undefined for any other call.
 */
export function quickFindUnique(engine: Engine, info: ModelInfo, args: Obj, query: Query, io: QueryIO, scope: Scope): Promise<unknown> | undefined {
  const m = quickModel(info, scope, io)
  if (m === undefined) return undefined
  let where: Obj | undefined
  for (const k in args) {
    const v = args[k]
    if (k === 'where' && isPlain(v)) where = v
    else if (v !== undefined) return undefined
  }
  const id = idOf(m, where)
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
  if (m === undefined || io.inBatch()) return undefined
  let where: Obj | undefined
  let data: Obj | undefined
  for (const k in args) {
    const v = args[k]
    if (k === 'where' && isPlain(v)) where = v
    else if (k === 'data' && isPlain(v)) data = v
    else if (v !== undefined) return undefined
  }
  const id = idOf(m, where)
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
  const out = copyOf(data)
  try {
    for (const f of touched) out[f.name] = written[written.length] = key.encryptValue(f, data[f.name]) as string
  } catch (e) {
    key.dispose()
    return Promise.reject(e)
  }
  scope.stats.rowsEncrypted++
  const wrappedDek = spec.columns.wrappedDek
  const where = { [m.idField]: id, [m.tenantColumn]: tenantId, [wrappedDek]: row[wrappedDek] }
  // The general path again, after the key proved stale: it reads the row's key afresh.
  const missed = (): Promise<unknown> => {
    forgetKey(engine, spec, tenantId, id)
    return general()
  }
  let sent: Promise<unknown>
  try {
    sent = query({ where, data: out })
  } catch (e) {
    key.dispose()
    return Promise.reject(e)
  }
  return sent.then(
    (result) => {
      try {
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
        scope.stats.rowsDecrypted++
        rememberReadKey(engine, spec, tenantId, r, scope)
        stripRow(m.strip, r)
        return r
      } finally {
        key.dispose()
      }
    },
    (e: unknown) => {
      key.dispose()
      if ((e as { code?: unknown })?.code === P2025) return missed()
      throw e
    },
  )
}

// The id a `where` names alone, as a plain value; undefined for any other `where`.
function idOf(m: QuickModel, where: Obj | undefined): unknown {
  if (where === undefined) return undefined
  let id: unknown
  for (const k in where) {
    if (k !== m.idField) return undefined
    id = where[k]
  }
  return typeof id === 'string' || typeof id === 'number' ? id : undefined
}

// The encrypted fields of update data that holds only plain values of columns the short path may
// set (strings for the encrypted ones, at least one of them); undefined for any other data.
function plainUpdate(m: QuickModel, data: Obj): FieldSpec[] | undefined {
  const touched: FieldSpec[] = []
  for (const k in data) {
    const v = data[k]
    if (v === undefined) continue
    const field = m.settable.get(k)
    if (field === undefined || !Object.hasOwn(data, k)) return undefined
    if (field !== null) {
      if (typeof v !== 'string') return undefined
      touched.push(field)
    } else if (v !== null && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return undefined
  }
  return touched.length === 0 ? undefined : touched
}
