// The bench's database: its own PostgreSQL schema, created and migrated with pg from
// bench/prisma/migrations, and dropped at the end. One Prisma client serves both variants: plain
// Prisma is the base client, rowcrypt is the same client extended (same pool, same table).
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Client } from 'pg'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient } from './generated/client/client'
import { manifest } from './generated/rowcrypt'
import { LocalKeyProvider, rlsPolicySql, rowcrypt, withRlsPinning } from '../src'
import type { KeyProvider, RlsOptions, RowcryptObserver } from '../src'
import { extendPfe, pfeBaseClient, type PfeBaseClient, type PfeClient } from './pfe'

/** The PostgreSQL server the bench uses; ROWCRYPT_BENCH_PG_URL (or the tests' ROWCRYPT_TEST_PG_URL) overrides it. */
export const PG_URL = process.env.ROWCRYPT_BENCH_PG_URL ?? process.env.ROWCRYPT_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test'

/** The four encrypted fields of the bench model. */
export const ENCRYPTED_FIELDS = ['email', 'name', 'ssn', 'notes'] as const

/** A fixed development master key: the bench measures speed, not secrecy. */
export const BENCH_MASTER_KEY = Buffer.alloc(32, 7).toString('base64')

export function localKeyProvider(): LocalKeyProvider {
  return new LocalKeyProvider({ keys: { v1: BENCH_MASTER_KEY }, activeVersion: 'v1' })
}

/** The scoped model of the bench, as rowcrypt's `models` option (also the source of the RLS policies). */
const MODELS = { Customer: { fields: [...ENCRYPTED_FIELDS] } }

/**
 * The rowcrypt-extended client of the bench (the type of every rowcrypt variant). `rls` for the RLS
 * variants, on a client connected as the restricted role (`BenchDatabase.rlsClient()`).
 */
export function extend(base: PrismaClient, keyProvider: KeyProvider, options: { observers?: RowcryptObserver[]; rls?: true | RlsOptions } = {}) {
  const { observers, rls } = options
  return base.$extends(
    rowcrypt({
      schema: manifest,
      keyProvider,
      models: MODELS,
      ...(observers !== undefined && observers.length > 0 ? { observers } : {}),
      ...(rls !== undefined ? { rls } : {}),
    }),
  )
}

export type RowcryptClient = ReturnType<typeof extend>

/** The base client behind a query extension that does nothing (`query(args)`): the cost of the mechanism. */
export function extendNoop(base: PrismaClient) {
  return base.$extends({
    name: 'bench-noop',
    query: {
      $allModels: {
        async $allOperations({ args, query }) {
          return query(args)
        },
      },
    },
  })
}

export type NoopClient = ReturnType<typeof extendNoop>
export type { PrismaClient }

export interface BenchDatabase {
  /** The PostgreSQL schema holding the bench table. */
  schema: string
  /** Plain Prisma 7 (driver adapter pg), no extension. */
  base: PrismaClient
  /** Raw SQL outside Prisma (cleanup between repetitions, at-rest checks). */
  raw<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>
  /** Deletes every row of one tenant (untimed cleanup). */
  clearTenant(tenantId: string): Promise<void>
  /** VACUUM ANALYZE of the bench table (untimed, between rounds). */
  vacuum(): Promise<void>
  serverVersion: string
  /**
   * A second Prisma client on the same table, connected as `RLS_ROLE` (no SUPERUSER, no
   * BYPASSRLS) after rowcrypt's policies (`rlsPolicySql`) are applied to the table: what an
   * application with `rls: true` runs as. Made on first use (the policies bind no other variant:
   * `base` connects as the superuser, which PostgreSQL exempts from them). `pinning: 'adapter'`: its
   * driver adapter wrapped with `withRlsPinning` (a client and pool of its own).
   */
  rlsClient(pinning?: 'transaction' | 'adapter'): Promise<PrismaClient>
  /**
   * prisma-field-encryption's client on the same table (bench/pfe.ts): its own generated client
   * (prisma-client-js), connected like `base`, extended with prisma-field-encryption. Made on first use.
   */
  pfeClient(): PfeClient
  close(): Promise<void>
}

/** The restricted login role of the RLS variant (created when missing; password = name). */
export const RLS_ROLE = 'rowcrypt_bench_app'

let counter = 0

