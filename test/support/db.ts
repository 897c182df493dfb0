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
import { PrismaMariaDb } from '@prisma/adapter-mariadb'
import * as mariadb from 'mariadb'
import { PrismaClient as SqliteClient } from '../../generated/sqlite/client/client'
import { PrismaClient as PostgresClient } from '../../generated/postgres/client/client'
import { PrismaClient as MysqlClient } from '../../generated/mysql/client/client'
import { manifest as mysqlManifest } from '../../generated/mysql/rowcrypt'
import { manifest as sqliteManifest } from '../../generated/sqlite/rowcrypt'
import { manifest as postgresManifest } from '../../generated/postgres/rowcrypt'
import { applyMysqlMigrations, applyPostgresMigrations, applySqliteMigrations } from '../../prisma/migrate'
import { rlsPolicySql } from '../../src/prisma/rls'
import { withRlsPinning } from '../../src/prisma/rls-pinning'

export const DATABASES = ['sqlite', 'postgres', 'mysql', 'postgres-rls'] as const
/** `postgres-rls`: PostgreSQL with rowcrypt's RLS policies applied, reached as {@link RLS_ROLE}. */
export type DatabaseKind = (typeof DATABASES)[number] | 'postgres-rls'

/** True for both PostgreSQL kinds (the same SQL dialect and Prisma features). */
export const isPostgres = (kind: DatabaseKind): boolean => kind === 'postgres' || kind === 'postgres-rls'

/**
 * How a `postgres-rls` client pins the tenant: `adapter`, its driver adapter wrapped with
 * `withRlsPinning` and `rls: { pinning: 'adapter' }` (what openDatabase gives by default), or
 * `transaction`, a plain adapter and `rls: true`.
 */
export type RlsPinningMode = 'adapter' | 'transaction'

/** The role `postgres-rls` databases are reached through: no superuser, no BYPASSRLS. */
export const RLS_ROLE = 'rowcrypt_app'
// The tenant columns of the scoped models of test/support/setup.ts, for the policies.
const RLS_MODELS = { User: {}, Post: {}, Document: { columns: { tenantId: 'orgId' } }, Customer: {}, Invoice: {} }

/** The PostgreSQL server tests use; override with ROWCRYPT_TEST_PG_URL. */
export const PG_URL = process.env.ROWCRYPT_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test'
/** The MariaDB/MySQL server tests use; override with ROWCRYPT_TEST_MYSQL_URL (mysql://user:password@host:port). */
export const MYSQL_URL = process.env.ROWCRYPT_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306'

/** Both generated clients have the same models; tests use the SQLite client's types for both. */
export type TestClient = SqliteClient
export const manifest = sqliteManifest

export interface TestDatabase {
  kind: DatabaseKind
  prisma: TestClient
  manifest: typeof sqliteManifest
  /** For `postgres-rls`: how the client pins the tenant (see `rlsOf` in setup.ts). */
  rlsPinning?: RlsPinningMode
  /** A table name quoted (and schema-qualified) for raw SQL sent through Prisma itself. */
  table(name: string): string
  /** Every SQL statement the base client has sent, in order (Prisma's query log). */
  queries: string[]
  /** Runs raw SQL outside Prisma and returns rows (for at-rest checks and tampering). */
  raw<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>
  close(): Promise<void>
}

let counter = 0

