// The fuzzer's two databases per kind: D1 (tenants A and B and the shared rows) and D2 (the same
// without B's rows), each with a plain Prisma client, a rowcrypt-extended one, and raw access for
// snapshots (every column of every table, bytes as hex) and for restoring a saved state.
//
// PostgreSQL: two schemas of the test database; MariaDB: two databases; SQLite: two files. Each has
// a restore point beside it (a schema / database / attached file holding plain copies of the
// tables), written once after seeding: see run.ts for how calls are isolated from each other.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { Client } from 'pg'
import * as mariadb from 'mariadb'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaMariaDb } from '@prisma/adapter-mariadb'
import { PrismaClient as SqliteClient } from '../../generated/fuzz/sqlite/client/client'
import { PrismaClient as PostgresClient } from '../../generated/fuzz/postgres/client/client'
import { PrismaClient as MysqlClient } from '../../generated/fuzz/mysql/client/client'
import { manifest as sqliteManifest } from '../../generated/fuzz/sqlite/rowcrypt'
import { manifest as postgresManifest } from '../../generated/fuzz/postgres/rowcrypt'
import { manifest as mysqlManifest } from '../../generated/fuzz/mysql/rowcrypt'
import { rowcrypt, type Manifest } from '../../src'
import { MYSQL_URL, PG_URL } from '../support/db'
import { testKeyProvider } from '../support/setup'
import { migrateMysql, migratePostgres, migrateSqlite, type FuzzKind } from './migrate'
import { buildSchema, JOIN_TABLES, rowcryptModels, type Schema } from './schema'

// The fuzzer drives clients dynamically (model and operation names come from the generator).
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export type AnyClient = any

/** A column value as compared: bytes as `hex:…`, dates as `date:<ISO>`, 64-bit integers as `big:…`. */
export type Canon = string | number | boolean | null
export type Row = Record<string, Canon>

/** Every row of every table (canonical values) and the next value of each autoincrement counter. */
export interface RawState {
  tables: Record<string, Row[]>
  next: Record<string, number>
}

export interface Side {
  readonly label: 'D1' | 'D2'
  /** Plain Prisma. */
  readonly base: AnyClient
  /** `base` with rowcrypt, configured like test/support/setup.ts does (LocalKeyProvider, the manifest). */
  readonly extended: AnyClient
  /**
   * A new rowcrypt-extended client (rowcrypt remembers the wrapped keys of rows it read or wrote:
   * after a restore put rows back behind its back, the two sides' memories can differ).
   */
  reextend(): void
  snapshot(): Promise<RawState>
  /** Puts `tables` back as they were at the last `savePoint()` (foreign-key checks off meanwhile). */
  restore(tables: readonly string[]): Promise<void>
  savePoint(): Promise<void>
  /** Raw statements, foreign-key checks on, in order, in one transaction. `T("User")` a table, `C("tenantId")` a column. */
  exec(statements: Array<(T: (table: string) => string, C: (column: string) => string) => string>): Promise<void>
  setNext(table: string, next: number): Promise<void>
}

export interface FuzzDatabases {
  readonly kind: FuzzKind
  readonly manifest: Manifest
  readonly schema: Schema
  readonly tables: readonly string[]
  readonly d1: Side
  readonly d2: Side
  /** Makes `to` a raw copy of `from`: every row, byte for byte, and the autoincrement counters. */
  copy(from: Side, to: Side): Promise<void>
  /** Inserts into D2 copies of rows of D1's saved state (foreign-key checks off), see {@link CopySpec}. */
  copyRowsToD2(specs: readonly CopySpec[]): Promise<void>
  close(): Promise<void>
}

export function canon(v: unknown): Canon {
  if (v === null || v === undefined) return null
  if (v instanceof Uint8Array) return `hex:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`
  if (v instanceof Date) return `date:${Number.isNaN(v.getTime()) ? 'invalid' : v.toISOString()}`
  if (typeof v === 'bigint') return `big:${v.toString()}`
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v
  return JSON.stringify(v)
}

