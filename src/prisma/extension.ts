// The only file that imports @prisma/client: it wires the Prisma-free query path into a client
// extension. Everything it does per query is: scope, encrypt, query, decrypt.
import { AsyncLocalStorage } from 'node:async_hooks'
import { Prisma } from '@prisma/client/extension'
import { redactCiphertexts } from '../envelope/ciphertext'
import { RowLevelEncryption } from '../fields/row'
import { notify, outcomeOf, type CallStats, type RowcryptObserver } from '../metrics/observer'
import { currentScope } from '../tenant/context'
import type { ModelSpec, SidecarColumns } from '../fields/spec'
import { buildModelTable, type RowcryptOptions } from './config'
import type { Manifest } from './manifest'
import { QueryEngine, type QueryIO } from './query'

type AnyClient = Record<string, unknown> & {
  $transaction: (arg: unknown, options?: unknown) => Promise<unknown>
}
type Delegate = {
  findUnique: (args: unknown) => Promise<Record<string, unknown> | null>
  findFirst: (args: unknown) => Promise<Record<string, unknown> | null>
}

/**
 * The rowcrypt Prisma client extension. Marked fields of the named models are encrypted on
 * write and decrypted on read under a per-row data key, and every query on those models is
 * confined to the tenant of the surrounding `withTenant()`.
 *
 * Options are validated against the schema manifest here, once; a `ConfigError` names any
 * unknown model, unknown field, unsupported field type or missing sidecar column.
 *
 * Apply it last in a `$extends` chain: its interactive transactions hand out the client it wraps.
 *
 * @example
 * ```ts
 * import { PrismaClient } from './generated/client/client'
 * import { manifest } from './generated/rowcrypt'
 * import { rowcrypt, withTenant, LocalKeyProvider } from 'rowcrypt'
 *
 * const prisma = new PrismaClient({ adapter }).$extends(
 *   rowcrypt({
 *     schema: manifest,
 *     keyProvider: new LocalKeyProvider({ keys: { v1: masterKey }, activeVersion: 'v1' }),
 *     models: {
 *       User: { fields: ['email', 'ssn', 'notes'] },
 *       Document: { fields: ['body'], columns: { tenantId: 'orgId' } },
 *     },
 *   }),
 * )
 * await withTenant('tenant_a', () => prisma.user.create({ data: { email: 'a@x.io', ssn: '123-45-6789' } }))
 * ```
 */
export function rowcrypt<const M extends Manifest>(options: RowcryptOptions<M>) {
  const table = buildModelTable(options as unknown as RowcryptOptions)
  const specs = [...table.values()].map((m) => m.spec).filter((s): s is ModelSpec => s !== undefined)
  const engine = new QueryEngine(table, RowLevelEncryption.fromSpecs(options.keyProvider, specs))
  const observers = [...(options.observers ?? [])]
  const idFields = primaryKeyFields(options.schema)

  return Prisma.defineExtension((client) => {
    // Per extended client: the caller's interactive transaction client, so that rowcrypt's own
    // reads run inside it; and a marker for those reads, so they pass straight through.
    const transactions = new AsyncLocalStorage<{ tx?: AnyClient; batch?: true }>()
    const internalRead = new AsyncLocalStorage<true>()
    const base = client as unknown as AnyClient

    // rowcrypt's own reads: inside the caller's interactive transaction when there is one.
    const read = <T>(model: string, fn: (d: Delegate) => Promise<T>): Promise<T> => {
      const source = transactions.getStore()?.tx ?? base
      return internalRead.run(true, async () => await fn(source[delegateName(model)] as Delegate))
    }
    const io: QueryIO = {
      readUnique: (model, where, select) => read(model, (d) => d.findUnique({ where, select })),
      exists: async (model, where) => (await read(model, (d) => d.findFirst({ where, select: { [Object.keys(where)[0]!]: true } }))) !== null,
      inBatch: () => transactions.getStore()?.batch === true,
    }

    const scoped = client.$extends({
      name: 'rowcrypt',
      query: {
        $allModels: {
          async $allOperations({ model, operation, args, query }) {
            if (engine.passThrough(model) || internalRead.getStore() === true) return query(args)
            // Prisma's validation errors render the arguments, which now hold ciphertext.
            const guarded: Query = (a) => (query as Query)(a).catch(redactError)
            if (observers.length === 0) return engine.handle(model, operation, args, guarded, io, { rowsEncrypted: 0, rowsDecrypted: 0 })
            return observed(observers, model!, operation, args, idFields.get(model!), (stats) => engine.handle(model, operation, args, guarded, io, stats))
          },
        },
      },
    }) as unknown as AnyClient

    // Interactive transactions publish their client so rowcrypt's reads join them. Typed as `{}`
    // so the caller's client keeps Prisma's own, fully typed `$transaction` signature.
    const transactionOverride = {
      $transaction(arg: unknown, txOptions?: unknown) {
        if (typeof arg !== 'function') return transactions.run({ batch: true }, () => scoped.$transaction(arg, txOptions))
        const fn = arg as (tx: AnyClient) => Promise<unknown>
        return scoped.$transaction((tx: AnyClient) => transactions.run({ tx }, () => fn(tx)), txOptions)
      },
    } as {}
    // What maintenance jobs (encryptExistingRows, the CLI) need to know about the configuration.
    const describe = { $rowcrypt: (): RowcryptDescription => ({ models: Object.fromEntries(specs.map((s) => [s.name, describeSpec(s)])) }) }
    return (scoped as unknown as typeof client).$extends({ name: 'rowcrypt-transactions', client: { ...transactionOverride, ...describe } })
  })
}

