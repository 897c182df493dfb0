// Byte-for-byte pictures of tables, read with raw SQL outside Prisma, for all-or-nothing checks:
// a failed write must leave `snapshot()` exactly as it was.
import type { TestDatabase } from './db'

/** The tables of the test schema that rowcrypt writes. */
export const TABLES = ['User', 'Post', 'Document', 'Team', 'RowcryptTenantKey'] as const

function canonical(value: unknown): unknown {
  if (value instanceof Uint8Array) return `bytes:${Buffer.from(value).toString('hex')}`
  if (value instanceof Date) return `date:${value.toISOString()}`
  if (typeof value === 'bigint') return `bigint:${value.toString()}`
  return value
}

/** Every row of `tables` (all columns; bytes as hex), rows sorted, as one comparable string. */
export async function snapshot(db: TestDatabase, tables: readonly string[] = TABLES): Promise<string> {
  const out: Record<string, string[]> = {}
  for (const t of tables) {
    const rows = await db.raw<Record<string, unknown>>(`SELECT * FROM ${db.table(t)}`)
    out[t] = rows
      .map((r) =>
        JSON.stringify(
          Object.fromEntries(
            Object.keys(r)
              .sort()
              .map((k) => [k, canonical(r[k])]),
          ),
        ),
      )
      .sort()
  }
  return JSON.stringify(out)
}

/** Rows of one table keyed by their `id` column (bytes as hex), for row-by-row comparisons. */
export async function rowsById(db: TestDatabase, table: string): Promise<Map<string, Record<string, unknown>>> {
  const rows = await db.raw<Record<string, unknown>>(`SELECT * FROM ${db.table(table)}`)
  return new Map(rows.map((r) => [String(r.id), Object.fromEntries(Object.entries(r).map(([k, v]) => [k, canonical(v)]))]))
}
