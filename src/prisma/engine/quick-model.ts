// What the short paths (quick.ts) know of a model, worked out once per model, and the steps they
// share: the shapes of arguments they take, a statement sent under a row key that is zeroed
// whatever happens, and a row handed back.
import type { RowKey } from '../../fields/row'
import type { FieldSpec, ModelSpec } from '../../fields/spec'
import type { ModelInfo } from '../config'
import type { QueryIO } from '../query'
import type { Scope } from '../scope'
import { isPlain } from '../walk/grammar'
import { wholeRowStrip } from '../walk/read'
import type { Engine, Obj } from './context'
import { stripRow } from './decrypt'
import { rememberReadKey } from './known-keys'

/**
 * What the short paths know of a model, worked out once per model, so that a call only looks it
 * up: its columns, the create and update data they take, and what a whole-row read strips.
 */
export interface QuickModel {
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
  /**
   * The columns create data may set on the short path, mapped as in `settable`: the id and the
   * tenant column included (the call checks the tenant's value), the sidecars and foreign keys into
   * scoped models absent.
   */
  readonly creatable: ReadonlyMap<string, FieldSpec | null>
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
  const columnsOf = (managed: readonly string[]): Map<string, FieldSpec | null> => {
    const map = new Map<string, FieldSpec | null>()
    for (const column of info.scalars.keys()) {
      if (managed.includes(column) || foreignKeys.has(column)) continue
      const field = spec.fields.get(column)
      if (field === undefined) map.set(column, null)
      else if (field.type === 'string' && field.storage === 'text') map.set(column, field)
    }
    return map
  }
  const settable = columnsOf(info.plan.updateManaged)
  return { spec, idField: spec.idField, tenantColumn: info.tenantColumn, settable, creatable: columnsOf(info.plan.createManaged), strip }
}

/**
 * The model's QuickModel when the short paths may take a call in this scope: inside withTenant
 * (not a bypass, no blind-index session), on a client whose default omit hides none of its columns.
 */
export function quickModel(info: ModelInfo, scope: Scope, io: QueryIO): QuickModel | undefined {
  if (scope.bypass || scope.tenantId === undefined || scope.idx !== undefined) return undefined
  const m = quickModelOf(info)
  return m !== undefined && io.globallyOmitted(info.name)?.size === 0 ? m : undefined
}

export const WHERE: readonly string[] = ['where']
export const DATA: readonly string[] = ['data']
export const WHERE_DATA: readonly string[] = ['where', 'data']

// True when the call's arguments name none but `keys`, each a plain object (or undefined).
export function onlyPlain(args: Obj, keys: readonly string[]): boolean {
  for (const k in args) {
    const v = args[k]
    if (v !== undefined && (!keys.includes(k) || !isPlain(v))) return false
  }
  return true
}

// The id a `where` names alone, as a plain value; undefined for any other `where`.
export function idOf(m: QuickModel, where: Obj | undefined): unknown {
  if (where === undefined) return undefined
  let id: unknown
  for (const k in where) {
    if (k !== m.idField) return undefined
    id = where[k]
  }
  return typeof id === 'string' || typeof id === 'number' ? id : undefined
}

// The encrypted fields `data` sets, when it holds only plain values of `columns` (strings for the
// encrypted ones); undefined for any other data.
export function plainValues(columns: ReadonlyMap<string, FieldSpec | null>, data: Obj): FieldSpec[] | undefined {
  const touched: FieldSpec[] = []
  for (const k in data) {
    const v = data[k]
    if (v === undefined) continue
    const field = columns.get(k)
    if (field === undefined || !Object.hasOwn(data, k)) return undefined
    if (field !== null) {
      if (typeof v !== 'string') return undefined
      touched.push(field)
    } else if (v !== null && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return undefined
  }
  return touched
}

// A whole row of the call's tenant, its values in plaintext now: counted, its key remembered for
// the next update, rowcrypt's columns removed.
export function decrypted(engine: Engine, m: QuickModel, r: Obj, scope: Scope): Obj {
  scope.stats.rowsDecrypted++
  rememberReadKey(engine, m.spec, scope.tenantId!, r, scope)
  stripRow(m.strip, r)
  return r
}

// Sends a statement written under `key` (`send` encrypts and sends), then hands its result to
// `then` or its error to `failed`; the key is zeroed once `then` returns or throws, and before
// `failed` runs.
export function underKey(key: RowKey, send: () => Promise<unknown>, then: (result: unknown) => unknown, failed: (e: unknown) => unknown): Promise<unknown> {
  let sent: Promise<unknown>
  try {
    sent = send()
  } catch (e) {
    key.dispose()
    return Promise.reject(e)
  }
  return sent.then(
    (result) => {
      try {
        return then(result)
      } finally {
        key.dispose()
      }
    },
    (e: unknown) => {
      key.dispose()
      return failed(e)
    },
  )
}
