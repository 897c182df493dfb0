// The walk of what a call writes: every key of `data` (and of `create` / `update` in upserts),
// nested writes included, is a column or a relation of the model with an operation Prisma
// defines for it; anything else on a path that reaches scoped data is refused before any key is
// made or any value encrypted. The filters inside nested writes are walked where they are
// confined (the write path), the values themselves are Prisma's to check.
import type { ModelInfo, RelationInfo } from '../config'
import { isKnownValue, isPlain, join, onlyKeys, SCALAR_UPDATE_KEYS, TO_MANY_CREATE_OPS, TO_MANY_UPDATE_OPS, TO_ONE_CREATE_OPS, TO_ONE_UPDATE_OPS, toArray, unsupported, type Obj } from './grammar'
import type { Walk } from './where'

const CREATE_MANY_KEYS: ReadonlySet<string> = new Set(['data', 'skipDuplicates'])
const CONNECT_OR_CREATE_KEYS: ReadonlySet<string> = new Set(['where', 'create'])
const WHERE_DATA_KEYS: ReadonlySet<string> = new Set(['where', 'data'])
const UPSERT_KEYS: ReadonlySet<string> = new Set(['where', 'create', 'update'])

/** Checks the data of a new (`create`) or existing (`update`) row of `info`, nested writes included. */
export function checkData(w: Walk, info: ModelInfo, data: unknown, kind: 'create' | 'update', path: string): void {
  if (!info.reachesScoped || data === undefined) return
  if (!isPlain(data)) throw unsupported(info.name, path, 'data must be an object')
  for (const [key, value] of Object.entries(data)) {
    if (value === undefined) continue
    const at = join(path, key)
    const scalar = info.scalars.get(key)
    if (scalar !== undefined) {
      // A JSON value may itself be an object; elsewhere an object is an update operation.
      if (kind === 'update' && isPlain(value) && scalar.type !== 'Json' && !info.spec?.fields.has(key)) onlyKeys(info.name, value, SCALAR_UPDATE_KEYS, at)
      else if (!isPlain(value) && !Array.isArray(value) && !isKnownValue(value)) throw unsupported(info.name, at, 'a value of an unknown kind')
      continue
    }
    const rel = info.relations.get(key)
    if (rel === undefined) throw unsupported(info.name, at, 'not a field of this model')
    checkNested(w, info, rel, value, kind, at)
  }
}

function checkNested(w: Walk, parent: ModelInfo, rel: RelationInfo, value: unknown, kind: 'create' | 'update', path: string): void {
  const target = w.table.get(rel.target)!
  if (!target.reachesScoped) return
  if (!isPlain(value)) throw unsupported(parent.name, path, 'a nested write must be an object of operations')
  if (target.viewOf !== undefined) throw unsupported(parent.name, path, `${target.name} is a view of ${target.viewOf}, read-only`)
  const ops = rel.isList ? (kind === 'create' ? TO_MANY_CREATE_OPS : TO_MANY_UPDATE_OPS) : kind === 'create' ? TO_ONE_CREATE_OPS : TO_ONE_UPDATE_OPS
  onlyKeys(parent.name, value, ops, path)
  const each = (v: unknown, at: string, fn: (item: unknown, at: string) => void) => {
    if (Array.isArray(v)) v.forEach((item, i) => fn(item, join(at, i)))
    else fn(v, at)
  }
  // Each item an object of exactly these keys (`{ where, create }`, ...), then `fn` on it.
  const eachOf = (v: unknown, at: string, keys: ReadonlySet<string>, fn: (item: Obj, at: string) => void) =>
    each(v, at, (item, p) => {
      if (!isPlain(item)) throw unsupported(parent.name, p, `${at.slice(at.lastIndexOf('.') + 1)} takes { ${[...keys].join(', ')} }`)
      onlyKeys(parent.name, item, keys, p)
      fn(item, p)
    })
  for (const [op, v] of Object.entries(value)) {
    if (v === undefined) continue
    const at = join(path, op)
    switch (op) {
      case 'create':
        each(v, at, (item, p) => checkData(w, target, item, 'create', p))
        break
      case 'createMany':
        if (!isPlain(v)) throw unsupported(parent.name, at, 'createMany takes { data, skipDuplicates }')
        onlyKeys(parent.name, v, CREATE_MANY_KEYS, at)
        toArray(v.data).forEach((item, i) => checkData(w, target, item, 'create', join(join(at, 'data'), i)))
        break
      case 'connectOrCreate':
        eachOf(v, at, CONNECT_OR_CREATE_KEYS, (item, p) => checkData(w, target, item.create, 'create', join(p, 'create')))
        break
      case 'update':
        each(v, at, (item, p) => {
          if (!isPlain(item)) throw unsupported(parent.name, p, 'update takes an object')
          // To-many: `{ where, data }`; to-one: the data itself or `{ where?, data }`.
          const wrapped = rel.isList || (isPlain(item.data) && Object.keys(item).every((k) => k === 'data' || k === 'where'))
          if (rel.isList) onlyKeys(parent.name, item, WHERE_DATA_KEYS, p)
          checkData(w, target, wrapped ? item.data : item, 'update', wrapped ? join(p, 'data') : p)
        })
        break
      case 'upsert':
        eachOf(v, at, UPSERT_KEYS, (item, p) => {
          checkData(w, target, item.create, 'create', join(p, 'create'))
          checkData(w, target, item.update, 'update', join(p, 'update'))
        })
        break
      case 'updateMany':
        eachOf(v, at, WHERE_DATA_KEYS, (item, p) => checkData(w, target, item.data, 'update', join(p, 'data')))
        break
      case 'disconnect':
      case 'delete':
        // To-one: true, false or a filter; to-many: unique filters.
        if (typeof v !== 'boolean' || rel.isList)
          each(v, at, (item, p) => {
            if (!isPlain(item)) throw unsupported(parent.name, p, `${op} takes ${rel.isList ? 'unique filters' : 'true or a filter'}`)
          })
        break
      default:
        // connect, set, deleteMany: filters, walked where they are confined.
        each(v, at, (item, p) => {
          if (!isPlain(item)) throw unsupported(parent.name, p, `${op} takes filters`)
        })
    }
  }
}
