// A read that meets a tenant key the provider no longer holds (expired after `cache.maxAgeMs`,
// dropped by `clearCache`), through the real extension on every database: it waits for one load of
// that key, then decrypts the other rows synchronously rather than through a promise each, with the
// same results and errors as before. Counts the promises a call creates (async_hooks), and KMS
// calls on the local KMS-compatible server through the real AWS SDK.
import { createHook } from 'node:async_hooks'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { InMemoryTenantKeyStore, LocalKeyProvider, PrismaTenantKeyStore, withTenant, type BindingContext, type KeyProvider } from '../../src'
import type { KmsDevServer } from '../../src/kms-dev-server'
import { DATABASES, openDatabase, type TestDatabase } from '../support/db'
import { awsProvider, startKms } from '../support/kms'
import { firstRowFails } from '../support/first-row-fails'
import { extend } from '../support/setup'

const ROWS = 600

/** The promises created while `fn` runs (all of the process's, so only the call's own in practice). */
async function promisesDuring<T>(fn: () => Promise<T>): Promise<{ value: T; promises: number }> {
  let promises = 0
  const hook = createHook({
    init(_id, type) {
      if (type === 'PROMISE') promises++
    },
  })
  hook.enable()
  try {
    const value = await fn()
    return { value, promises }
  } finally {
    hook.disable()
  }
}

const MASTER = Buffer.alloc(32, 0x42).toString('base64')

