// AwsKmsKeyProvider beyond the shared contract: KMS call economy, encryption context, error
// mapping, retries through the SDK, concurrency, caching, validation and shredding. Every test goes
// through the real SDK to the local KMS-compatible server.
import { DescribeKeyCommand, DisableKeyCommand, KMSClient } from '@aws-sdk/client-kms'
import { AwsKmsKeyProvider, InMemoryTenantKeyStore, type RowcryptError, type TenantKeyStore } from '../../../src'
import { KmsDevServer } from '../../../src/kms-dev-server'
import { awsProvider, eventLog, kmsClient, startKms } from '../../support/kms'

const ctx = (tenantId: string, rowId = '1') => ({ purpose: 'row-dek', model: 'User', tenantId, rowId })

async function rejected(p: Promise<unknown>): Promise<RowcryptError & Error> {
  try {
    await p
  } catch (e) {
    return e as RowcryptError & Error
  }
  throw new Error('expected a rejection')
}

function caught(fn: () => unknown): RowcryptError {
  try {
    fn()
  } catch (e) {
    return e as RowcryptError
  }
  throw new Error('expected a throw')
}

let server: KmsDevServer
let client: KMSClient
beforeAll(async () => {
  server = (await startKms()).server
  client = kmsClient(server)
})
afterAll(async () => {
  client.destroy()
  await server.stop()
})
beforeEach(() => {
  server.clearFaults()
  server.latencyMs = 0
  server.resetStats()
})

describe('AwsKmsKeyProvider: options', () => {
  const base = { client: {} as KMSClient, keys: { v1: 'alias/test-v1' }, activeVersion: 'v1', tenantKeyStore: new InMemoryTenantKeyStore() }
  it.each([
    ['no options', undefined],
    ['no client', { ...base, client: undefined }],
    ['a client without send', { ...base, client: {} }],
    ['no keys', { ...base, client, keys: {} }],
    ['a bad version name', { ...base, client, keys: { 'v 1': 'alias/x' }, activeVersion: 'v 1' }],
    ['an empty key id', { ...base, client, keys: { v1: '' } }],
    ['an activeVersion not among the keys', { ...base, client, activeVersion: 'v2' }],
    ['an unknown mode', { ...base, client, mode: 'cached' }],
    ['hierarchical mode without a store', { ...base, client, tenantKeyStore: undefined }],
    ['a store without shred', { ...base, client, tenantKeyStore: { get: async () => null, putIfAbsent: async () => null } }],
    ['tenantKeys naming an unknown version', { ...base, client, tenantKeys: { t1: { v9: 'alias/x' } } }],
    ['maxConcurrency 0', { ...base, client, maxConcurrency: 0 }],
    ['a bad cache limit', { ...base, client, cache: { maxEntries: 0 } }],
  ])('rejects %s with ConfigError', (_name, options) => {
    expect(caught(() => new AwsKmsKeyProvider(options as never)).code).toBe('ERR_ROWCRYPT_CONFIG')
  })

  it('direct mode needs no store', () => {
    expect(new AwsKmsKeyProvider({ client, keys: { v1: 'alias/test-v1' }, activeVersion: 'v1', mode: 'direct' }).mode).toBe('direct')
  })

  it('refuses data keys that are not 32 bytes with InvalidValueError', async () => {
    for (const mode of ['hierarchical', 'direct'] as const) {
      const p = awsProvider(server, { mode })
      expect((await rejected(p.wrapDataKey(Buffer.alloc(16), ctx('t')))).code).toBe('ERR_ROWCRYPT_INVALID_VALUE')
    }
  })
})

