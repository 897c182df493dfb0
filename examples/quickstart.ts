// `npm run demo`: rowcrypt on an embedded SQLite file with a freshly generated development key.
// Prints one row as the application sees it and as the database stores it.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { LocalKeyProvider, rowcrypt, withTenant } from 'rowcrypt'
import { PrismaClient } from '../generated/sqlite/client/client'
import { manifest } from '../generated/sqlite/rowcrypt'
import { applySqliteMigrations } from '../prisma/migrate'

async function main(): Promise<void> {
  const file = join(__dirname, 'quickstart.db')
  rmSync(file, { force: true })
  const sqlite = new Database(file)
  applySqliteMigrations(sqlite)

  // A development key made for this run. In production, keys live in a KMS or a secret store.
  const masterKey = process.env.ROWCRYPT_DEV_KEY ?? LocalKeyProvider.generateMasterKey()

  const prisma = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: `file:${file}` }) }).$extends(
    rowcrypt({
      schema: manifest,
      keyProvider: new LocalKeyProvider({ keys: { v1: masterKey }, activeVersion: 'v1' }),
      models: {
        User: { fields: ['email', 'ssn', 'notes', 'prefs'] }, // prefs is a Json column
        Post: { fields: ['title', 'body'] },
        Document: { fields: ['body'], columns: { tenantId: 'orgId' } },
      },
    }),
  )

  const created = await withTenant('tenant_a', () => prisma.user.create({ data: { name: 'Ada', email: 'ada@example.com', ssn: '123-45-6789', notes: 'prefers email', prefs: { theme: 'dark' } } }))

  const seen = await withTenant('tenant_a', () => prisma.user.findUnique({ where: { id: created.id }, select: { id: true, name: true, email: true, ssn: true, notes: true, prefs: true } }))
  console.log('As the application sees it (withTenant("tenant_a")):')
  console.log(seen)

  const stored = sqlite.prepare('SELECT * FROM "User" WHERE id = ?').get(created.id) as Record<string, unknown>
  console.log('\nAs the database stores it:')
  console.log({ ...stored, wrappedDek: `<${(stored.wrappedDek as Buffer).length} bytes>` })

  const other = await withTenant('tenant_b', () => prisma.user.findUnique({ where: { id: created.id } }))
  console.log('\nThe same id from tenant_b:', other)

  await prisma.$disconnect()
  sqlite.close()
}

main().catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
