// The write half of the query path: the data of a create or update, nested writes through
// relations at any depth included, with every scoped row bound to the tenant and encrypted.
import { randomBytes } from 'node:crypto'
import { parseWrappedKey } from '../../envelope/wrapped-key'
import { RecordNotFoundError, UnsupportedQueryError } from '../../errors'
import { isLegacyPlaintextRow } from '../../fields/row'
import type { ModelInfo, RelationInfo } from '../config'
import { andWhere, copyOf } from '../walk/grammar'
import { isObj, mapItems, mapItemsAsync, type Engine, type Obj, type WriteContext } from './context'
import { checkUpdateData, encryptLegacyRow, encryptNew, encryptNewNow, encryptWithRowKey, encryptWithRowKeyNow, tenantOfNewRow, touchedFields } from './encrypt'
import { confineFilter, refuseDisplacing, relatedIsTenants, relatedReader, scopedSet } from './relations'

/**
 * `newRow` without a promise for a row with no relation written and nothing to wait for (see
 * `encryptNewNow`); undefined otherwise (then call `newRow`).
 */
export function newRowNow(engine: Engine, info: ModelInfo, data: unknown, ctx: WriteContext): Obj | undefined {
  if (!isObj(data)) return undefined
  for (const key in data) if (info.relations.has(key)) return undefined
  let out: Obj | undefined
  if (info.spec !== undefined) out = encryptNewNow(engine, info, data, ctx.scope)
  else if (info.tenantColumn !== undefined) {
    out = copyOf(data)
    out[info.tenantColumn] = tenantOfNewRow(info, data, ctx.scope)
  }
  if (out !== undefined) ctx.foreignKeys.push([info, out])
  return out
}

/**
 * The new rows of a create (`data`, or each item of a list), made synchronously where nothing
 * waits: the rows, or a promise of them when any row must wait.
 */
export function newRows(engine: Engine, info: ModelInfo, data: unknown, ctx: WriteContext): unknown {
  if (!Array.isArray(data)) return newRowNow(engine, info, data, ctx) ?? newRow(engine, info, data, ctx)
  const out: unknown[] = new Array(data.length)
  for (let i = 0; i < data.length; i++) {
    const row = newRowNow(engine, info, data[i], ctx)
    if (row === undefined) return finishRows(engine, info, data, ctx, out, i)
    out[i] = row
  }
  return out
}

// The rows of a list from the first that must wait: that one first (it loads what the key provider
// lacked, such as a tenant key not yet cached), then the others, each synchronously where it can.
async function finishRows(engine: Engine, info: ModelInfo, data: unknown[], ctx: WriteContext, out: unknown[], from: number): Promise<unknown[]> {
  out[from] = await newRow(engine, info, data[from], ctx)
  const waiting: Array<Promise<void>> = []
  for (let i = from + 1; i < data.length; i++) {
    const row = newRowNow(engine, info, data[i], ctx)
    if (row !== undefined) out[i] = row
    else
      waiting.push(
        newRow(engine, info, data[i], ctx).then((r) => {
          out[i] = r
        }),
      )
  }
  await Promise.all(waiting)
  return out
}

/** A new row of `info`, top-level or nested: its nested writes, then its own fields encrypted. */
export async function newRow(engine: Engine, info: ModelInfo, data: unknown, ctx: WriteContext): Promise<unknown> {
  const inner = await writeData(engine, info, data, { ...ctx, readOwner: undefined })
  let out = inner
  if (info.spec !== undefined && isObj(inner)) out = await encryptNew(engine, info, inner, ctx.scope)
  else if (info.tenantColumn !== undefined && isObj(inner)) {
    const row = copyOf(inner)
    row[info.tenantColumn] = tenantOfNewRow(info, inner, ctx.scope)
    out = row
  }
  ctx.foreignKeys.push([info, out])
  return out
}

/**
 * The data of an update of an existing row of `info`, top-level or nested: its nested writes,
 * then its encrypted fields under the row's own key (read through `read`). Returns the wrapped
 * key read, as a compare-and-swap condition. When no row is there, `'throw'` fails and
 * `'guard'` (an upsert's update branch) drops the encrypted values and returns a condition no row
 * meets, so that branch can never run with them.
 */