describe.each(DATABASES)('a read that meets an expired tenant key on %s', (kind) => {
  let db: TestDatabase
  let kms: KmsDevServer
  beforeAll(async () => {
    db = await openDatabase(kind, 'key_reload')
    kms = (await startKms()).server
  })
  afterAll(async () => {
    await kms.stop()
    await db.close()
  })
  beforeEach(() => {
    kms.clearFaults()
    kms.resetStats()
  })

  const seed = async (provider: KeyProvider, tenant: string) => {
    await withTenant(tenant, () =>
      extend(db, provider).user.createMany({ data: Array.from({ length: ROWS }, (_, i) => ({ name: `u${i}`, email: `${tenant}-${i}@reload.test`, notes: `notes ${i}` })) }),
    )
  }
  const emails = (tenant: string) => new Set(Array.from({ length: ROWS }, (_, i) => `${tenant}-${i}@reload.test`))

  // The baseline: the same findMany with the tenant key cached. After an expiry the call adds the
  // key's load (a store read, a KMS request: a few hundred promises whatever the rows) and one
  // wait, not promises per row (an unwrap through a promise each made more than five per row).
  const expectOneWait = (reload: number, warm: number) => {
    expect(warm).toBeLessThan(ROWS)
    expect(reload).toBeLessThan(warm + ROWS)
  }

  it('AWS KMS hierarchical: after maxAgeMs the key is loaded once (1 KMS call) and the rows decrypt without a promise each', async () => {
    const tenant = `aws_${kind}`
    const store = new PrismaTenantKeyStore({ prisma: db.prisma, schema: db.manifest })
    const provider = awsProvider(kms, { tenantKeyStore: store, cache: { maxAgeMs: 2_000 } })
    await seed(provider, tenant)
    const prisma = extend(db, provider)
    // The first read loads the key if seeding outlived it; the second, right after, is warm.
    await withTenant(tenant, () => prisma.user.findMany())
    kms.resetStats()
    const warm = await promisesDuring(() => withTenant(tenant, () => prisma.user.findMany()))
    expect(kms.callCount()).toBe(0)
    expect(new Set(warm.value.map((r) => r.email))).toEqual(emails(tenant))
    await new Promise((r) => setTimeout(r, 2_100))
    kms.resetStats()
    const reload = await promisesDuring(() => withTenant(tenant, () => prisma.user.findMany()))
    expect(new Set(reload.value.map((r) => r.email))).toEqual(emails(tenant))
    expect(reload.value.every((r) => r.notes === `notes ${r.name.slice(1)}`)).toBe(true)
    expect(kms.calls()).toEqual({ Decrypt: 1 })
    expectOneWait(reload.promises, warm.promises)
  })

  it('AWS KMS hierarchical: a reload that fails gives the coded error, and the next read after the outage succeeds', async () => {
    const tenant = `aws_down_${kind}`
    const provider = awsProvider(kms, { tenantKeyStore: new InMemoryTenantKeyStore(), maxAttempts: 1 })
    await seed(provider, tenant)
    const prisma = extend(db, provider)
    provider.clearCache()
    kms.inject({ error: 'ServiceUnavailableException', status: 503, times: Infinity })
    await expect(withTenant(tenant, () => prisma.user.findMany())).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_KMS_UNAVAILABLE' })
    kms.clearFaults()
    const rows = await withTenant(tenant, () => prisma.user.findMany())
    expect(new Set(rows.map((r) => r.email))).toEqual(emails(tenant))
  })

  it('LocalKeyProvider with a tenant key store: after clearCache the rows decrypt without a promise each', async () => {
    const tenant = `local_${kind}`
    const provider = new LocalKeyProvider({ keys: { v1: MASTER }, activeVersion: 'v1', tenantKeyStore: new InMemoryTenantKeyStore() })
    await seed(provider, tenant)
    const prisma = extend(db, provider)
    const warm = await promisesDuring(() => withTenant(tenant, () => prisma.user.findMany({ include: { posts: true } })))
    provider.clearCache()
    const reload = await promisesDuring(() => withTenant(tenant, () => prisma.user.findMany({ include: { posts: true } })))
    expect(new Set(reload.value.map((r) => r.email))).toEqual(emails(tenant))
    expectOneWait(reload.promises, warm.promises)
  })

  it('a provider whose prepareUnwrapSync rejects, or answers for nothing, still reads every row', async () => {
    const tenant = `odd_${kind}`
    const inner = new LocalKeyProvider({ keys: { v1: MASTER }, activeVersion: 'v1', tenantKeyStore: new InMemoryTenantKeyStore() })
    await seed(inner, tenant)
    // Delegating providers: each method forwards to `inner`, except prepareUnwrapSync.
    const delegate = (prepare: KeyProvider['prepareUnwrapSync']): KeyProvider => ({
      get activeKeyVersion() {
        return inner.activeKeyVersion
      },
      generateDataKey: (c: BindingContext) => inner.generateDataKey(c),
      wrapDataKey: (k: Uint8Array, c: BindingContext, v?: string) => inner.wrapDataKey(k, c, v),
      unwrapDataKey: (w: Uint8Array, v: string, c: BindingContext) => inner.unwrapDataKey(w, v, c),
      unwrapDataKeySync: (w: Uint8Array, v: string, c: BindingContext) => inner.unwrapDataKeySync(w, v, c),
      prepareUnwrapSync: prepare,
    })
    for (const provider of [delegate(() => Promise.reject(new Error('load failed'))), delegate(() => Promise.resolve()), delegate(() => undefined)]) {
      inner.clearCache()
      const rows = await withTenant(tenant, () => extend(db, provider).user.findMany())
      expect(new Set(rows.map((r) => r.email))).toEqual(emails(tenant))
    }
  })

  it('a row that fails asynchronously while the read waits for a key fails the read with its coded error, once every row has settled', async () => {
    const tenant = `fail_wait_${kind}`
    const inner = new LocalKeyProvider({ keys: { v1: MASTER }, activeVersion: 'v1', tenantKeyStore: new InMemoryTenantKeyStore() })
    await seed(inner, tenant)
    // The first row's key is unwrapped asynchronously and fails at once; the second row's key
    // takes 100 ms to prepare, during which that failure is known.
    const provider = firstRowFails(inner, 100)
    await expect(withTenant(tenant, () => extend(db, provider).user.findMany())).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_DECRYPTION_FAILED' })
    expect(provider.prepares).toBe(2)
    expect(provider.unwraps).toBeGreaterThan(1)
  })
})

describe('a row that fails asynchronously while a read waits for a key', () => {
  // Outside Jest, which reports unhandled rejections its own way: Node's default ends the child
  // process on one, so a rejection left unhandled during the wait would show as a failed run.
  it('fails the read with its coded error and leaves no rejection unhandled', () => {
    const script = join(__dirname, '..', 'fixtures', 'wait-with-failed-row.ts')
    const run = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', script], { cwd: join(__dirname, '..', '..'), encoding: 'utf8', timeout: 120_000 })
    expect(run.stderr).not.toContain('ERR_ROWCRYPT')
    expect(run.status).toBe(0)
    expect(run.stdout.trim()).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED prepares=2')
  }, 120_000)
})