type Query = (args: unknown) => Promise<unknown>

/** What `prisma.$rowcrypt()` returns: the configuration of the scoped models, without keys. */
export interface RowcryptDescription {
  models: Record<string, { fields: Array<{ name: string; type: string }>; columns: SidecarColumns; idField: string | undefined; migrating: boolean }>
}

function describeSpec(s: ModelSpec): RowcryptDescription['models'][string] {
  return { fields: [...s.fields.values()].map((f) => ({ name: f.name, type: f.type })), columns: { ...s.columns }, idField: s.idField, migrating: s.migrating }
}

function redactError(e: unknown): never {
  if (e instanceof Error) {
    e.message = redactCiphertexts(e.message)
    if (e.stack !== undefined) e.stack = redactCiphertexts(e.stack)
  }
  throw e
}

async function observed(observers: readonly RowcryptObserver[], model: string, operation: string, args: unknown, idField: string | undefined, run: (stats: CallStats) => Promise<unknown>): Promise<unknown> {
  const scope = currentScope()
  const time = new Date()
  const started = performance.now()
  const stats: CallStats = { rowsEncrypted: 0, rowsDecrypted: 0 }
  const base = { operation, model, tenantId: scope?.tenantId, bypass: scope?.bypass !== undefined, time, ...targetOf(args, idField) }
  try {
    const result = await run(stats)
    notify(observers, { ...base, ...stats, ...rowsOf(operation, result, idField), outcome: 'ok', durationMs: performance.now() - started })
    return result
  } catch (e) {
    notify(observers, { ...base, ...stats, ...outcomeOf(e), durationMs: performance.now() - started })
    throw e
  }
}

// Rows and ids for operation events (audit trails): what the call returned, never any field value.
const NO_ROWS = new Set(['count', 'aggregate', 'groupBy'])
const BATCH_WRITES = new Set(['createMany', 'updateMany', 'deleteMany'])

function primaryKeyFields(manifest: Manifest): Map<string, string | undefined> {
  return new Map(Object.entries(manifest.models).map(([name, m]) => [name, m.primaryKey.length === 1 ? m.primaryKey[0] : undefined]))
}

function rowsOf(operation: string, result: unknown, idField: string | undefined): { rowCount?: number; rowIds?: string[] } {
  if (NO_ROWS.has(operation)) return {}
  if (result === null || result === undefined) return idField === undefined ? { rowCount: 0 } : { rowCount: 0, rowIds: [] }
  if (typeof result !== 'object') return {}
  if (BATCH_WRITES.has(operation)) {
    const count = (result as { count?: unknown }).count
    return typeof count === 'number' ? { rowCount: count } : {}
  }
  const rows: unknown[] = Array.isArray(result) ? result : [result]
  const ids = idField === undefined ? undefined : rows.map((r) => idString((r as Record<string, unknown> | null)?.[idField]))
  // Ids only when every row carries its own (a `select` may leave the id out).
  return ids !== undefined && ids.every((id) => id !== undefined) ? { rowCount: rows.length, rowIds: ids as string[] } : { rowCount: rows.length }
}

function targetOf(args: unknown, idField: string | undefined): { targetId?: string } {
  if (idField === undefined) return {}
  const where = (args as { where?: unknown } | null | undefined)?.where
  const id = typeof where === 'object' && where !== null ? idString((where as Record<string, unknown>)[idField]) : undefined
  return id === undefined ? {} : { targetId: id }
}

function idString(v: unknown): string | undefined {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' ? String(v) : undefined
}

function delegateName(model: string): string {
  return model.charAt(0).toLowerCase() + model.slice(1)
}