export async function updatedRow(
  engine: Engine,
  info: ModelInfo,
  data: unknown,
  read: (select: Obj) => Promise<Obj | null>,
  ctx: WriteContext,
  ifMissing: 'throw' | 'guard',
): Promise<{ data: unknown; cas?: Obj; rowKey?: Obj }> {
  const inner = await writeData(engine, info, data, { ...ctx, readOwner: read, lendKey: undefined })
  ctx.foreignKeys.push([info, inner])
  checkUpdateData(info, inner)
  const spec = info.spec
  if (spec === undefined || !isObj(inner)) return { data: inner }
  const touched = touchedFields(info, inner)
  // In migrating mode every write looks at the row: a plaintext one gets encrypted now.
  if (touched.length === 0 && !spec.migrating) return { data: inner }
  const row = await read(spec.migrating ? info.plan.migratingSelect : info.plan.requiredSelect)
  if (row !== null && isLegacyPlaintextRow(spec, row)) return encryptLegacyRow(engine, spec, row, inner, touched, ctx.scope)
  if (touched.length === 0) {
    // Migrating mode read the row: one without a key outside the legacy set fails before the
    // write, as reading it does, so nothing is written beside values that are not rowcrypt's.
    if (row !== null) parseWrappedKey(row[spec.columns.wrappedDek])
    return { data: inner }
  }
  if (row === null) {
    if (ifMissing === 'throw') throw new RecordNotFoundError(`model ${spec.name}: no row of the current tenant matches the update`, { modelName: info.name })
    const stripped: Obj = { ...inner }
    for (const f of touched) delete stripped[f.name]
    return { data: stripped, cas: { [spec.columns.wrappedDek]: new Uint8Array(randomBytes(32)) } }
  }
  const encrypted = await encryptWithRowKey(engine, spec, row, inner, touched, ctx.scope, ctx.lendKey === true && ifMissing === 'throw')
  const rowKey = { [spec.columns.wrappedDek]: row[spec.columns.wrappedDek] }
  // An upsert's update branch gets no compare-and-swap here: a failed one would fall through to
  // create. The top-level upsert makes that create collide first, then uses `rowKey` (cas.ts).
  return ifMissing === 'throw' ? { data: encrypted, cas: rowKey } : { data: encrypted, rowKey }
}

/**
 * `updatedRow` (`'throw'`) without a promise, for data with no relation written, of a row whose
 * key columns are already known (`row`, from a recent read), when nothing waits (see
 * `encryptWithRowKeyNow`). Undefined otherwise (then call `updatedRow`).
 */
export function updatedRowNow(engine: Engine, info: ModelInfo, data: unknown, row: Obj, ctx: WriteContext): { data: unknown; cas: Obj } | undefined {
  const spec = info.spec
  if (spec === undefined || spec.migrating || !isObj(data)) return undefined
  for (const key in data) if (info.relations.has(key)) return undefined
  for (const col in info.plan.requiredSelect) if (!(col in row)) return undefined
  checkUpdateData(info, data)
  const touched = touchedFields(info, data)
  if (touched.length === 0) return undefined
  const encrypted = encryptWithRowKeyNow(engine, spec, row, data, touched, ctx.scope, ctx.lendKey === true)
  if (encrypted === undefined) return undefined
  ctx.foreignKeys.push([info, data])
  return { data: encrypted, cas: { [spec.columns.wrappedDek]: row[spec.columns.wrappedDek] } }
}

/**
 * Nested writes through relations, at any depth. Every filter they carry (`connect`,
 * `disconnect`, the `where` of nested updates, upserts and deletes) is checked and confined like a
 * query's `where`. Nested rows of scoped models are encrypted under their own data key (new rows)
 * or their existing one (updates) and bound to the tenant; `set` on a scoped relation only
 * touches the tenant's rows.
 */
async function writeData(engine: Engine, info: ModelInfo, data: unknown, ctx: WriteContext): Promise<unknown> {
  if (!isObj(data)) return data
  let out: Obj | undefined
  for (const [key, value] of Object.entries(data)) {
    const rel = info.relations.get(key)
    if (rel === undefined || !isObj(value)) continue
    const target = engine.table.get(rel.target)!
    if (!target.reachesScoped) continue
    if (target.tenantColumn !== undefined) ctx.scope.require(target.name)
    let ops: Obj = {}
    for (const [op, opValue] of Object.entries(value)) {
      if (opValue === undefined) continue
      refuseDisplacing(info, key, rel, target, op, ctx)
      if (op === 'upsert' && !rel.isList && target.tenantColumn !== undefined && !(await relatedIsTenants(key, target, ctx))) {
        // The relation holds no row of the tenant (none, or another tenant's it cannot see): the
        // tenant's view of the upsert is a create.
        ops.create = await newRow(engine, target, (opValue as Obj).create, ctx)
        continue
      }
      if (op === 'set' && target.tenantColumn !== undefined && !ctx.scope.bypass) {
        if (value.connect !== undefined || value.disconnect !== undefined) throw new UnsupportedQueryError(`model ${info.name}: combine set with connect or disconnect on ${key} in separate writes`)
        ops = { ...ops, ...(await scopedSet(engine, info, key, target, opValue, ctx)) }
      } else {
        ops[op] = await nestedOp(engine, info, key, rel, target, op, opValue, ctx)
      }
    }
    out ??= { ...data }
    out[key] = ops
  }
  return out ?? data
}

