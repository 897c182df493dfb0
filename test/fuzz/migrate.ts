// Applies the fuzzer's committed migrations (test/fuzz/prisma/<db>/migrations) the way
// prisma/migrate.ts applies the main schema's: without Prisma's native schema engine, recorded in
// `_prisma_migrations` with Prisma's columns. prisma/migrate.ts reads its own folder only, hence
// this small copy of its approach with the folder as a parameter.
import { createHash, randomUUID } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type Database from 'better-sqlite3'
import type { Client } from 'pg'
import type { Connection } from 'mariadb'

export type FuzzKind = 'sqlite' | 'postgres' | 'mysql'

export const FUZZ_PRISMA_DIR = join(__dirname, 'prisma')

function migrations(kind: FuzzKind): Array<{ name: string; sql: string; checksum: string }> {
  const dir = join(FUZZ_PRISMA_DIR, kind, 'migrations')
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name, 'migration.sql'), 'utf8')
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') }
    })
}

/** Applies the fuzz migrations to an open, empty better-sqlite3 database. */
export function migrateSqlite(db: Database.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id" TEXT PRIMARY KEY NOT NULL, "checksum" TEXT NOT NULL, "finished_at" DATETIME,
    "migration_name" TEXT NOT NULL, "logs" TEXT, "rolled_back_at" DATETIME,
    "started_at" DATETIME NOT NULL DEFAULT current_timestamp, "applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0)`)
  for (const m of migrations('sqlite')) {
    // Foreign keys off before BEGIN: inside a transaction SQLite ignores the pragma.
    db.pragma('foreign_keys = OFF')
    db.transaction(() => {
      db.exec(m.sql)
      if ((db.pragma('foreign_key_check') as unknown[]).length > 0) throw new Error(`migration ${m.name} breaks foreign keys`)
      db.prepare(`INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count) VALUES (?, ?, current_timestamp, ?, 1)`).run(randomUUID(), m.checksum, m.name)
    })()
    db.pragma('foreign_keys = ON')
  }
}

/** Creates PostgreSQL schema `schema` and applies the fuzz migrations in it. */
export async function migratePostgres(client: Client, schema: string): Promise<void> {
  const q = `"${schema.replace(/"/g, '""')}"`
  await client.query(`CREATE SCHEMA ${q}`)
  await client.query(`SET search_path TO ${q}`)
  await client.query(`CREATE TABLE "_prisma_migrations" (
    "id" VARCHAR(36) PRIMARY KEY NOT NULL, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ,
    "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0)`)
  for (const m of migrations('postgres')) {
    await client.query('BEGIN')
    try {
      await client.query(m.sql)
      await client.query(`INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, applied_steps_count) VALUES ($1, $2, now(), $3, 1)`, [randomUUID(), m.checksum, m.name])
      await client.query('COMMIT')
    } catch (e) {
      await client.query('ROLLBACK')
      throw e
    }
  }
  await client.query('SET search_path TO public')
}

/** Creates MySQL/MariaDB database `database` and applies the fuzz migrations in it. */
export async function migrateMysql(conn: Connection, database: string): Promise<void> {
  const q = `\`${database.replace(/`/g, '``')}\``
  await conn.query(`CREATE DATABASE ${q} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  await conn.query(`USE ${q}`)
  await conn.query(`CREATE TABLE \`_prisma_migrations\` (
    \`id\` VARCHAR(36) PRIMARY KEY NOT NULL, \`checksum\` VARCHAR(64) NOT NULL, \`finished_at\` DATETIME(3) NULL,
    \`migration_name\` VARCHAR(255) NOT NULL, \`logs\` TEXT NULL, \`rolled_back_at\` DATETIME(3) NULL,
    \`started_at\` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), \`applied_steps_count\` INTEGER UNSIGNED NOT NULL DEFAULT 0
  ) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  for (const m of migrations('mysql')) {
    // MySQL commits DDL implicitly, so a migration is not atomic here (as with `prisma migrate`).
    for (const statement of splitStatements(m.sql)) await conn.query(statement)
    await conn.query('INSERT INTO `_prisma_migrations` (id, checksum, finished_at, migration_name, applied_steps_count) VALUES (?, ?, CURRENT_TIMESTAMP(3), ?, 1)', [randomUUID(), m.checksum, m.name])
  }
}

// Prisma's migration files hold one statement per `;`-terminated block and no procedures.
function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter((s) => s.length > 0)
}
