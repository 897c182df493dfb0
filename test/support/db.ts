// Real databases for integration tests: each test file gets its own SQLite file or PostgreSQL
// schema, created and migrated at start and dropped at the end. No skipping: a missing server
// fails the suite loudly.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { Client } from 'pg'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient as SqliteClient } from '../../generated/sqlite/client/client'
import { PrismaClient as PostgresClient } from '../../generated/postgres/client/client'
import { manifest as sqliteManifest } from '../../generated/sqlite/rowcrypt'
import { manifest as postgresManifest } from '../../generated/postgres/rowcrypt'
import { applyPostgresMigrations, applySqliteMigrations } from '../../prisma/migrate'

export const DATABASES = ['sqlite', 'postgres'] as const
export type DatabaseKind = (typeof DATABASES)[number]

/** The PostgreSQL server tests use; override with ROWCRYPT_TEST_PG_URL. */
export const PG_URL = process.env.ROWCRYPT_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test'

/** Both generated clients have the same models; tests use the SQLite client's types for both. */
export type TestClient = SqliteClient
export const manifest = sqliteManifest

export interface TestDatabase {
  kind: DatabaseKind
  prisma: TestClient
  manifest: typeof sqliteManifest
  /** Every SQL statement the base client has sent, in order (Prisma's query log). */
  queries: string[]
  /** Runs raw SQL outside Prisma and returns rows (for at-rest checks and tampering). */
  raw<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>
  close(): Promise<void>
}

let counter = 0

/** Creates a fresh, migrated database of `kind` named after `label`. */
export async function openDatabase(kind: DatabaseKind, label: string, clientOptions: Record<string, unknown> = {}): Promise<TestDatabase> {
  const name = `rc_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${process.pid}_${++counter}`
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'rowcrypt-'))
    const file = join(dir, `${name}.db`)
    const db = new Database(file)
    applySqliteMigrations(db)
    const prisma = new SqliteClient({ adapter: new PrismaBetterSqlite3({ url: `file:${file}` }), log: [{ emit: 'event', level: 'query' }], ...clientOptions })
    const queries: string[] = []
    prisma.$on('query', (e) => queries.push(e.query))
    return {
      kind,
      prisma,
      queries,
      manifest: sqliteManifest,
      raw: async (sql, params = []) => {
        const stmt = db.prepare(sql.replace(/\$\d+/g, '?'))
        return (stmt.reader ? stmt.all(...params) : (stmt.run(...params), [])) as never
      },
      close: async () => {
        await prisma.$disconnect()
        db.close()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  }
  const admin = new Client({ connectionString: PG_URL })
  try {
    await admin.connect()
  } catch (cause) {
    throw new Error(`PostgreSQL is not reachable at ${PG_URL}; start it or set ROWCRYPT_TEST_PG_URL`, { cause })
  }
  await applyPostgresMigrations(admin, name)
  const pg = new PostgresClient({ adapter: new PrismaPg({ connectionString: PG_URL }, { schema: name }), log: [{ emit: 'event', level: 'query' }], ...clientOptions })
  const queries: string[] = []
  pg.$on('query', (e) => queries.push(e.query))
  const prisma = pg as unknown as TestClient
  return {
    kind,
    prisma,
    queries,
    manifest: postgresManifest as unknown as typeof sqliteManifest,
    raw: async (sql, params = []) => (await admin.query(sql, params)).rows,
    close: async () => {
      await prisma.$disconnect()
      await admin.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`)
      await admin.end()
    },
  }
}
