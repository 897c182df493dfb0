// What a nested write through a relation needs besides the data itself: its filters confined, the
// related row read for a to-one write, `set` kept to the tenant's rows, and one-to-one slot
// takeovers that could reach another tenant's row refused.
import { UnsupportedQueryError } from '../../errors'
import { selectOf, type ModelInfo, type RelationInfo } from '../config'
import type { Scope } from '../scope'
import { toArray } from '../walk/grammar'
import { confine, walkWhere, type Walk } from '../walk/where'
import { isObj, type Engine, type Obj, type WriteContext } from './context'

/** Checks a filter for encrypted fields and confines it (and its relation filters) to the tenant. */
export function confineFilter(engine: Engine, target: ModelInfo, where: unknown, scope: Scope, unique: boolean): Obj {
  const w: Walk = { table: engine.table, scope }
  return confine(w, target, walkWhere(w, target, where, { top: false, unique }, 'data'))
}

/**
 * Reads the row a to-one nested write targets: the owner's related row, or null when there is
 * none or it is another tenant's (the tenant cannot tell the two apart).
 */
export function relatedReader(key: string, target: ModelInfo, ctx: WriteContext): (select: Obj) => Promise<Obj | null> {
  return async (select) => {
    if (ctx.readOwner === undefined) return null
    const col = target.tenantColumn
    const withTenantColumn = col === undefined || select[col] ? select : { ...select, [col]: true }
    const owner = await ctx.readOwner({ [key]: { select: withTenantColumn } })
    const row = (owner?.[key] as Obj | null | undefined) ?? null
    if (row !== null && col !== undefined && !ctx.scope.bypass && row[col] !== ctx.scope.tenantId) return null
    return row
  }
}

/** True when the owner's to-one relation `key` holds a row of the tenant. */
export async function relatedIsTenants(key: string, target: ModelInfo, ctx: WriteContext): Promise<boolean> {
  return (await relatedReader(key, target, ctx)(selectOf([target.tenantColumn!]))) !== null
}

/**
 * Prisma keeps a one-to-one exclusive by disconnecting the previous holder of the slot, with no
 * tenant filter. Where that holder may be another tenant's row, taking the slot through the
 * relation is refused: a row of a scoped model with a unique foreign key into an unscoped one
 * (`connect`, `connectOrCreate`: write the foreign key column instead, and the unique constraint
 * answers), and an existing unscoped row taking a new scoped holder through its back relation.
 */
export function refuseDisplacing(parent: ModelInfo, key: string, rel: RelationInfo, target: ModelInfo, op: string, ctx: WriteContext): void {
  if (!rel.oneToOne || ctx.scope.bypass) return
  const holdsKey = rel.fromFields.length > 0
  if (holdsKey && parent.tenantColumn !== undefined && target.tenantColumn === undefined && (op === 'connect' || op === 'connectOrCreate')) {
    throw new UnsupportedQueryError(`model ${parent.name}: ${op} on one-to-one ${key} could take the slot from another tenant's row; write ${rel.fromFields.join(', ')} directly instead`)
  }
  const taking = op === 'connect' || op === 'connectOrCreate' || op === 'create' || op === 'upsert'
  if (!holdsKey && parent.tenantColumn === undefined && target.tenantColumn !== undefined && ctx.readOwner !== undefined && taking) {
    throw new UnsupportedQueryError(
      `model ${parent.name}: ${op} on one-to-one ${key} of an existing row could take the slot from another tenant's row; write the foreign key on ${target.name} instead`,
    )
  }
}

/**
 * `set` on a scoped to-many relation replaces the tenant's related rows only: it becomes a
 * `disconnect` of the tenant's current rows that are not in the new list and a confined
 * `connect` of the list (plain `set` would also disconnect other tenants' rows).
 */
export async function scopedSet(engine: Engine, parent: ModelInfo, key: string, target: ModelInfo, value: unknown, ctx: WriteContext): Promise<Obj> {
  const id = target.idField
  const items = toArray(value)
  if (id === undefined || ctx.readOwner === undefined || items.some((i) => !isObj(i) || i[id] === undefined)) {
    throw new UnsupportedQueryError(`model ${parent.name}: set on tenant-scoped ${key} needs an existing row and each ${target.name} named by ${id ?? 'its id'}`)
  }
  const owner = await ctx.readOwner({ [key]: { where: { [target.tenantColumn!]: ctx.scope.tenantId }, select: { [id]: true } } })
  const wanted = new Set(items.map((i) => String((i as Obj)[id])))
  const current = ((owner?.[key] as Obj[] | undefined) ?? []).map((r) => r[id])
  return {
    connect: items.map((i) => confineFilter(engine, target, i, ctx.scope, true)),
    disconnect: current.filter((c) => !wanted.has(String(c))).map((c) => ({ [id]: c })),
  }
}