/** Creates the bench schema, applies the bench migrations and connects Prisma to it. */
export async function openBenchDatabase(label = 'bench'): Promise<BenchDatabase> {
  const schema = `rc_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${process.pid}_${++counter}`
  const admin = new Client({ connectionString: PG_URL })
  try {
    await admin.connect()
  } catch (cause) {
    throw new Error(`PostgreSQL is not reachable at ${PG_URL}; start it or set ROWCRYPT_BENCH_PG_URL`, { cause })
  }
  const q = `"${schema.replace(/"/g, '""')}"`
  await admin.query(`DROP SCHEMA IF EXISTS ${q} CASCADE`)
  await admin.query(`CREATE SCHEMA ${q}`)
  await admin.query(`SET search_path TO ${q}`)
  // Autovacuum is off for the bench table: the bench vacuums between rounds, untimed, so a vacuum
  // never lands inside one variant's sample.
  const dir = join(__dirname, 'prisma', 'migrations')
  for (const name of readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()) {
    await admin.query('BEGIN')
    try {
      await admin.query(readFileSync(join(dir, name, 'migration.sql'), 'utf8'))
      await admin.query('COMMIT')
    } catch (e) {
      await admin.query('ROLLBACK')
      throw e
    }
  }
  await admin.query(`ALTER TABLE ${q}."Customer" SET (autovacuum_enabled = false, toast.autovacuum_enabled = false)`)
  const serverVersion = String((await admin.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? 'unknown')
  const base = new PrismaClient({ adapter: new PrismaPg({ connectionString: PG_URL }, { schema }) })
  await base.$connect()
  const rls = new Map<'transaction' | 'adapter', PrismaClient>()
  let policies: Promise<void> | undefined
  let pfe: { base: PfeBaseClient; client: PfeClient } | undefined
  return {
    schema,
    base,
    serverVersion,
    rlsClient: async (pinning = 'transaction') => {
      const known = rls.get(pinning)
      if (known !== undefined) return known
      await (policies ??= (async () => {
        await ensureRestrictedRole(admin)
        await admin.query(rlsPolicySql({ schema: manifest, models: MODELS, rls: true }, { dbSchema: schema }))
        await admin.query(`GRANT USAGE ON SCHEMA ${q} TO ${RLS_ROLE}; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${q} TO ${RLS_ROLE}`)
      })())
      const url = new URL(PG_URL)
      url.username = RLS_ROLE
      url.password = RLS_ROLE
      const plain = new PrismaPg({ connectionString: url.toString() }, { schema })
      const client = new PrismaClient({ adapter: pinning === 'adapter' ? withRlsPinning(plain) : plain })
      await client.$connect()
      rls.set(pinning, client)
      return client
    },
    pfeClient: () => {
      if (pfe === undefined) {
        const pfeBase = pfeBaseClient(PG_URL, schema)
        pfe = { base: pfeBase, client: extendPfe(pfeBase) }
      }
      return pfe.client
    },
    raw: async (sql, params = []) => (await admin.query(sql, params)).rows,
    clearTenant: async (tenantId) => {
      await admin.query(`DELETE FROM ${q}."Customer" WHERE "tenantId" = $1`, [tenantId])
    },
    vacuum: async () => {
      await admin.query(`VACUUM ANALYZE ${q}."Customer"`)
    },
    close: async () => {
      await base.$disconnect()
      for (const client of rls.values()) await client.$disconnect()
      await pfe?.base.$disconnect()
      await admin.query(`DROP SCHEMA IF EXISTS ${q} CASCADE`)
      await admin.end()
    },
  }
}

/** Creates `RLS_ROLE` once and checks that row-level security binds it. */
async function ensureRestrictedRole(admin: Client): Promise<void> {
  try {
    await admin.query(
      `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${RLS_ROLE}') THEN CREATE ROLE ${RLS_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '${RLS_ROLE}'; END IF; END $$`,
    )
  } catch {
    // Another bench process created it between the check and the CREATE; checked below.
  }
  const { rows } = await admin.query<{ rolsuper: boolean; rolbypassrls: boolean }>('SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1', [RLS_ROLE])
  if (rows[0] === undefined || rows[0].rolsuper || rows[0].rolbypassrls) throw new Error(`role ${RLS_ROLE} must exist without SUPERUSER and BYPASSRLS`)
}