/** Rows of one table to copy: its columns, literal values for some of them, and which rows (SQL over D1's saved tables). */
export interface CopySpec {
  readonly table: string
  readonly columns: readonly string[]
  readonly set: Readonly<Record<string, string>>
  readonly where: (q: (column: string) => string, src: (table: string) => string) => string
}

function copySql(x: CopySpec, dst: string, src: (table: string) => string, q: (c: string) => string): string {
  const exprs = x.columns.map((c) => (c in x.set ? `'${x.set[c]!.replace(/'/g, "''")}'` : q(c)))
  return `INSERT INTO ${dst} (${x.columns.map(q).join(', ')}) SELECT ${exprs.join(', ')} FROM ${src(x.table)} WHERE ${x.where(q, src)}`
}

/** The rowcrypt client of one side, replaceable. */
function extendedOf(base: AnyClient, extend: Extend): { client: AnyClient; reextend(): void } {
  const holder = {
    client: extend(base),
    reextend: () => {
      holder.client = extend(base)
    },
  }
  return holder
}

function canonRow(r: Record<string, unknown>): Row {
  const out: Row = {}
  for (const k of Object.keys(r).sort()) out[k] = canon(r[k])
  return out
}

let counter = 0

/** Opens and migrates an empty D1 and D2 of `kind`. Fails loudly when the server is missing. */
export async function openFuzzDatabases(kind: FuzzKind, scopeOnly?: boolean): Promise<FuzzDatabases> {
  const manifest = (kind === 'sqlite' ? sqliteManifest : kind === 'postgres' ? postgresManifest : mysqlManifest) as unknown as Manifest
  const schema = buildSchema(manifest, scopeOnly)
  const tables = [...schema.keys(), ...JOIN_TABLES.map((j) => j.table)]
  const counters = [...schema.values()].filter((m) => m.scalars.some((s) => s.autoincrement)).map((m) => m.name)
  const extend = (base: AnyClient): AnyClient =>
    base.$extends(rowcrypt({ schema: manifest, keyProvider: testKeyProvider(), models: rowcryptModels(scopeOnly) as never, blindIndex: { keyVersion: 'v1' } }))
  const name = `rcfz_${process.pid}_${++counter}_${Date.now().toString(36)}`
  const make = { sqlite: openSqlite, postgres: openPostgres, mysql: openMysql }[kind]
  const opened = await make(name, tables, counters, extend)
  return { kind, manifest, schema, tables, ...opened }
}

type Opened = Pick<FuzzDatabases, 'd1' | 'd2' | 'copy' | 'copyRowsToD2' | 'close'>
type Extend = (base: AnyClient) => AnyClient

