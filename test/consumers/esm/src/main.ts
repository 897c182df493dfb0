// An ES module application: rowcrypt on Prisma 7's default (ESM) client.
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { LocalKeyProvider, rowcrypt, withTenant } from 'rowcrypt'
import { manifest } from '../generated/rowcrypt/index.js'
import { PrismaClient } from './generated/prisma/client.js'

const adapter = new PrismaBetterSqlite3({ url: process.env.DATABASE_URL ?? 'file:./dev.db' })
const prisma = new PrismaClient({ adapter }).$extends(
  rowcrypt({
    schema: manifest,
    keyProvider: new LocalKeyProvider({ keys: { v1: process.env.ROWCRYPT_KEY_V1! }, activeVersion: 'v1' }),
    models: { Patient: { fields: ['diagnosis'] } },
  }),
)

const created = await withTenant('clinic_a', () => prisma.patient.create({ data: { name: 'Ada', diagnosis: 'hay fever' } }))
const own = await withTenant('clinic_a', () => prisma.patient.findMany({ select: { id: true, diagnosis: true } }))
const other = await withTenant('clinic_b', () => prisma.patient.findMany())
console.log(JSON.stringify({ id: created.id, diagnosis: created.diagnosis, own, other }))
await prisma.$disconnect()
