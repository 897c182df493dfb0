// The walk of sorting and aggregation arguments: `orderBy` in all its forms, `distinct`, `by`,
// and the aggregate selections. Nothing here is rewritten; what would let the database sort,
// group or aggregate ciphertext, or sort by another tenant's columns, is refused.
import type { ModelInfo } from '../config'
import { AGGREGATE_KEYS, isPlain, join, SORT_KEYS, SORT_ORDERS, toArray, unsupported, type Obj } from './grammar'
import type { Walk } from './where'

/**
 * Checks an `orderBy` of `info` (`grouped`: groupBy's, which also sorts by aggregates). A to-one
 * relation sort from an unscoped model into a scoped one is refused: Prisma cannot filter the
 * joined row, so another tenant's values would steer the order. So is a count of a scoped
 * to-many relation from an unscoped model.
 */
export function checkOrderBy(w: Walk, info: ModelInfo, orderBy: unknown, path: string, grouped = false): void {
  if (orderBy === undefined) return
  const list = Array.isArray(orderBy) ? orderBy : [orderBy]
  list.forEach((o, i) => {
    const at0 = Array.isArray(orderBy) ? join(path, i) : path
    if (!isPlain(o)) throw unsupported(info.name, at0, 'an orderBy must be an object')
    for (const [key, value] of Object.entries(o)) {
      if (value === undefined) continue
      const at = join(at0, key)
      if (info.scalars.has(key)) {
        refuseEncrypted(info, key, at, 'orderBy')
        checkSort(info, value, at)
      } else if (grouped && AGGREGATE_KEYS.has(key)) {
        if (!isPlain(value)) throw unsupported(info.name, at, 'an aggregate sort must be an object of fields')
        for (const [f, s] of Object.entries(value)) {
          if (!info.scalars.has(f)) throw unsupported(info.name, join(at, f), 'not a scalar field')
          if (key !== '_count') refuseEncrypted(info, f, join(at, f), key)
          checkSort(info, s, join(at, f))
        }
      } else if (!grouped && info.relations.has(key)) {
        const rel = info.relations.get(key)!
        const target = w.table.get(rel.target)!
        if (!isPlain(value)) throw unsupported(info.name, at, 'a relation sort must be an object')
        if (!target.reachesScoped) continue
        const intoOther = target.tenantColumn !== undefined && info.tenantColumn === undefined && !w.scope.bypass
        if (rel.isList) {
          for (const [f, s] of Object.entries(value)) {
            if (f !== '_count') throw unsupported(info.name, join(at, f), 'a to-many relation sorts by _count only')
            checkSort(info, s, join(at, f))
          }
          if (intoOther) throw unsupported(info.name, at, `ordering by the count of tenant-scoped ${key} is not supported (Prisma cannot confine that count to the tenant)`)
        } else {
          if (intoOther) throw unsupported(info.name, at, `ordering by tenant-scoped ${key} from a model that is not scoped is not supported (the related row may be another tenant's)`)
          checkOrderBy(w, target, value, at)
        }
      } else {
        throw unsupported(info.name, at, 'this sort is not supported on tenant-scoped data')
      }
    }
  })
}

function checkSort(info: ModelInfo, value: unknown, path: string): void {
  if (SORT_ORDERS.has(value)) return
  if (isPlain(value) && SORT_ORDERS.has(value.sort)) {
    for (const k of Object.keys(value)) if (!SORT_KEYS.has(k)) throw unsupported(info.name, join(path, k), 'a sort takes sort and nulls')
    if (value.nulls !== undefined && value.nulls !== 'first' && value.nulls !== 'last') throw unsupported(info.name, join(path, 'nulls'), 'nulls is first or last')
    return
  }
  throw unsupported(info.name, path, 'a sort order is asc, desc or { sort, nulls }')
}

/** `distinct` and groupBy's `by`: scalar fields, never encrypted ones. */
export function checkFieldList(info: ModelInfo, value: unknown, path: string): void {
  for (const f of toArray(value)) {
    if (typeof f !== 'string' || !info.scalars.has(f)) throw unsupported(info.name, path, `${String(f)} is not a scalar field`)
    refuseEncrypted(info, f, path, path)
  }
}

/**
 * The aggregate selections of aggregate and groupBy (`_min`, `_max`, `_avg`, `_sum` refuse
 * encrypted fields; `_count` counts non-null values, which the database can do on ciphertext)
 * and count's `select`.
 */
export function checkAggregateSelections(info: ModelInfo, args: Obj): void {
  for (const key of AGGREGATE_KEYS) {
    const value = args[key]
    if (value === undefined || value === null || value === false) continue
    if (key === '_count' && value === true) continue
    if (!isPlain(value)) throw unsupported(info.name, key, 'an aggregate selection must be an object of fields')
    for (const [f, on] of Object.entries(value)) {
      if (key === '_count' && f === '_all') continue
      if (!info.scalars.has(f)) throw unsupported(info.name, join(key, f), 'not a scalar field')
      if (on && key !== '_count') refuseEncrypted(info, f, join(key, f), key)
    }
  }
}

/** count's `select`: `_all` and scalar fields. */
export function checkCountSelect(info: ModelInfo, select: unknown): void {
  if (select === undefined || select === true) return
  if (!isPlain(select)) throw unsupported(info.name, 'select', 'count selects an object of fields')
  for (const f of Object.keys(select)) if (f !== '_all' && !info.scalars.has(f)) throw unsupported(info.name, join('select', f), 'not a scalar field')
}

export function refuseEncrypted(info: ModelInfo, field: string, path: string, what: string): void {
  if (info.spec?.fields.has(field)) throw unsupported(info.name, path, `field ${field} is encrypted and cannot be used in ${what}`)
}
