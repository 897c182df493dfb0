// The argument grammar the query walk knows: for each operation, its top-level keys; for each
// kind of node, the keys Prisma gives a meaning to. Anything else on a path that reaches
// tenant-scoped data is refused, so a Prisma feature added later fails closed, not open.
import { UnsupportedQueryError } from '../../errors'

export type Obj = Record<string, unknown>

const READ_KEYS = ['where', 'orderBy', 'cursor', 'take', 'skip', 'distinct', 'select', 'include', 'omit', 'relationLoadStrategy']
const SHAPE = ['select', 'include', 'omit', 'relationLoadStrategy']

/** Top-level keys of each operation rowcrypt handles on scoped paths. */
export const OPERATION_KEYS: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  Object.entries({
    findUnique: ['where', ...SHAPE],
    findUniqueOrThrow: ['where', ...SHAPE],
    findFirst: READ_KEYS,
    findFirstOrThrow: READ_KEYS,
    findMany: READ_KEYS,
    create: ['data', ...SHAPE],
    createMany: ['data', 'skipDuplicates'],
    createManyAndReturn: ['data', 'skipDuplicates', 'select', 'include', 'omit'],
    update: ['where', 'data', ...SHAPE],
    upsert: ['where', 'create', 'update', ...SHAPE],
    delete: ['where', ...SHAPE],
    updateMany: ['where', 'data', 'limit'],
    updateManyAndReturn: ['where', 'data', 'limit', 'select', 'include', 'omit'],
    deleteMany: ['where', 'limit'],
    count: ['where', 'orderBy', 'cursor', 'take', 'skip', 'distinct', 'select'],
    aggregate: ['where', 'orderBy', 'cursor', 'take', 'skip', 'distinct', '_count', '_min', '_max', '_avg', '_sum'],
    groupBy: ['where', 'orderBy', 'by', 'having', 'take', 'skip', '_count', '_min', '_max', '_avg', '_sum'],
  }).map(([op, keys]) => [op, new Set(keys)]),
)

/** Arguments of a to-many relation in `select` / `include`. */
export const TO_MANY_READ_KEYS: ReadonlySet<string> = new Set(['where', 'orderBy', 'cursor', 'take', 'skip', 'distinct', 'select', 'include', 'omit'])
/** Arguments of a to-one relation in `select` / `include`. */
export const TO_ONE_READ_KEYS: ReadonlySet<string> = new Set(['select', 'include', 'omit'])

/** Operators of a scalar filter (`{ name: { startsWith: 'a' } }`), JSON and list filters included. */
export const SCALAR_FILTER_KEYS: ReadonlySet<string> = new Set([
  'equals',
  'in',
  'notIn',
  'lt',
  'lte',
  'gt',
  'gte',
  'not',
  'contains',
  'startsWith',
  'endsWith',
  'mode',
  'has',
  'hasEvery',
  'hasSome',
  'isEmpty',
  'path',
  'string_contains',
  'string_starts_with',
  'string_ends_with',
  'array_contains',
  'array_starts_with',
  'array_ends_with',
])
/** The aggregate filters of `having` (`{ amount: { _sum: { gt: 10 } } }`). */
export const AGGREGATE_KEYS: ReadonlySet<string> = new Set(['_count', '_min', '_max', '_avg', '_sum'])
/** Operations on a scalar column in update data. */
export const SCALAR_UPDATE_KEYS: ReadonlySet<string> = new Set(['set', 'increment', 'decrement', 'multiply', 'divide', 'push'])

/** Nested writes through a to-many relation, in create and in update data. */
export const TO_MANY_CREATE_OPS: ReadonlySet<string> = new Set(['create', 'createMany', 'connect', 'connectOrCreate'])
export const TO_MANY_UPDATE_OPS: ReadonlySet<string> = new Set([...TO_MANY_CREATE_OPS, 'set', 'disconnect', 'delete', 'update', 'updateMany', 'deleteMany', 'upsert'])
/** Nested writes through a to-one relation, in create and in update data. */
export const TO_ONE_CREATE_OPS: ReadonlySet<string> = new Set(['create', 'connect', 'connectOrCreate'])
export const TO_ONE_UPDATE_OPS: ReadonlySet<string> = new Set([...TO_ONE_CREATE_OPS, 'upsert', 'update', 'disconnect', 'delete'])

/** Sort directions, and the long form of a scalar sort. */
export const SORT_ORDERS: ReadonlySet<unknown> = new Set(['asc', 'desc'])
export const SORT_KEYS: ReadonlySet<string> = new Set(['sort', 'nulls'])

/** A plain object: an argument node (not a value such as a Date, Decimal, bytes or field reference). */
export function isPlain(v: unknown): v is Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/**
 * A value Prisma sends as a value (a Date, bytes, a Decimal, a field reference, `Prisma.DbNull` and
 * its kin), as opposed to a node of arguments. Any other object is not understood.
 */
export function isKnownValue(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return true
  if (v instanceof Date || v instanceof Uint8Array || fieldRefOf(v) !== undefined) return true
  const o = v as Record<string, unknown>
  const decimal = typeof o.toFixed === 'function' && 'd' in o && 'e' in o && 's' in o
  const nullType = typeof o._getName === 'function' && typeof o._getNamespace === 'function'
  return decimal || nullType
}

/** A Prisma field reference (`prisma.user.fields.name`) used as a filter value. */
export function fieldRefOf(v: unknown): { modelName: string; name: string } | undefined {
  if (typeof v !== 'object' || v === null || isPlain(v)) return undefined
  const r = v as { modelName?: unknown; name?: unknown }
  return typeof r.modelName === 'string' && typeof r.name === 'string' ? { modelName: r.modelName, name: r.name } : undefined
}

/** The refusal of an argument the walk does not understand or cannot confine, naming its path. */
export function unsupported(model: string, path: string, why: string): UnsupportedQueryError {
  return new UnsupportedQueryError(`model ${model}: ${path}: ${why}`)
}

/** Refuses every key of `node` outside `allowed`. */
export function onlyKeys(model: string, node: Obj, allowed: ReadonlySet<string>, path: string): void {
  for (const key of Object.keys(node)) {
    if (node[key] !== undefined && !allowed.has(key)) throw unsupported(model, join(path, key), 'this argument is not supported on tenant-scoped data')
  }
}

export function join(path: string, key: string | number): string {
  return typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`
}

/**
 * A shallow copy of `o` (its own enumerable properties, as `{ ...o }` copies them) that takes new
 * properties cheaply. V8 adds a property to an object made by a spread through a runtime call (in
 * Node 20 about 0.3 µs each, against a few ns here). An own `__proto__` key, which `Object.assign`
 * would turn into the copy's prototype, is copied as the spread copies it: as a plain property.
 */
export function copyOf(o: Obj): Obj {
  return Object.hasOwn(o, '__proto__') ? { ...o } : Object.assign({}, o)
}

/** `where` with `AND` set to its own conditions (one, a list, or none) followed by `extra`. */
export function andWhere(where: Obj, extra: Obj): Obj {
  const out = copyOf(where)
  out.AND = [...toArray(where.AND), extra]
  return out
}

export function toArray(v: unknown): unknown[] {
  return v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]
}
