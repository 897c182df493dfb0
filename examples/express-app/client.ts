// The example's Prisma client: the SQLite (or PostgreSQL) test schema with User's email, ssn and
// notes encrypted, and the observers (metrics, audit trail) of the caller.
import { rowcrypt, type KeyProvider, type RowcryptObserver } from 'rowcrypt'
import type { PrismaClient } from '../../generated/sqlite/client/client'
import type { manifest as sqliteManifest } from '../../generated/sqlite/rowcrypt'

export interface ClientOptions {
  /** A generated client of the test schema (prisma/models.prisma), on any database. */
  base: PrismaClient
  /** The manifest of that client's schema. */
  manifest: typeof sqliteManifest
  keyProvider: KeyProvider
  observers: readonly RowcryptObserver[]
  /** PostgreSQL row-level security behind the tenant scope (docs/rls.md). Off by default. */
  rls?: boolean
}

export function createClient({ base, manifest, keyProvider, observers, rls = false }: ClientOptions) {
  return base.$extends(
    rowcrypt({
      schema: manifest,
      keyProvider,
      models: { User: { fields: ['email', 'ssn', 'notes'] } },
      observers,
      rls,
    }),
  )
}

export type ExampleClient = ReturnType<typeof createClient>
