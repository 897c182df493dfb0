// Filters on searchable encrypted fields, rewritten into filters on their blind-index columns.
// Called by the where walk for every condition on an encrypted field; the rows a top-level
// equality returns are re-checked on their plaintext after decryption (Scope.rechecks).
import { InvalidValueError, UnsupportedQueryError } from '../../errors'
import type { IndexSession } from '../../fields/blind-index'
import type { FieldSpec } from '../../fields/spec'
import type { ModelInfo } from '../config'
import type { Scope } from '../scope'
import { isPlain, type Obj } from './grammar'

/** Where a filter sits: the call's own `where` (top), a unique `where`, and the call's operation. */
export interface FilterMode {
  readonly top: boolean
  readonly unique: boolean
  readonly operation?: string
}
export const NESTED: FilterMode = { top: false, unique: false }

export const READS: ReadonlySet<string> = new Set(['findUnique', 'findUniqueOrThrow', 'findFirst', 'findFirstOrThrow', 'findMany'])
// Filter operators a blind index can answer; anything else on a searchable field is refused.
const INDEX_OPERATORS = new Set(['equals', 'in', 'notIn', 'not', 'mode'])
// Operations whose rows a truncated index's false positives can be removed from.
const RECHECKED = new Set(['findMany', 'findFirst', 'findFirstOrThrow', 'count', 'updateMany', 'updateManyAndReturn', 'deleteMany'])

/**
 * One condition on encrypted field `field` of `info`, rewritten onto its index column: either a
 * unique input set into `out` (a unique `where` whose index is unique, e.g. `tenantId_emailIndex`)
 * or conditions returned to be ANDed. Encrypted fields without an index are refused.
 */
export function searchCondition(info: ModelInfo, field: FieldSpec, value: unknown, scope: Scope, mode: FilterMode, out: Obj): Obj[] {
  if (field.index === undefined) throw new UnsupportedQueryError(`model ${info.name}: field ${field.name} is encrypted and cannot be used in where`)
  const unique = mode.unique ? info.indexUniques.get(field.name) : undefined
  const plain = typeof value === 'string' ? value : isPlain(value) && Object.keys(value).length === 1 && typeof value.equals === 'string' ? value.equals : undefined
  if (unique === undefined || plain === undefined) return indexConditions(info, field, value, scope, mode)
  const session = sessionOf(info, field.name, scope)
  if (session.versions.length > 1 && !READS.has(mode.operation ?? '')) {
    // One unique input holds one version's value: a row still indexed under an older one
    // would be missed, and an upsert or connectOrCreate would then create a duplicate.
    throw new UnsupportedQueryError(
      `model ${info.name}: a write by searchable field ${field.name} is not possible while blindIndex.previousKeyVersions is set (rotate --reindex pending); find the row, then write it by id`,
    )
  }
  if (mode.top && READS.has(mode.operation ?? '')) scope.rechecks.push({ field, accept: new Set([field.index.normalize(plain)]), strict: true })
  const indexValue = session.all(info.spec!, field, plain)[scope.uniqueVersion] as string
  const column = field.index.column
  out[unique.key] = unique.fields.length === 1 ? indexValue : Object.fromEntries(unique.fields.map((f) => [f, f === column ? indexValue : scope.tenantId]))
  return []
}

function sessionOf(info: ModelInfo, field: string, scope: Scope): IndexSession {
  if (scope.idx === undefined) {
    throw new UnsupportedQueryError(`model ${info.name}: searching encrypted field ${field} needs a tenant (withTenant): its index keys are per tenant`)
  }
  return scope.idx
}

/** The index-column conditions (ANDed) equivalent to one filter on a searchable field. */
function indexConditions(info: ModelInfo, field: FieldSpec, value: unknown, scope: Scope, mode: FilterMode, negated = false): Obj[] {
  const spec = info.spec!
  const index = field.index!
  const column = index.column
  const truncated = index.bits < 256
  if (value === null) return [{ [field.name]: null }]
  if (!isPlain(value) && typeof value !== 'string') throw new InvalidValueError(`model ${info.name}: a filter on searchable field ${field.name} must be a string or a filter object`)
  const filter: Obj = typeof value === 'string' ? { equals: value } : value
  const at = `model ${info.name}: searchable field ${field.name}`
  const values = (v: unknown): string[] => sessionOf(info, field.name, scope).all(spec, field, v)
  const list = (v: unknown): unknown[] => {
    if (!Array.isArray(v)) throw new InvalidValueError(`${at}: in and notIn take an array`)
    return v
  }
  const out: Obj[] = []
  // One set of accepted values per operator: `{ equals, in }` must meet both.
  const accepts: Array<Set<string>> = []
  for (const [op, v] of Object.entries(filter)) {
    if (v === undefined) continue
    if (!INDEX_OPERATORS.has(op)) throw new UnsupportedQueryError(`${at}: only equality (equals, in, notIn, not) can be searched through its blind index, not ${op}`)
    if (truncated && op !== 'equals' && op !== 'in' && op !== 'mode')
      throw new UnsupportedQueryError(`${at}: its index is truncated, so it can be searched with equals or in only (not ${op}), at the top level of where`)
    switch (op) {
      case 'mode':
        if (v !== 'default') throw new UnsupportedQueryError(`${at}: mode "${String(v)}" is not possible on an index; normalize the field instead (normalize: 'lowercase')`)
        break
      case 'equals':
        if (v === null) out.push({ [field.name]: null })
        else {
          const all = values(v)
          out.push({ [column]: all.length === 1 ? all[0] : { in: all } })
          accepts.push(new Set([index.normalize(v as string)]))
        }
        break
      case 'in':
        out.push({ [column]: { in: list(v).flatMap(values) } })
        accepts.push(new Set(list(v).map((x) => index.normalize(x as string))))
        break
      case 'notIn':
        out.push({ [column]: { notIn: list(v).flatMap(values) } })
        break
      case 'not':
        if (v === null) out.push({ [field.name]: { not: null } })
        else if (typeof v === 'string') out.push({ [column]: { notIn: values(v) } })
        else out.push({ NOT: indexConditions(info, field, v, scope, mode, true) })
        break
    }
  }
  const topRead = mode.top && READS.has(mode.operation ?? '')
  if (truncated) {
    const supported = mode.top && (mode.operation === undefined ? false : RECHECKED.has(mode.operation))
    if (!supported)
      throw new UnsupportedQueryError(
        `${at}: its index is truncated, so it can only be searched at the top level of where (AND) in findMany, findFirst, count, updateMany and deleteMany, where rowcrypt re-checks candidates`,
      )
  }
  // Equality at the top level is re-checked on the decrypted value: truncated indexes drop their
  // false positives; untruncated ones catch an index column copied from another row.
  if (!negated && (truncated || topRead)) for (const accept of accepts) scope.rechecks.push({ field, accept, strict: !truncated })
  return out
}