async function openSqlite(name: string, tables: readonly string[], counters: readonly string[], extend: Extend): Promise<Opened> {
  const dir = mkdtempSync(join(tmpdir(), 'rowcrypt-fuzz-'))
  const q = (t: string) => `"${t}"`
  const admins: Database.Database[] = []
  const side = (label: 'D1' | 'D2'): Side & { file: string; admin: Database.Database } => {
    const file = join(dir, `${name}_${label}.db`)
    const admin = new Database(file)
    admins.push(admin)
    // Throw-away test files: no fsync, write-ahead log (cheap restores between calls).
    admin.pragma('journal_mode = WAL')
    admin.pragma('synchronous = OFF')
    migrateSqlite(admin)
    admin.exec(`ATTACH DATABASE '${join(dir, `${name}_${label}_rp.db`)}' AS rp`)
    const base = new SqliteClient({ adapter: new PrismaBetterSqlite3({ url: `file:${file}` }) })
    const ext = extendedOf(base, extend)
    const withoutForeignKeys = (fn: () => void) => {
      admin.pragma('foreign_keys = OFF')
      try {
        admin.transaction(fn)()
      } finally {
        admin.pragma('foreign_keys = ON')
      }
    }
    return {
      label,
      file,
      admin,
      base,
      get extended() {
        return ext.client
      },
      reextend: () => ext.reextend(),
      snapshot: async () => {
        const state: RawState = { tables: {}, next: {} }
        for (const t of tables) state.tables[t] = (admin.prepare(`SELECT * FROM main.${q(t)}`).all() as Array<Record<string, unknown>>).map(canonRow)
        const seqs = new Map((admin.prepare('SELECT name, seq FROM main.sqlite_sequence').all() as Array<{ name: string; seq: number }>).map((r) => [r.name, Number(r.seq)]))
        for (const t of counters) state.next[t] = (seqs.get(t) ?? 0) + 1
        return state
      },
      savePoint: async () => {
        admin.transaction(() => {
          for (const t of tables) {
            admin.exec(`DROP TABLE IF EXISTS rp.${q(t)}`)
            admin.exec(`CREATE TABLE rp.${q(t)} AS SELECT * FROM main.${q(t)}`)
          }
        })()
      },
      restore: async (ts) =>
        withoutForeignKeys(() => {
          for (const t of ts) admin.exec(`DELETE FROM main.${q(t)}; INSERT INTO main.${q(t)} SELECT * FROM rp.${q(t)}`)
        }),
      exec: async (statements) => {
        admin.transaction(() => {
          for (const s of statements) admin.exec(s((t) => `main.${q(t)}`, q))
        })()
      },
      setNext: async (t, next) => {
        const n = admin.prepare('UPDATE main.sqlite_sequence SET seq = ? WHERE name = ?').run(next - 1, t).changes
        if (n === 0) admin.prepare('INSERT INTO main.sqlite_sequence (name, seq) VALUES (?, ?)').run(t, next - 1)
      },
    }
  }
  const d1 = side('D1')
  const d2 = side('D2')
  return {
    d1,
    d2,
    copy: async (from, to) => {
      const src = from === d1 ? d1 : d2
      const dst = to === d1 ? d1 : d2
      dst.admin.exec(`ATTACH DATABASE '${src.file}' AS src`)
      try {
        dst.admin.pragma('foreign_keys = OFF')
        dst.admin.transaction(() => {
          for (const t of tables) dst.admin.exec(`DELETE FROM main.${q(t)}; INSERT INTO main.${q(t)} SELECT * FROM src.${q(t)}`)
          dst.admin.exec('DELETE FROM main.sqlite_sequence; INSERT INTO main.sqlite_sequence SELECT * FROM src.sqlite_sequence')
        })()
      } finally {
        dst.admin.pragma('foreign_keys = ON')
        dst.admin.exec('DETACH DATABASE src')
      }
    },
    copyRowsToD2: async (specs) => {
      d2.admin.exec(`ATTACH DATABASE '${d1.file.replace(/\.db$/, '_rp.db')}' AS src`)
      try {
        d2.admin.pragma('foreign_keys = OFF')
        d2.admin.transaction(() => {
          for (const x of specs) d2.admin.prepare(copySql(x, `main.${q(x.table)}`, (t) => `src.${q(t)}`, q)).run()
        })()
      } finally {
        d2.admin.pragma('foreign_keys = ON')
        d2.admin.exec('DETACH DATABASE src')
      }
    },
    close: async () => {
      await Promise.allSettled([d1.base.$disconnect(), d2.base.$disconnect()])
      for (const a of admins) a.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

async function openPostgres(name: string, tables: readonly string[], counters: readonly string[], extend: Extend): Promise<Opened> {
  const admin = new Client({ connectionString: PG_URL })
  try {
    await admin.connect()
  } catch (cause) {
    throw new Error(`PostgreSQL is not reachable at ${PG_URL}; start it or set ROWCRYPT_TEST_PG_URL`, { cause })
  }
  const schemas: string[] = []
  const side = async (label: 'D1' | 'D2'): Promise<Side & { s: string }> => {
    const s = `${name}_${label.toLowerCase()}`
    const rp = `${s}_rp`
    schemas.push(s, rp)
    await migratePostgres(admin, s)
    await admin.query(`CREATE SCHEMA "${rp}"`)
    const T = (t: string) => `"${s}"."${t}"`
    const base = new PostgresClient({ adapter: new PrismaPg({ connectionString: PG_URL, max: 4 }, { schema: s }) })
    const ext = extendedOf(base, extend)
    return {
      label,
      s,
      base,
      get extended() {
        return ext.client
      },
      reextend: () => ext.reextend(),
      snapshot: async () => {
        const sql = [...tables.map((t) => `SELECT * FROM ${T(t)}`), counters.map((t) => `SELECT '${t}' AS t, last_value, is_called FROM "${s}"."${t}_id_seq"`).join(' UNION ALL ')].join(';\n')
        const results = (await admin.query(sql)) as unknown as Array<{ rows: Array<Record<string, unknown>> }>
        const state: RawState = { tables: {}, next: {} }
        tables.forEach((t, i) => (state.tables[t] = results[i]!.rows.map(canonRow)))
        for (const r of results[tables.length]!.rows) state.next[r.t as string] = Number(r.last_value) + (r.is_called ? 1 : 0)
        return state
      },
      savePoint: async () => {
        await admin.query(tables.map((t) => `DROP TABLE IF EXISTS "${rp}"."${t}"; CREATE TABLE "${rp}"."${t}" AS TABLE ${T(t)}`).join(';\n'))
      },
      restore: async (ts) => {
        if (ts.length === 0) return
        // session_replication_role = replica: no foreign-key triggers (the connection is a superuser's).
        await admin.query(['BEGIN', 'SET LOCAL session_replication_role = replica', ...ts.map((t) => `DELETE FROM ${T(t)}; INSERT INTO ${T(t)} SELECT * FROM "${rp}"."${t}"`), 'COMMIT'].join(';\n'))
      },
      exec: async (statements) => {
        await admin.query(['BEGIN', ...statements.map((f) => f(T, (c) => `"${c}"`)), 'COMMIT'].join(';\n'))
      },
      setNext: async (t, next) => {
        await admin.query(`SELECT setval('"${s}"."${t}_id_seq"', $1, false)`, [next])
      },
    }
  }
  const d1 = await side('D1')
  const d2 = await side('D2')
  return {
    d1,
    d2,
    copy: async (from, to) => {
      const src = (from === d1 ? d1 : d2).s
      const dst = (to === d1 ? d1 : d2).s
      await admin.query(
        ['BEGIN', 'SET LOCAL session_replication_role = replica', ...tables.map((t) => `DELETE FROM "${dst}"."${t}"; INSERT INTO "${dst}"."${t}" SELECT * FROM "${src}"."${t}"`), 'COMMIT'].join(';\n'),
      )
      const next = (await from.snapshot()).next
      for (const [t, n] of Object.entries(next)) await to.setNext(t, n)
    },
    copyRowsToD2: async (specs) => {
      const q = (x: string) => `"${x}"`
      await admin.query(['BEGIN', 'SET LOCAL session_replication_role = replica', ...specs.map((x) => copySql(x, `"${d2.s}"."${x.table}"`, (t) => `"${d1.s}_rp"."${t}"`, q)), 'COMMIT'].join(';\n'))
    },
    close: async () => {
      await Promise.allSettled([d1.base.$disconnect(), d2.base.$disconnect()])
      for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`)
      await admin.end()
    },
  }
}

async function openMysql(name: string, tables: readonly string[], counters: readonly string[], extend: Extend): Promise<Opened> {
  const url = new URL(MYSQL_URL)
  const config = { host: url.hostname, port: Number(url.port || 3306), user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) }
  let admin: mariadb.Connection
  try {
    admin = await mariadb.createConnection({ ...config, connectTimeout: 5000, multipleStatements: true })
  } catch (cause) {
    throw new Error(`MariaDB/MySQL is not reachable at ${url.host}; start it or set ROWCRYPT_TEST_MYSQL_URL`, { cause })
  }
  const databases: string[] = []
  const multi = async (statements: string[]): Promise<unknown[]> => {
    const r = (await admin.query(statements.join(';\n'))) as unknown
    return statements.length === 1 ? [r] : (r as unknown[])
  }
  const side = async (label: 'D1' | 'D2'): Promise<Side & { d: string }> => {
    const d = `${name}_${label.toLowerCase()}`
    const rp = `${d}_rp`
    databases.push(d, rp)
    await migrateMysql(admin, d)
    await admin.query(`CREATE DATABASE \`${rp}\``)
    const T = (t: string) => `\`${d}\`.\`${t}\``
    const base = new MysqlClient({ adapter: new PrismaMariaDb({ ...config, database: d, connectionLimit: 4, acquireTimeout: 20_000 }) })
    const ext = extendedOf(base, extend)
    return {
      label,
      d,
      base,
      get extended() {
        return ext.client
      },
      reextend: () => ext.reextend(),
      snapshot: async () => {
        const list = counters.map((t) => `'${t}'`).join(', ')
        const results = await multi([
          ...tables.map((t) => `SELECT * FROM ${T(t)}`),
          `SELECT TABLE_NAME AS t, AUTO_INCREMENT AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${d}' AND TABLE_NAME IN (${list})`,
        ])
        const state: RawState = { tables: {}, next: {} }
        tables.forEach((t, i) => (state.tables[t] = (results[i] as Array<Record<string, unknown>>).map(canonRow)))
        for (const r of results[tables.length] as Array<Record<string, unknown>>) state.next[r.t as string] = Number(r.n ?? 1)
        return state
      },
      savePoint: async () => {
        await multi(tables.flatMap((t) => [`DROP TABLE IF EXISTS \`${rp}\`.\`${t}\``, `CREATE TABLE \`${rp}\`.\`${t}\` AS SELECT * FROM ${T(t)}`]))
      },
      restore: async (ts) => {
        if (ts.length === 0) return
        await multi(['SET FOREIGN_KEY_CHECKS = 0', ...ts.flatMap((t) => [`DELETE FROM ${T(t)}`, `INSERT INTO ${T(t)} SELECT * FROM \`${rp}\`.\`${t}\``]), 'SET FOREIGN_KEY_CHECKS = 1'])
      },
      exec: async (statements) => {
        await multi(['START TRANSACTION', ...statements.map((f) => f(T, (c) => `\`${c}\``)), 'COMMIT'])
      },
      setNext: async (t, next) => {
        await admin.query(`ALTER TABLE ${T(t)} AUTO_INCREMENT = ${Number(next)}`)
      },
    }
  }
  const d1 = await side('D1')
  const d2 = await side('D2')
  return {
    d1,
    d2,
    copy: async (from, to) => {
      const src = (from === d1 ? d1 : d2).d
      const dst = (to === d1 ? d1 : d2).d
      await multi([
        'SET FOREIGN_KEY_CHECKS = 0',
        ...tables.flatMap((t) => [`DELETE FROM \`${dst}\`.\`${t}\``, `INSERT INTO \`${dst}\`.\`${t}\` SELECT * FROM \`${src}\`.\`${t}\``]),
        'SET FOREIGN_KEY_CHECKS = 1',
      ])
      const next = (await from.snapshot()).next
      for (const [t, n] of Object.entries(next)) await to.setNext(t, n)
    },
    copyRowsToD2: async (specs) => {
      const q = (x: string) => `\`${x}\``
      await multi(['SET FOREIGN_KEY_CHECKS = 0', ...specs.map((x) => copySql(x, `\`${d2.d}\`.\`${x.table}\``, (t) => `\`${d1.d}_rp\`.\`${t}\``, q)), 'SET FOREIGN_KEY_CHECKS = 1'])
    },
    close: async () => {
      await Promise.allSettled([d1.base.$disconnect(), d2.base.$disconnect()])
      for (const d of databases) await admin.query(`DROP DATABASE IF EXISTS \`${d}\``)
      await admin.end()
    },
  }
}