/** Creates a fresh, migrated database of `kind` named after `label`. */
export async function openDatabase(kind: DatabaseKind, label: string, clientOptions: Record<string, unknown> = {}, rlsPinning: RlsPinningMode = 'adapter'): Promise<TestDatabase> {
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
      table: (t) => `"${t}"`,
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
  if (kind === 'mysql') return openMysql(name, clientOptions)
  const admin = new Client({ connectionString: PG_URL })
  try {
    await admin.connect()
  } catch (cause) {
    throw new Error(`PostgreSQL is not reachable at ${PG_URL}; start it or set ROWCRYPT_TEST_PG_URL`, { cause })
  }
  await applyPostgresMigrations(admin, name)
  const rls = kind === 'postgres-rls'
  if (rls) await applyRls(admin, name)
  const url = rls ? roleUrl(RLS_ROLE) : PG_URL
  const plain = new PrismaPg({ connectionString: url }, { schema: name })
  const adapter = rls && rlsPinning === 'adapter' ? withRlsPinning(plain) : plain
  const pg = new PostgresClient({ adapter, log: [{ emit: 'event', level: 'query' }], ...clientOptions })
  const queries: string[] = []
  pg.$on('query', (e) => queries.push(e.query))
  const prisma = pg as unknown as TestClient
  return {
    kind,
    ...(rls ? { rlsPinning } : {}),
    prisma,
    queries,
    table: (t) => `"${name}"."${t}"`,
    manifest: postgresManifest as unknown as typeof sqliteManifest,
    raw: async (sql, params = []) => (await admin.query(sql, params)).rows,
    close: async () => {
      await prisma.$disconnect()
      await admin.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`)
      await admin.end()
    },
  }
}

/** The policies of `rowcrypt rls sql` on `schema`, and the restricted role's grants on it. */
export async function applyRls(admin: Client, schema: string): Promise<void> {
  await ensureRole(admin, RLS_ROLE)
  await admin.query(rlsPolicySql({ schema: postgresManifest, models: RLS_MODELS, rls: true }, { dbSchema: schema }))
  const s = `"${schema}"`
  await admin.query(
    `GRANT USAGE ON SCHEMA ${s} TO ${RLS_ROLE}; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${s} TO ${RLS_ROLE}; GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${s} TO ${RLS_ROLE}`,
  )
}

/** Creates the login role once (test workers race for it) and checks that RLS applies to it. */
async function ensureRole(admin: Client, role: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await admin.query(`DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${role}') THEN CREATE ROLE ${role} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '${role}'; END IF; END $$`)
      break
    } catch (e) {
      // Another worker created it between the check and the CREATE.
      if (attempt >= 3) throw e
    }
  }
  const { rows } = await admin.query<{ rolsuper: boolean; rolbypassrls: boolean }>('SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1', [role])
  if (rows[0] === undefined || rows[0].rolsuper || rows[0].rolbypassrls) throw new Error(`role ${role} must exist without SUPERUSER and BYPASSRLS`)
}

/** PG_URL with another user (password = user name, for servers that do not trust local users). */
export function roleUrl(role: string): string {
  const url = new URL(PG_URL)
  url.username = role
  url.password = role
  return url.toString()
}

async function openMysql(name: string, clientOptions: Record<string, unknown>): Promise<TestDatabase> {
  const url = new URL(MYSQL_URL)
  const config = { host: url.hostname, port: Number(url.port || 3306), user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) }
  let admin: mariadb.Connection
  try {
    admin = await mariadb.createConnection({ ...config, connectTimeout: 5000 })
  } catch (cause) {
    throw new Error(`MariaDB/MySQL is not reachable at ${url.host}; start it or set ROWCRYPT_TEST_MYSQL_URL`, { cause })
  }
  await applyMysqlMigrations(admin, name)
  // Tests write portable SQL with "double-quoted" identifiers and $1 placeholders.
  await admin.query("SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',ANSI_QUOTES')")
  const client = new MysqlClient({
    adapter: new PrismaMariaDb({ ...config, database: name, connectionLimit: 8, acquireTimeout: 60_000 }),
    log: [{ emit: 'event', level: 'query' }],
    ...clientOptions,
  })
  const queries: string[] = []
  client.$on('query', (e) => queries.push(e.query))
  return {
    kind: 'mysql',
    prisma: client as unknown as TestClient,
    queries,
    table: (t) => `\`${t}\``,
    manifest: mysqlManifest as unknown as typeof sqliteManifest,
    raw: async (sql, params = []) => {
      const rows = (await admin.query({ sql: sql.replace(/\$\d+/g, '?'), bigIntAsNumber: true }, params)) as unknown
      return (Array.isArray(rows) ? rows : []) as never
    },
    close: async () => {
      await client.$disconnect()
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``)
      await admin.end()
    },
  }
}