async function nestedOp(engine: Engine, parent: ModelInfo, key: string, rel: RelationInfo, target: ModelInfo, op: string, value: unknown, ctx: WriteContext): Promise<unknown> {
  // connect and connectOrCreate take unique inputs, as do to-many disconnect, set and delete;
  // to-one disconnect and delete, deleteMany and updateMany take plain filters.
  const uniqueFilter = (w: unknown) => confineFilter(engine, target, w, ctx.scope, true)
  const filter = (w: unknown) => confineFilter(engine, target, w, ctx.scope, rel.isList)
  const plainFilter = (w: unknown) => confineFilter(engine, target, w, ctx.scope, false)
  const create = (d: unknown) => newRow(engine, target, d, ctx)
  switch (op) {
    case 'connect':
      return mapItems(value, uniqueFilter)
    case 'disconnect':
    case 'delete':
      // To-one `true`: the related row, whoever's it is; confined, only the tenant's.
      if (value === true && !rel.isList) return target.tenantColumn === undefined || ctx.scope.bypass ? true : confineFilter(engine, target, {}, ctx.scope, false)
      if (value === false) return value
      return mapItems(value, filter)
    case 'set':
      return mapItems(value, filter)
    case 'deleteMany':
      return mapItems(value, plainFilter)
    case 'create':
      return mapItemsAsync(value, create)
    case 'createMany':
      return isObj(value) ? { ...value, data: await mapItemsAsync(value.data, create) } : value
    case 'connectOrCreate':
      return mapItemsAsync(value, async (v) => (isObj(v) ? { ...v, where: uniqueFilter(v.where), create: await create(v.create) } : v))
    case 'update':
      return mapItemsAsync(value, (v) => nestedUpdate(engine, key, rel, target, v, ctx))
    case 'upsert':
      return mapItemsAsync(value, (v) => nestedUpsert(engine, key, rel, target, v, ctx))
    case 'updateMany':
      return mapItemsAsync(value, async (v) => {
        if (!isObj(v)) return v
        checkUpdateData(target, v.data)
        if (target.spec !== undefined) {
          if (touchedFields(target, v.data).length > 0) {
            throw new UnsupportedQueryError(`model ${parent.name}: nested updateMany on ${key} cannot set encrypted fields (each row has its own key)`)
          }
        }
        ctx.foreignKeys.push([target, v.data])
        return { ...v, where: plainFilter(v.where) }
      })
    default:
      throw new UnsupportedQueryError(`model ${parent.name}: nested ${op} on ${key} is not supported where it reaches tenant-scoped data`)
  }
}

// `update` on a relation: to-many items are `{ where, data }`; to-one is the data itself or
// `{ where?, data }`. The where is confined (a to-one one is added) and carries the CAS condition.
async function nestedUpdate(engine: Engine, key: string, rel: RelationInfo, target: ModelInfo, v: unknown, ctx: WriteContext): Promise<unknown> {
  if (!isObj(v)) return v
  const wrapped = rel.isList || (isObj(v.data) && Object.keys(v).every((k) => k === 'data' || k === 'where'))
  const where = confineFilter(engine, target, (wrapped ? v.where : undefined) ?? {}, ctx.scope, rel.isList) as Obj
  const read = rel.isList ? (select: Obj) => ctx.io.readUnique(target.name, where, select) : relatedReader(key, target, ctx)
  const { data, cas } = await updatedRow(engine, target, wrapped ? v.data : v, read, ctx, 'throw')
  const finalWhere = cas === undefined ? where : andWhere(where, cas)
  if (rel.isList) return { ...v, where: finalWhere, data }
  return Object.keys(finalWhere).length > 0 ? { where: finalWhere, data } : { data }
}

async function nestedUpsert(engine: Engine, key: string, rel: RelationInfo, target: ModelInfo, v: unknown, ctx: WriteContext): Promise<unknown> {
  if (!isObj(v)) return v
  const where = confineFilter(engine, target, v.where ?? {}, ctx.scope, rel.isList) as Obj
  const read = rel.isList ? (select: Obj) => ctx.io.readUnique(target.name, where, select) : relatedReader(key, target, ctx)
  const { data: update, cas } = await updatedRow(engine, target, v.update, read, ctx, 'guard')
  const create = await newRow(engine, target, v.create, ctx)
  const finalWhere = cas === undefined ? where : andWhere(where, cas)
  return { ...v, ...(Object.keys(finalWhere).length > 0 ? { where: finalWhere } : {}), create, update }
}
