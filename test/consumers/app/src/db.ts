// src/db.ts: the one extended client the application uses.
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { LocalKeyProvider, defineModels, rowcrypt } from 'rowcrypt'
import { PrismaClient } from './generated/prisma/client.js'
import { manifest } from './generated/rowcrypt/index.js'

// A 256-bit master key from `npx rowcrypt keygen`. Production keys belong in a KMS.
export const keyProvider = new LocalKeyProvider({ keys: { v1: process.env.ROWCRYPT_KEY_V1! }, activeVersion: 'v1' })

// The tenant-scoped models and the fields rowcrypt encrypts, checked against the schema.
export const models = defineModels(manifest, {
  User: { fields: ['email', 'ssn', 'prefs', 'avatar'] },
})

const adapter = new PrismaBetterSqlite3({ url: process.env.DATABASE_URL ?? 'file:./dev.db' })
// rowcrypt leaves its own columns out of results; this omit tells TypeScript so.
const base = new PrismaClient({ adapter, omit: { user: { wrappedDek: true, keyVersion: true, tenantId: true } } })

export const prisma = base.$extends(rowcrypt({ schema: manifest, keyProvider, models }))
