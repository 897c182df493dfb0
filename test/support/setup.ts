// Builds the extended client used by integration tests.
import { LocalKeyProvider, rowcrypt } from '../../src'
import type { TestDatabase } from './db'

export const TEST_KEYS = {
  v1: Buffer.alloc(32, 1).toString('base64'),
  v2: '02'.repeat(32),
}

export function testKeyProvider(activeVersion: 'v1' | 'v2' = 'v1'): LocalKeyProvider {
  return new LocalKeyProvider({ keys: TEST_KEYS, activeVersion })
}

export function extend(db: TestDatabase, keyProvider = testKeyProvider()) {
  return db.prisma.$extends(
    rowcrypt({
      schema: db.manifest,
      keyProvider,
      models: {
        User: { fields: ['email', 'ssn', 'notes', { name: 'prefs', type: 'json' }, { name: 'avatar', type: 'bytes' }] },
        Post: { fields: ['title', 'body'] },
        Document: { fields: ['body'], columns: { tenantId: 'orgId' } },
      },
    }),
  )
}

export type Extended = ReturnType<typeof extend>