describe('AwsKmsKeyProvider: hierarchical mode', () => {
  it('makes one KMS call per tenant and version, not per row; a second instance on the same store makes one Decrypt', async () => {
    const store = new InMemoryTenantKeyStore()
    const p = awsProvider(server, { tenantKeyStore: store })
    const made = await Promise.all(Array.from({ length: 200 }, (_, i) => p.generateDataKey(ctx('h_a', String(i)))))
    expect(server.calls()).toEqual({ GenerateDataKey: 1 })
    await Promise.all(made.map((m, i) => p.unwrapDataKey(m.wrappedKey, 'v1', ctx('h_a', String(i)))))
    await p.wrapDataKey(Buffer.alloc(32, 1), ctx('h_a'), 'v2')
    await p.generateDataKey(ctx('h_b'))
    expect(server.calls()).toEqual({ GenerateDataKey: 3 })
    expect(store.records().map((r) => [r.tenantId, r.keyVersion, r.kmsKeyId.startsWith('arn:aws:kms:')])).toEqual([
      ['h_a', 'v1', true],
      ['h_a', 'v2', true],
      ['h_b', 'v1', true],
    ])
    server.resetStats()
    const other = awsProvider(server, { tenantKeyStore: store })
    await Promise.all(made.map((m, i) => other.unwrapDataKey(m.wrappedKey, 'v1', ctx('h_a', String(i)))))
    expect(server.calls()).toEqual({ Decrypt: 1 })
  })

  it('sends the tenant key binding as EncryptionContext, to the tenant key and version configured', async () => {
    const p = awsProvider(server, { tenantKeys: { h_own: { v1: 'alias/test-v2' } } })
    await p.generateDataKey(ctx('h_ctx'))
    await p.generateDataKey(ctx('h_own'))
    expect(server.requests().map((r) => [r.operation, r.keyId, r.encryptionContext])).toEqual([
      ['GenerateDataKey', 'alias/test-v1', { purpose: 'tenant-key', tenantId: 'h_ctx', keyVersion: 'v1' }],
      ['GenerateDataKey', 'alias/test-v2', { purpose: 'tenant-key', tenantId: 'h_own', keyVersion: 'v1' }],
    ])
  })

  it('two processes creating the same tenant key at once agree on one stored key', async () => {
    const store = new InMemoryTenantKeyStore()
    const a = awsProvider(server, { tenantKeyStore: store })
    const b = awsProvider(server, { tenantKeyStore: store })
    const [ka, kb] = await Promise.all([a.generateDataKey(ctx('h_race')), b.generateDataKey(ctx('h_race'))])
    expect(store.records()).toHaveLength(1)
    const c = awsProvider(server, { tenantKeyStore: store })
    expect(Buffer.from(await c.unwrapDataKey(ka.wrappedKey, 'v1', ctx('h_race'))).equals(Buffer.from(ka.plaintextKey))).toBe(true)
    expect(Buffer.from(await c.unwrapDataKey(kb.wrappedKey, 'v1', ctx('h_race'))).equals(Buffer.from(kb.plaintextKey))).toBe(true)
  })

  it('a tenant key moved to another tenant (same or own KMS key) does not unwrap', async () => {
    const store = new InMemoryTenantKeyStore()
    const p = awsProvider(server, { tenantKeyStore: store, tenantKeys: { h_y: { v1: 'alias/test-v2' } } })
    await p.generateDataKey(ctx('h_x'))
    await p.generateDataKey(ctx('h_y'))
    await p.generateDataKey(ctx('h_z'))
    const x = store.records().find((r) => r.tenantId === 'h_x')!
    // A store whose records were swapped by someone with write access to the database.
    const swapped: TenantKeyStore = {
      get: async (t, v) => ({ ...(await store.get(t, v))!, wrappedKey: x.wrappedKey }),
      putIfAbsent: (r) => store.putIfAbsent(r),
      shred: (t, at) => store.shred(t, at),
    }
    const q = awsProvider(server, { tenantKeyStore: swapped, tenantKeys: { h_y: { v1: 'alias/test-v2' } } })
    const y = await p.generateDataKey(ctx('h_y'))
    const z = await p.generateDataKey(ctx('h_z'))
    expect((await rejected(q.unwrapDataKey(y.wrappedKey, 'v1', ctx('h_y')))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED') // IncorrectKeyException
    expect((await rejected(q.unwrapDataKey(z.wrappedKey, 'v1', ctx('h_z')))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED') // InvalidCiphertextException
  })

  it('a cold read of a tenant that has no key gives DecryptionError and creates nothing', async () => {
    const store = new InMemoryTenantKeyStore()
    const p = awsProvider(server, { tenantKeyStore: store })
    const other = awsProvider(server)
    const g = await other.generateDataKey(ctx('h_nokey'))
    server.resetStats()
    expect((await rejected(p.unwrapDataKey(g.wrappedKey, 'v1', ctx('h_nokey')))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    expect(store.records()).toHaveLength(0)
    expect(server.callCount()).toBe(0)
  })

  it('reports KMS requests and cache activity to observers', async () => {
    const { events, observer } = eventLog()
    const p = awsProvider(server, { observers: [observer], cache: { maxEntries: 1 } })
    await p.generateDataKey(ctx('h_obs1'))
    await p.generateDataKey(ctx('h_obs1'))
    await p.generateDataKey(ctx('h_obs2'))
    expect(events.map((e) => (e.type === 'cache' ? `${e.cache}:${e.result}` : `${e.operation}:${e.outcome}:${e.attempts}`))).toEqual([
      'tenant-key:miss',
      'GenerateDataKey:ok:1',
      'tenant-key:hit',
      'tenant-key:miss',
      'GenerateDataKey:ok:1',
      'tenant-key:eviction',
    ])
    const request = events.find((e) => e.type === 'kms-request')!
    expect(request.type === 'kms-request' && request.durationMs).toBeGreaterThanOrEqual(0)
  })

  it('expires tenant keys after maxAgeMs and reloads them (one Decrypt)', async () => {
    const p = awsProvider(server, { cache: { maxAgeMs: 40 } })
    const g = await p.generateDataKey(ctx('h_age'))
    await new Promise((r) => setTimeout(r, 60))
    server.resetStats()
    await p.unwrapDataKey(g.wrappedKey, 'v1', ctx('h_age'))
    await p.unwrapDataKey(g.wrappedKey, 'v1', ctx('h_age'))
    expect(server.calls()).toEqual({ Decrypt: 1 })
    p.clearCache()
    await p.unwrapDataKey(g.wrappedKey, 'v1', ctx('h_age'))
    expect(server.calls()).toEqual({ Decrypt: 2 })
  })

  it('asks a keyIdFor function on every synchronous call, so a resolver that stops answering is noticed on the next row', async () => {
    let asked = 0
    let broken = false
    const p = awsProvider(server, {
      keyIdFor: () => {
        asked++
        return broken ? '' : undefined
      },
    })
    const g = await p.generateDataKey(ctx('h_res'))
    asked = 0
    for (let i = 0; i < 3; i++) expect(p.unwrapDataKeySync(g.wrappedKey, 'v1', ctx('h_res'))).toBeDefined()
    expect(p.generateDataKeySync(ctx('h_res'))).toBeDefined()
    expect(asked).toBe(4)
    broken = true
    expect(() => p.unwrapDataKeySync(g.wrappedKey, 'v1', ctx('h_res'))).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
    expect(() => p.generateDataKeySync(ctx('h_res'))).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
  })

  it('prepareUnwrapSync loads an expired tenant key (one Decrypt) so that unwrapDataKeySync answers; undefined for direct-mode keys and a replaced unwrapDataKey', async () => {
    const store = new InMemoryTenantKeyStore()
    const p = awsProvider(server, { tenantKeyStore: store, cache: { maxAgeMs: 40 } })
    const g = await p.generateDataKey(ctx('h_prep'))
    await new Promise((r) => setTimeout(r, 60))
    expect(p.unwrapDataKeySync(g.wrappedKey, 'v1', ctx('h_prep'))).toBeUndefined()
    server.resetStats()
    await expect(p.prepareUnwrapSync(g.wrappedKey, 'v1', ctx('h_prep'))).resolves.toBeUndefined()
    expect(server.calls()).toEqual({ Decrypt: 1 })
    expect(Buffer.from(p.unwrapDataKeySync(g.wrappedKey, 'v1', ctx('h_prep'))!).equals(Buffer.from(g.plaintextKey))).toBe(true)
    // KMS down during the load: the promise still resolves, and the unwrap that follows says why.
    p.clearCache()
    server.inject({ error: 'ServiceUnavailableException', status: 503, times: Infinity })
    try {
      await expect(p.prepareUnwrapSync(g.wrappedKey, 'v1', ctx('h_prep'))).resolves.toBeUndefined()
      expect((await rejected(p.unwrapDataKey(g.wrappedKey, 'v1', ctx('h_prep')))).code).toBe('ERR_ROWCRYPT_KMS_UNAVAILABLE')
    } finally {
      server.clearFaults()
    }
    const direct = awsProvider(server, { mode: 'direct', tenantKeyStore: store })
    const d = await direct.generateDataKey(ctx('h_prep'))
    expect(direct.prepareUnwrapSync(d.wrappedKey, 'v1', ctx('h_prep'))).toBeUndefined()
    expect(direct.prepareUnwrapSync(g.wrappedKey, 'v1', ctx('h_prep'))).toBeDefined()
    p.unwrapDataKey = async () => {
      throw new Error('hooked')
    }
    expect(p.prepareUnwrapSync(g.wrappedKey, 'v1', ctx('h_prep'))).toBeUndefined()
  })

  it('wraps a store failure in KeyProviderError, keeping the cause', async () => {
    const boom = new Error('database is down')
    const p = awsProvider(server, { tenantKeyStore: { get: async () => Promise.reject(boom), putIfAbsent: async () => Promise.reject(boom), shred: async () => Promise.reject(boom) } })
    const e = await rejected(p.generateDataKey(ctx('h_store')))
    expect(e.code).toBe('ERR_ROWCRYPT_KEY_PROVIDER')
    expect(e.cause).toBe(boom)
    expect(server.callCount()).toBe(0)
  })

  it('unwraps direct-mode keys too (and direct mode with a store unwraps hierarchical ones)', async () => {
    const store = new InMemoryTenantKeyStore()
    const h = awsProvider(server, { tenantKeyStore: store })
    const d = awsProvider(server, { mode: 'direct', tenantKeyStore: store })
    const fromDirect = await d.generateDataKey(ctx('h_mix'))
    const fromHier = await h.generateDataKey(ctx('h_mix'))
    expect(Buffer.from(await h.unwrapDataKey(fromDirect.wrappedKey, 'v1', ctx('h_mix'))).equals(Buffer.from(fromDirect.plaintextKey))).toBe(true)
    expect(Buffer.from(await d.unwrapDataKey(fromHier.wrappedKey, 'v1', ctx('h_mix'))).equals(Buffer.from(fromHier.plaintextKey))).toBe(true)
    const storeless = awsProvider(server, { mode: 'direct' })
    expect((await rejected(storeless.unwrapDataKey(fromHier.wrappedKey, 'v1', ctx('h_mix')))).code).toBe('ERR_ROWCRYPT_CONFIG')
  })
})

describe('AwsKmsKeyProvider: direct mode', () => {
  it('calls GenerateDataKey per row with the row binding and key version as EncryptionContext', async () => {
    const p = awsProvider(server, { mode: 'direct', keyIdFor: (t) => (t === 'd_own' ? 'alias/test-v2' : undefined) })
    await p.generateDataKey(ctx('d_ctx', '7'))
    await p.wrapDataKey(Buffer.alloc(32, 1), { purpose: 'row-dek', model: 'Post', tenantId: 'd_own' }, 'v2')
    expect(server.requests().map((r) => [r.operation, r.keyId, r.encryptionContext])).toEqual([
      ['GenerateDataKey', 'alias/test-v1', { purpose: 'row-dek', model: 'User', tenantId: 'd_ctx', rowId: '7', keyVersion: 'v1' }],
      ['Encrypt', 'alias/test-v2', { purpose: 'row-dek', model: 'Post', tenantId: 'd_own', keyVersion: 'v2' }],
    ])
  })

  it('decrypts identical wrapped keys requested together once, and never exceeds maxConcurrency', async () => {
    const maker = awsProvider(server, { mode: 'direct', maxConcurrency: 16 })
    const made = await Promise.all(Array.from({ length: 40 }, (_, i) => maker.generateDataKey(ctx('d_conc', String(i)))))
    const p = awsProvider(server, { mode: 'direct', maxConcurrency: 3 })
    server.resetStats()
    server.latencyMs = 10
    // 40 distinct keys, each asked for 5 times at once (one row reached through several relations).
    const requests = made.flatMap((m, i) => Array.from({ length: 5 }, () => p.unwrapDataKey(m.wrappedKey, 'v1', ctx('d_conc', String(i)))))
    const keys = await Promise.all(requests)
    expect(server.calls()).toEqual({ Decrypt: 40 })
    expect(server.maxInFlight).toBeLessThanOrEqual(3)
    expect(server.maxInFlight).toBeGreaterThan(1)
    keys.forEach((k, j) => expect(Buffer.from(k).equals(Buffer.from(made[Math.floor(j / 5)]!.plaintextKey))).toBe(true))
    // Each caller got its own buffer.
    keys[0]!.fill(0)
    expect(Buffer.from(keys[1]!).equals(Buffer.from(made[0]!.plaintextKey))).toBe(true)
    // A later request is another Decrypt: by default direct mode keeps no key after use.
    await p.unwrapDataKey(made[0]!.wrappedKey, 'v1', ctx('d_conc', '0'))
    expect(server.calls()).toEqual({ Decrypt: 41 })
  })

  it('does not share a Decrypt between the same wrapped key under different bindings', async () => {
    const p = awsProvider(server, { mode: 'direct' })
    const g = await p.generateDataKey(ctx('d_bind'))
    const [ok, bad] = await Promise.allSettled([p.unwrapDataKey(g.wrappedKey, 'v1', ctx('d_bind')), p.unwrapDataKey(g.wrappedKey, 'v1', ctx('d_other'))])
    expect(ok.status).toBe('fulfilled')
    expect(bad.status === 'rejected' && (bad.reason as RowcryptError).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
  })

  it('keeps data keys for a while when the cache is configured to', async () => {
    const p = awsProvider(server, { mode: 'direct', cache: { maxAgeMs: 60_000, maxUses: 100 } })
    const g = await p.generateDataKey(ctx('d_cache'))
    server.resetStats()
    for (let i = 0; i < 5; i++) await p.unwrapDataKey(g.wrappedKey, 'v1', ctx('d_cache'))
    expect(server.calls()).toEqual({ Decrypt: 1 })
  })

  it("another tenant's KMS key gives DecryptionError (IncorrectKeyException)", async () => {
    const writer = awsProvider(server, { mode: 'direct', tenantKeys: { d_x: { v1: 'alias/test-v2' } } })
    const g = await writer.generateDataKey(ctx('d_x'))
    const reader = awsProvider(server, { mode: 'direct' }) // maps d_x to the shared key instead
    expect((await rejected(reader.unwrapDataKey(g.wrappedKey, 'v1', ctx('d_x')))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    expect(server.requests().at(-1)?.errorType).toBe('IncorrectKeyException')
  })
})

describe('AwsKmsKeyProvider: failures', () => {
  it.each(['hierarchical', 'direct'] as const)('%s: throttled three times, then the SDK retry succeeds', async (mode) => {
    const { events, observer } = eventLog()
    const p = awsProvider(server, { mode, maxAttempts: 4, observers: [observer] })
    server.inject({ error: 'ThrottlingException', times: 3 })
    const g = await p.generateDataKey(ctx(`f_throttle_${mode}`))
    expect(g.plaintextKey).toHaveLength(32)
    expect(server.calls()).toEqual({ GenerateDataKey: 4 })
    expect(events.find((e) => e.type === 'kms-request')).toMatchObject({ operation: 'GenerateDataKey', outcome: 'ok', attempts: 4 })
  })

  it.each([
    ['ThrottlingException', undefined, 'ERR_ROWCRYPT_KMS_UNAVAILABLE', 'throttled'],
    ['KMSInternalException', undefined, 'ERR_ROWCRYPT_KMS_UNAVAILABLE', 'unavailable'],
    ['ServiceUnavailableException', 503, 'ERR_ROWCRYPT_KMS_UNAVAILABLE', 'unavailable'],
    ['DependencyTimeoutException', undefined, 'ERR_ROWCRYPT_KMS_UNAVAILABLE', 'unavailable'],
    ['AccessDeniedException', undefined, 'ERR_ROWCRYPT_KMS_ACCESS_DENIED', 'denied'],
    ['UnrecognizedClientException', undefined, 'ERR_ROWCRYPT_KMS_ACCESS_DENIED', 'denied'],
    ['DisabledException', undefined, 'ERR_ROWCRYPT_KMS_KEY_UNUSABLE', 'error'],
    ['KMSInvalidStateException', undefined, 'ERR_ROWCRYPT_KMS_KEY_UNUSABLE', 'error'],
    ['NotFoundException', undefined, 'ERR_ROWCRYPT_KMS_KEY_UNUSABLE', 'error'],
    ['InvalidCiphertextException', undefined, 'ERR_ROWCRYPT_DECRYPTION_FAILED', 'error'],
    ['SomethingNewException', undefined, 'ERR_ROWCRYPT_KEY_PROVIDER', 'error'],
  ])('%s (HTTP %s) maps to %s (event outcome %s)', async (type, status, code, outcome) => {
    const { events, observer } = eventLog()
    const p = awsProvider(server, { mode: 'direct', observers: [observer] })
    server.inject({ error: type, times: Infinity, ...(status !== undefined ? { status } : {}) })
    const e = await rejected(p.generateDataKey(ctx('f_map')))
    expect(e.code).toBe(code)
    expect(events.at(-1)).toMatchObject({ type: 'kms-request', operation: 'GenerateDataKey', outcome })
    if (code.startsWith('ERR_ROWCRYPT_KMS')) {
      expect(e.name).toMatch(/^Kms/)
      expect(e.message).toContain(type)
      expect((e.cause as Error).name).toBe(type)
    }
  })

  it('a real disabled key and a key pending deletion map to KmsKeyUnusableError', async () => {
    const { keyId, arn } = server.createKey({ alias: 'alias/f-disabled' })
    const p = awsProvider(server, { mode: 'direct', keys: { v1: 'alias/f-disabled' } })
    const g = await p.generateDataKey(ctx('f_dis'))
    await client.send(new DisableKeyCommand({ KeyId: arn }))
    expect((await rejected(p.unwrapDataKey(g.wrappedKey, 'v1', ctx('f_dis')))).code).toBe('ERR_ROWCRYPT_KMS_KEY_UNUSABLE')
    expect((await rejected(p.generateDataKey(ctx('f_dis')))).code).toBe('ERR_ROWCRYPT_KMS_KEY_UNUSABLE')
    expect((await rejected(p.validate())).code).toBe('ERR_ROWCRYPT_KMS_KEY_UNUSABLE')
    expect(keyId).toBeDefined()
  })

  it('KMS unreachable (connection refused) gives KmsUnavailableError after the SDK retries', async () => {
    const gone = await KmsDevServer.start({ port: 0 })
    gone.createKey({ alias: 'alias/test-v1' })
    const p = awsProvider(gone, { mode: 'direct' })
    await gone.stop()
    const e = await rejected(p.generateDataKey(ctx('f_down')))
    expect(e.code).toBe('ERR_ROWCRYPT_KMS_UNAVAILABLE')
    expect(e.message).toContain('ECONNREFUSED')
    expect(e.message).toContain('3 attempts')
  })

  it('a timeout is retried by the SDK; a KMS that never answers in time is unavailable', async () => {
    const p = awsProvider(server, { mode: 'direct', requestTimeoutMs: 80 })
    server.inject({ latencyMs: 300 })
    expect((await p.generateDataKey(ctx('f_slow'))).plaintextKey).toHaveLength(32)
    server.inject({ latencyMs: 300, times: 3 })
    const e = await rejected(p.generateDataKey(ctx('f_slow')))
    expect(e.code).toBe('ERR_ROWCRYPT_KMS_UNAVAILABLE')
    expect(e.message).toContain('TimeoutError')
  })

  it('errors carry no key material', async () => {
    const p = awsProvider(server, { mode: 'direct' })
    const g = await p.generateDataKey(ctx('f_secret'))
    server.inject({ error: 'AccessDeniedException', times: 1 })
    const e = await rejected(p.unwrapDataKey(g.wrappedKey, 'v1', ctx('f_secret')))
    const text = [e.message, e.stack, (e.cause as Error).message, JSON.stringify(e)].join('\n')
    for (const s of [g.plaintextKey, g.wrappedKey.subarray(1)]) {
      expect(text).not.toContain(Buffer.from(s).toString('base64'))
      expect(text).not.toContain(Buffer.from(s).toString('hex'))
    }
  })
})

describe('AwsKmsKeyProvider: validate', () => {
  it('checks the store once and the active KMS key (DescribeKey), and remembers success', async () => {
    let validations = 0
    const store = new InMemoryTenantKeyStore()
    const counted = Object.assign(store, { validate: async () => void validations++ })
    const p = awsProvider(server, { tenantKeyStore: counted })
    await p.validate()
    await p.validate()
    await p.generateDataKey(ctx('v_once'))
    expect(validations).toBe(1)
    expect(server.calls()).toEqual({ DescribeKey: 1, GenerateDataKey: 1 })
  })

  it('a store that fails validation stops writes with its ConfigError, and is checked again next time', async () => {
    let ok = false
    const store = Object.assign(new InMemoryTenantKeyStore(), {
      validate: async () => {
        if (!ok) throw new Error('table RowcryptTenantKey does not exist')
      },
    })
    const p = awsProvider(server, { tenantKeyStore: store })
    const e = await rejected(p.generateDataKey(ctx('v_store')))
    expect(e.code).toBe('ERR_ROWCRYPT_CONFIG')
    expect(server.callCount()).toBe(0)
    ok = true
    await expect(p.generateDataKey(ctx('v_store'))).resolves.toBeDefined()
  })

  it('refuses a key that is not Enabled', async () => {
    const { arn } = server.createKey({ alias: 'alias/v-disabled' })
    await client.send(new DisableKeyCommand({ KeyId: arn }))
    const p = awsProvider(server, { keys: { v1: 'alias/v-disabled' } })
    expect((await rejected(p.validate())).code).toBe('ERR_ROWCRYPT_KMS_KEY_UNUSABLE')
  })
})

describe('AwsKmsKeyProvider: shredTenant', () => {
  it('hierarchical, shared key: destroys the tenant key; the tenant is refused here and in other processes; others unaffected', async () => {
    const store = new InMemoryTenantKeyStore()
    const p = awsProvider(server, { tenantKeyStore: store })
    const x = await p.generateDataKey(ctx('s_x'))
    const y = await p.generateDataKey(ctx('s_y'))
    const result = await p.shredTenant('s_x')
    expect(result).toEqual({ tenantId: 's_x', tenantKeysDestroyed: 1, kmsKeys: [] })
    expect((await rejected(p.unwrapDataKey(x.wrappedKey, 'v1', ctx('s_x')))).code).toBe('ERR_ROWCRYPT_TENANT_SHREDDED')
    expect((await rejected(p.generateDataKey(ctx('s_x')))).code).toBe('ERR_ROWCRYPT_TENANT_SHREDDED')
    const other = awsProvider(server, { tenantKeyStore: store })
    expect((await rejected(other.unwrapDataKey(x.wrappedKey, 'v1', ctx('s_x')))).code).toBe('ERR_ROWCRYPT_TENANT_SHREDDED')
    expect((await rejected(other.wrapDataKey(Buffer.alloc(32), ctx('s_x'), 'v2'))).code).toBe('ERR_ROWCRYPT_TENANT_SHREDDED')
    expect(Buffer.from(await other.unwrapDataKey(y.wrappedKey, 'v1', ctx('s_y'))).equals(Buffer.from(y.plaintextKey))).toBe(true)
    const records = store.records().filter((r) => r.tenantId === 's_x')
    expect(records.every((r) => r.wrappedKey === null && r.shreddedAt instanceof Date)).toBe(true)
    expect(records.map((r) => r.keyVersion).sort()).toEqual(['*', 'v1'])
    expect((await p.shredTenant('s_x')).tenantKeysDestroyed).toBe(0)
  })

  it("schedules deletion of the tenant's own KMS keys, never of shared ones", async () => {
    const own = server.createKey({ alias: 'alias/s-own' })
    const shared = server.createKey({ alias: 'alias/s-shared-by-two' })
    const p = awsProvider(server, { mode: 'direct', tenantKeys: { s_own: { v1: 'alias/s-own', v2: 'alias/s-shared-by-two' }, s_neighbour: { v2: 'alias/s-shared-by-two' } } })
    const g = await p.generateDataKey(ctx('s_own'))
    const result = await p.shredTenant('s_own', { pendingWindowInDays: 7 })
    expect(result.tenantKeysDestroyed).toBe(0)
    expect(result.kmsKeys).toEqual([{ keyVersion: 'v1', keyArn: own.arn, action: 'scheduled-deletion', deletionDate: expect.any(Date) }])
    expect((await client.send(new DescribeKeyCommand({ KeyId: own.arn }))).KeyMetadata!.KeyState).toBe('PendingDeletion')
    expect((await client.send(new DescribeKeyCommand({ KeyId: shared.arn }))).KeyMetadata!.KeyState).toBe('Enabled')
    // Another process, which knows nothing of the shredding, cannot use the key any more.
    const other = awsProvider(server, { mode: 'direct', tenantKeys: { s_own: { v1: 'alias/s-own' } } })
    expect((await rejected(other.unwrapDataKey(g.wrappedKey, 'v1', ctx('s_own')))).code).toBe('ERR_ROWCRYPT_KMS_KEY_UNUSABLE')
    expect((await p.shredTenant('s_own')).kmsKeys[0]!.action).toBe('already-pending-deletion')
  })

  it('can disable instead, or keep the KMS key; validates its options', async () => {
    const k = server.createKey({ alias: 'alias/s-disable' })
    const p = awsProvider(server, { tenantKeys: { s_dis: { v1: 'alias/s-disable' } } })
    await p.generateDataKey(ctx('s_dis'))
    expect((await p.shredTenant('s_dis', { kmsKeys: 'disable' })).kmsKeys).toEqual([{ keyVersion: 'v1', keyArn: k.arn, action: 'disabled' }])
    expect((await client.send(new DescribeKeyCommand({ KeyId: k.arn }))).KeyMetadata!.KeyState).toBe('Disabled')
    expect((await p.shredTenant('s_dis', { kmsKeys: 'keep' })).kmsKeys[0]!.action).toBe('kept')
    expect((await rejected(p.shredTenant('s_dis', { pendingWindowInDays: 3 }))).code).toBe('ERR_ROWCRYPT_CONFIG')
    expect((await rejected(p.shredTenant('s_dis', { kmsKeys: 'burn' as never }))).code).toBe('ERR_ROWCRYPT_CONFIG')
    expect((await rejected(p.shredTenant(''))).code).toBe('ERR_ROWCRYPT_TENANT_INVALID')
  })

  it('refuses in direct mode when the tenant has nothing of its own to destroy, with or without a store', async () => {
    const p = awsProvider(server, { mode: 'direct' })
    expect((await rejected(p.shredTenant('s_shared'))).code).toBe('ERR_ROWCRYPT_CONFIG')
    // A store's tombstone would be a false promise: direct-mode reads never consult it.
    const store = new InMemoryTenantKeyStore()
    const withStore = awsProvider(server, { mode: 'direct', tenantKeyStore: store })
    const dk = await withStore.generateDataKey(ctx('s_shared_store'))
    expect((await rejected(withStore.shredTenant('s_shared_store'))).code).toBe('ERR_ROWCRYPT_CONFIG')
    expect(store.records().filter((r) => r.tenantId === 's_shared_store')).toEqual([])
    expect(Buffer.from(await withStore.unwrapDataKey(dk.wrappedKey, 'v1', ctx('s_shared_store'))).equals(Buffer.from(dk.plaintextKey))).toBe(true)
  })
})
