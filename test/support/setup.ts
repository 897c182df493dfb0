// Builds the extended client used by integration tests.
import { LocalKeyProvider, rowcrypt, type KeyProvider } from '../../src'
import type { TestDatabase } from './db'

export const TEST_KEYS = {
  v1: Buffer.alloc(32, 1).toString('base64'),
  v2: '02'.repeat(32),
}

export function testKeyProvider(activeVersion: 'v1' | 'v2' = 'v1'): LocalKeyProvider {
  return new LocalKeyProvider({ keys: TEST_KEYS, activeVersion })
}

/**
 * On a `postgres-rls` database (policies applied, restricted role): `{ rls: { pinning: 'adapter' } }`
 * when its adapter is wrapped with `withRlsPinning`, else `{ rls: true }`. `{}` elsewhere.
 */
export function rlsOf(db: Pick<TestDatabase, 'kind' | 'rlsPinning'>): { rls?: true | { pinning: 'adapter' } } {
  if (db.kind !== 'postgres-rls') return {}
  return db.rlsPinning === 'adapter' ? { rls: { pinning: 'adapter' } } : { rls: true }
}

export function extend(db: TestDatabase, keyProvider: KeyProvider = testKeyProvider()) {
  return db.prisma.$extends(
    rowcrypt({
      ...rlsOf(db),
      schema: db.manifest,
      keyProvider,
      models: {
        User: { fields: ['email', 'ssn', 'notes', 'prefs', 'avatar'] },
        Post: { fields: ['title', 'body'] },
        Document: { fields: ['body'], columns: { tenantId: 'orgId' } },
      },
    }),
  )
}

export type Extended = ReturnType<typeof extend>

/** A client as a config module exports it to a CLI command, except that the command cannot disconnect it. */
export function noDisconnect(prisma: unknown): unknown {
  return new Proxy(prisma as object, {
    get: (target, key) => {
      if (key === '$disconnect') return async () => undefined
      const v = Reflect.get(target, key) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
}
