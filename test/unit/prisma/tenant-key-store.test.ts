// PrismaTenantKeyStore's error handling, on a stand-in delegate (the database behaviour is covered
// in test/integration/tenant-key-store.test.ts).
import { PrismaTenantKeyStore } from '../../../src'

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p
  } catch (e) {
    return e as Error & { code?: string }
  }
  throw new Error('expected a rejection')
}

const wrappedKey = Uint8Array.from(Buffer.alloc(184, 0xab))

function clientWhoseCreateFails(error: unknown) {
  return {
    // The tenant-column collation check before first use: a PostgreSQL server without the table.
    $queryRawUnsafe: async (sql: string) => (sql.includes('version()') ? [{ v: 'PostgreSQL 16.4' }] : []),
    rowcryptTenantKey: {
      findMany: async () => [],
      findFirst: async () => null,
      create: async () => Promise.reject(error),
      updateMany: async () => ({ count: 0 }),
      upsert: async () => ({}),
    },
  }
}

describe('PrismaTenantKeyStore errors', () => {
  it('a failed insert never carries the rendered arguments (the wrapped tenant key) into the error', async () => {
    const rendered = `Invalid \`prisma.rowcryptTenantKey.create()\` invocation: { data: { wrappedKey: ${Buffer.from(wrappedKey).toString('base64')} ${Buffer.from(wrappedKey).toString('hex')} ${[...wrappedKey].join(', ')} } }`
    const store = new PrismaTenantKeyStore({ prisma: clientWhoseCreateFails(Object.assign(new Error(rendered), { name: 'PrismaClientValidationError' })) })
    const e = await rejection(store.putIfAbsent({ tenantId: 't', keyVersion: 'v1', kmsKeyId: 'arn', wrappedKey, createdAt: new Date(), shreddedAt: null }))
    expect(e.code).toBe('ERR_ROWCRYPT_KEY_PROVIDER')
    const text = [e.message, e.stack, (e.cause as Error).message, JSON.stringify(e), JSON.stringify(e.cause)].join('\n')
    expect(text).toContain('PrismaClientValidationError')
    for (const s of [Buffer.from(wrappedKey).toString('base64'), Buffer.from(wrappedKey).toString('hex'), '171, 171, 171']) expect(text).not.toContain(s)
  })

  it('keeps the Prisma error code of a failed insert', async () => {
    const store = new PrismaTenantKeyStore({ prisma: clientWhoseCreateFails(Object.assign(new Error('connection lost'), { code: 'P1001' })) })
    const e = await rejection(store.putIfAbsent({ tenantId: 't', keyVersion: 'v1', kmsKeyId: 'arn', wrappedKey, createdAt: new Date(), shreddedAt: null }))
    expect((e.cause as { code?: string }).code).toBe('P1001')
  })
})
