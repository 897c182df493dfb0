// Foreign keys a write sets directly, checked to point at rows of the tenant.
import { ForeignKeyError, UnsupportedQueryError } from '../../errors'
import type { ModelInfo } from '../config'
import type { QueryIO } from '../query'
import type { Scope } from '../scope'
import { isObj, isSetOp, type Obj, type WriteContext } from './context'

/**
 * Checks the foreign keys of every row a write collected, once its values are all encrypted.
 * Undefined when no row has a foreign key to check (nothing to wait for).
 */
export function runForeignKeyChecks(ctx: WriteContext): Promise<void> | undefined {
  if (!ctx.foreignKeys.some(([info]) => info.plan.foreignKeys.length > 0)) return undefined
  return checkEach(ctx)
}

async function checkEach(ctx: WriteContext): Promise<void> {
  for (const [info, row] of ctx.foreignKeys) if (info.plan.foreignKeys.length > 0) await checkForeignKeys(info, [row], ctx.scope, ctx.io)
}

/**
 * Foreign-key columns written directly (`authorId: 7`) must point at a row of the tenant: a
 * pointer into another tenant would let that tenant's columns steer this tenant's sorts and
 * filters, and block its deletes. One read per distinct key, inside the caller's transaction.
 */
export async function checkForeignKeys(info: ModelInfo, rows: unknown[], scope: Scope, io: QueryIO): Promise<void> {
  if (scope.bypass) return
  for (const { name, relation: rel, target } of info.plan.foreignKeys) {
    const checked = new Set<string>()
    for (const row of rows) {
      if (!isObj(row)) continue
      const values = rel.fromFields.map((f) => (isSetOp(row[f]) ? (row[f] as Obj).set : row[f]))
      if (values.every((v) => v === undefined) || values.some((v) => v === null)) continue
      if (values.some((v) => v === undefined || isObj(v))) {
        throw new UnsupportedQueryError(`model ${info.name}: the foreign key of ${name} must be written whole, as plain values`)
      }
      const id = values.map(String).join('\u0000')
      if (checked.has(id)) continue
      checked.add(id)
      scope.require(target.name)
      const where: Obj = Object.fromEntries(rel.toFields.map((f, i) => [f, values[i]]))
      where[target.tenantColumn] = scope.tenantId
      if (!(await io.exists(target.name, where))) {
        throw new ForeignKeyError(`model ${info.name}: ${name} refers to no ${target.name} row of the current tenant`, { field: rel.fromFields.join(', '), modelName: info.name })
      }
    }
  }
}
