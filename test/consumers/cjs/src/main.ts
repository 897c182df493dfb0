// A CommonJS application: rowcrypt on a Prisma 7 client generated with moduleFormat = "cjs".
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { LocalKeyProvider, rowcrypt, withTenant } from 'rowcrypt'
import { PrismaClient } from './generated/prisma/client'
import { manifest } from './generated/rowcrypt'

async function main(): Promise<void> {
  const prisma = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: process.env.DATABASE_URL ?? 'file:./dev.db' }) }).$extends(
    rowcrypt({
      schema: manifest,
      keyProvider: new LocalKeyProvider({ keys: { v1: process.env.ROWCRYPT_KEY_V1! }, activeVersion: 'v1' }),
      models: { Customer: { fields: ['email'] } },
    }),
  )
  try {
    const created = await withTenant('shop_a', () => prisma.customer.create({ data: { email: 'ada@example.com', plan: 'pro' } }))
    const found = await withTenant('shop_a', () => prisma.customer.findUnique({ where: { id: created.id } }))
    const fromOtherTenant = await withTenant('shop_b', () => prisma.customer.findUnique({ where: { id: created.id } }))
    console.log(JSON.stringify({ id: created.id, email: found?.email, plan: found?.plan, fromOtherTenant }))
  } finally {
    await prisma.$disconnect()
  }
}

main().catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
