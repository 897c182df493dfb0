// Applies the committed migrations without Prisma's native schema engine (unavailable offline).
// Records them in `_prisma_migrations` as `prisma migrate` does, so a real `prisma migrate deploy`
// later accepts the history. Development and test tool; not part of the library.
import { createHash, randomUUID } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type Database from 'better-sqlite3'
import type { Client } from 'pg'
import type { Connection } from 'mariadb'

function migrations(db: 'sqlite' | 'postgres' | 'mysql'): Array<{ name: string; sql: string; checksum: string }> {
  const dir = join(__dirname, db, 'migrations')
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name, 'migration.sql'), 'utf8')
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') }
    })
}

/** Applies pending migrations to an open better-sqlite3 database. */
export function applySqliteMigrations(db: Database.Database): string[] {
  db.exec(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id" TEXT PRIMARY KEY NOT NULL, "checksum" TEXT NOT NULL, "finished_at" DATETIME,
    "migration_name" TEXT NOT NULL, "logs" TEXT, "rolled_back_at" DATETIME,
    "started_at" DATETIME NOT NULL DEFAULT current_timestamp, "applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0)`)
  const done = new Set((db.prepare('SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL').all() as Array<{ migration_name: string }>).map((r) => r.migration_name))
  const applied: string[] = []
  for (const m of migrations('sqlite')) {
    if (done.has(m.name)) continue
    // Foreign keys off before BEGIN: inside a transaction SQLite ignores the pragma.
    db.pragma('foreign_keys = OFF')
    db.transaction(() => {
      db.exec(m.sql)
      const broken = db.pragma('foreign_key_check') as unknown[]
      if (broken.length > 0) throw new Error(`migration ${m.name} breaks foreign keys`)
      db.prepare(`INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count) VALUES (?, ?, current_timestamp, ?, 1)`).run(randomUUID(), m.checksum, m.name)
    })()
    db.pragma('foreign_keys = ON')
    applied.push(m.name)
  }
  return applied
}

/** Applies pending migrations to a PostgreSQL schema through a connected `pg` client. */
export async function applyPostgresMigrations(client: Client, schema: string): Promise<string[]> {
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${q(schema)}`)
  await client.query(`SET search_path TO ${q(schema)}`)
  await client.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id" VARCHAR(36) PRIMARY KEY NOT NULL, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ,
    "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0)`)
  const { rows } = await client.query<{ migration_name: string }>('SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL')
  const done = new Set(rows.map((r) => r.migration_name))
  const applied: string[] = []
  for (const m of migrations('postgres')) {
    if (done.has(m.name)) continue
    await client.query('BEGIN')
    try {
      await client.query(m.sql)
      await client.query(`INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, applied_steps_count) VALUES ($1, $2, now(), $3, 1)`, [randomUUID(), m.checksum, m.name])
      await client.query('COMMIT')
    } catch (e) {
      await client.query('ROLLBACK')
      throw e
    }
    applied.push(m.name)
  }
  return applied
}

/** Applies pending migrations to a MySQL/MariaDB database through a `mariadb` connection. */
export async function applyMysqlMigrations(conn: Connection, database: string): Promise<string[]> {
  const q = (s: string) => `\`${s.replace(/`/g, '``')}\``
  await conn.query(`CREATE DATABASE IF NOT EXISTS ${q(database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  await conn.query(`USE ${q(database)}`)
  await conn.query(`CREATE TABLE IF NOT EXISTS \`_prisma_migrations\` (
    \`id\` VARCHAR(36) PRIMARY KEY NOT NULL, \`checksum\` VARCHAR(64) NOT NULL, \`finished_at\` DATETIME(3) NULL,
    \`migration_name\` VARCHAR(255) NOT NULL, \`logs\` TEXT NULL, \`rolled_back_at\` DATETIME(3) NULL,
    \`started_at\` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), \`applied_steps_count\` INTEGER UNSIGNED NOT NULL DEFAULT 0
  ) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  const rows = (await conn.query('SELECT migration_name FROM `_prisma_migrations` WHERE finished_at IS NOT NULL')) as Array<{ migration_name: string }>
  const done = new Set(rows.map((r) => r.migration_name))
  const applied: string[] = []
  for (const m of migrations('mysql')) {
    if (done.has(m.name)) continue
    // MySQL commits DDL implicitly, so a migration is not atomic here (as with `prisma migrate`).
    for (const statement of splitStatements(m.sql)) await conn.query(statement)
    await conn.query('INSERT INTO `_prisma_migrations` (id, checksum, finished_at, migration_name, applied_steps_count) VALUES (?, ?, CURRENT_TIMESTAMP(3), ?, 1)', [randomUUID(), m.checksum, m.name])
    applied.push(m.name)
  }
  return applied
}

// Prisma's migration files hold one statement per `;`-terminated block and no procedures.
function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter((s) => s.length > 0)
}
