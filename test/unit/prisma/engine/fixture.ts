// The query path's parts on the walk tests' schema (../walk/fixture.ts), without a database: an
// engine over that table, a scope per tenant, and a QueryIO whose answers each test gives.
import { LocalKeyProvider } from '../../../../src'
import { RowLevelEncryption } from '../../../../src/fields/row'
import type { ModelSpec } from '../../../../src/fields/spec'
import { buildModelTable, type ModelInfo, type RowcryptOptions } from '../../../../src/prisma/config'
import type { Engine, Obj } from '../../../../src/prisma/engine/context'
import { encryptNew } from '../../../../src/prisma/engine/encrypt'
import { newKnownKeys } from '../../../../src/prisma/engine/known-keys'
import { searchableFields } from '../../../../src/prisma/engine/recheck'
import type { Manifest, ManifestField, ManifestModel } from '../../../../src/prisma/manifest'
import type { QueryIO } from '../../../../src/prisma/query'
import { Scope } from '../../../../src/prisma/scope'
import { manifest, table } from '../walk/fixture'

export { info } from '../walk/fixture'

export const keyProvider = new LocalKeyProvider({ keys: { v1: Buffer.alloc(32, 7) }, activeVersion: 'v1' })

/** The walk fixture's manifest with a String column `column` added to `model` (an index column), and `uniques` when given. */
export function withIndexColumn(model: string, column: string, uniques?: ManifestModel['uniques']): Manifest {
  const m = manifest.models[model]!
  const field: ManifestField = { kind: 'scalar', type: 'String', isList: false, isRequired: false, isId: false }
  return { ...manifest, models: { ...manifest.models, [model]: { ...m, ...(uniques ? { uniques } : {}), fields: { ...m.fields, [column]: field } } } }
}

/** The walk fixture's table with Post.title searchable through a truncated (8-bit) index in `titleIndex`. */
export const searchableTable: ReadonlyMap<string, ModelInfo> = buildModelTable({
  schema: withIndexColumn('Post', 'titleIndex'),
  keyProvider,
  blindIndex: { keyVersion: 'v1' },
  models: { User: { fields: ['email'] }, Post: { fields: [{ name: 'title', searchable: true, indexBits: 8 }] }, Profile: { fields: ['bio'] } },
} as unknown as RowcryptOptions)

/** The walk fixture's table with User in migrating mode: ids up to 1 are legacy (existed at cutover). */
export const migratingTable: ReadonlyMap<string, ModelInfo> = buildModelTable({
  schema: manifest,
  keyProvider,
  models: { User: { fields: ['email'], migrating: { legacyIds: (id: number) => id <= 1 } } },
} as unknown as RowcryptOptions)

/** A User row without a wrapped key (plaintext, or forged so at rest), of tenant A. */
export const keylessUser = (id: number, email = 'plain'): Obj => ({ id, name: 'n', email, tenantId: 'A', wrappedDek: null, keyVersion: null })

export const CIPHERTEXT_FORMAT = 'ERR_ROWCRYPT_CIPHERTEXT_FORMAT'

/** An engine over `t` (the walk fixture's table by default), as `new QueryEngine` builds it. */
export function engineOf(t: ReadonlyMap<string, ModelInfo> = table): Engine {
  const specs = [...t.values()].map((m) => m.spec).filter((s): s is ModelSpec => s !== undefined)
  const rle = RowLevelEncryption.fromSpecs(keyProvider, specs, specs.some((s) => s.indexed.length > 0) ? { keyVersion: 'v1' } : undefined)
  return { table: t, rle, knownKeys: newKnownKeys(), searchable: searchableFields(t) }
}

/** The scope of a call as tenant `tenantId` (null: outside withTenant, or inside a bypass). */
export function scopeAs(tenantId: string | null = 'A', bypass = false): Scope {
  return new Scope(tenantId ?? undefined, bypass, { rowsEncrypted: 0, rowsDecrypted: 0, rowsPlaintext: 0 }, () => new Set<string>())
}

/** A QueryIO that records its calls; every answer not given finds nothing. */
export function fakeIO(answers: Partial<QueryIO> = {}): QueryIO & { calls: Array<[string, ...unknown[]]> } {
  const calls: Array<[string, ...unknown[]]> = []
  return {
    calls,
    readUnique: async (...a) => (calls.push(['readUnique', ...a]), answers.readUnique ? answers.readUnique(...a) : null),
    readMany: async (...a) => (calls.push(['readMany', ...a]), answers.readMany ? answers.readMany(...a) : []),
    exists: async (...a) => (calls.push(['exists', ...a]), answers.exists ? answers.exists(...a) : false),
    inBatch: () => answers.inBatch?.() ?? false,
    globallyOmitted: (model) => answers.globallyOmitted?.(model) ?? new Set<string>(),
  }
}

/** A stored row of `model` for `tenantId`: `data` encrypted as a create would write it. */
export async function storedRow(engine: Engine, model: string, data: Obj, tenantId = 'A'): Promise<Obj> {
  return encryptNew(engine, engine.table.get(model)!, data, scopeAs(tenantId))
}

/** A fake `query` answering the columns of `rows` its `select` names (every column without one), recording its arguments. */
export function selecting(rows: Obj[]): ((args: Obj) => Promise<Obj[]>) & { args: Obj[] } {
  const args: Obj[] = []
  const pick = (row: Obj, select: unknown) => (select === undefined ? { ...row } : Object.fromEntries(Object.keys(select as Obj).map((k) => [k, row[k]])))
  return Object.assign(async (a: Obj) => (args.push(a), rows.map((r) => pick(r, a.select))), { args })
}

/** The code of what `p` rejects with (undefined when it resolves). */
export async function rejectionCode(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
  } catch (e) {
    return (e as { code?: string }).code
  }
  return undefined
}

export const UNSUPPORTED = 'ERR_ROWCRYPT_UNSUPPORTED_QUERY'
export const TENANT_MISMATCH = 'ERR_ROWCRYPT_TENANT_MISMATCH'
export const TENANT_MISSING = 'ERR_ROWCRYPT_TENANT_MISSING'
export const NOT_FOUND = 'P2025'
