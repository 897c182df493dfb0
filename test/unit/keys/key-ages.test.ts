// Creation times of key versions: parsing and validation of the createdAt option, the cached
// look-up behind AwsKmsKeyProvider's DescribeKey, and tenant key creation times from a store.
import { InMemoryTenantKeyStore, LocalKeyProvider, type TenantKeyRecord, type TenantKeyStore } from '../../../src'
import { KeyCreationTimes, parseCreationTime, tenantKeyCreatedAtFromStore } from '../../../src/keys/key-ages'
import { TEST_KEYS } from '../../support/setup'

describe('parseCreationTime', () => {
  it.each([
    ['2026-01-31', '2026-01-31T00:00:00.000Z'],
    ['2026-01-31T09:30Z', '2026-01-31T09:30:00.000Z'],
    ['2026-01-31T09:30:15Z', '2026-01-31T09:30:15.000Z'],
    ['2026-01-31T09:30:15.250Z', '2026-01-31T09:30:15.250Z'],
    ['2026-01-31T09:30:00+02:00', '2026-01-31T07:30:00.000Z'],
    ['2024-02-29', '2024-02-29T00:00:00.000Z'],
  ])('reads %s as %s', (input, iso) => {
    expect(parseCreationTime(input)?.toISOString()).toBe(iso)
  })

  it.each(['2026-02-30', '2025-02-29', '2026-13-01', '2026-01-31T09:30:00', '2026-01-31T24:00Z', '31/01/2026', 'yesterday', '', '2026-1-31', 1_700_000_000_000, null, {}])('refuses %p', (input) => {
    expect(parseCreationTime(input)).toBeUndefined()
  })

  it('copies a valid Date and refuses an invalid one', () => {
    const d = new Date('2026-01-31T00:00:00Z')
    const parsed = parseCreationTime(d)!
    expect(parsed).not.toBe(d)
    expect(parsed.getTime()).toBe(d.getTime())
    expect(parseCreationTime(new Date(Number.NaN))).toBeUndefined()
  })
})

describe('KeyCreationTimes', () => {
  it('gives configured times, undefined for the others without a lookup, and KeyVersionError for unknown versions', async () => {
    const times = new KeyCreationTimes('P', { v1: '2026-01-31', v2: new Date('2026-03-01T12:00:00Z') }, ['v1', 'v2', 'v3'])
    expect((await times.of('v1'))?.toISOString()).toBe('2026-01-31T00:00:00.000Z')
    expect((await times.of('v2'))?.toISOString()).toBe('2026-03-01T12:00:00.000Z')
    expect(await times.of('v3')).toBeUndefined()
    await expect(times.of('v9')).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_KEY_VERSION_UNKNOWN' })
    // The caller's Date cannot change the stored time.
    const got = (await times.of('v1'))!
    got.setFullYear(1999)
    expect((await times.of('v1'))?.getUTCFullYear()).toBe(2026)
  })

  it.each([
    ['not an object', 'yes'],
    ['an array', ['2026-01-01']],
    ['a Date', new Date()],
    ['null', null],
    ['an unknown version', { v9: '2026-01-01' }],
    ['an invalid date', { v1: '2026-02-30' }],
    ['a time without zone', { v1: '2026-01-01T10:00:00' }],
    ['a number', { v1: 1_700_000_000_000 }],
  ])('refuses createdAt that is %s with ConfigError', (_what, createdAt) => {
    expect(() => new KeyCreationTimes('P', createdAt, ['v1'])).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
  })

  it('asks the lookup once per version, prefers configured times, and asks again after a failure', async () => {
    const asked: string[] = []
    let fail = true
    const times = new KeyCreationTimes('P', { v1: '2026-01-01' }, ['v1', 'v2', 'v3'], async (v) => {
      asked.push(v)
      if (v === 'v3' && fail) throw new Error('KMS down')
      return v === 'v2' ? new Date('2025-06-01T00:00:00Z') : undefined
    })
    expect((await times.of('v1'))?.toISOString()).toBe('2026-01-01T00:00:00.000Z')
    expect((await Promise.all([times.of('v2'), times.of('v2')])).map((d) => d?.toISOString())).toEqual(['2025-06-01T00:00:00.000Z', '2025-06-01T00:00:00.000Z'])
    await expect(times.of('v3')).rejects.toThrow('KMS down')
    fail = false
    expect(await times.of('v3')).toBeUndefined()
    expect(await times.of('v3')).toBeUndefined()
    expect(asked).toEqual(['v2', 'v3', 'v3'])
  })
})

describe('LocalKeyProvider createdAt', () => {
  it('reports configured creation times and validates them', async () => {
    const p = new LocalKeyProvider({ keys: TEST_KEYS, activeVersion: 'v2', createdAt: { v1: '2025-01-01' } })
    expect((await p.keyCreatedAt('v1'))?.toISOString()).toBe('2025-01-01T00:00:00.000Z')
    expect(await p.keyCreatedAt('v2')).toBeUndefined()
    await expect(p.keyCreatedAt('v3')).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_KEY_VERSION_UNKNOWN' })
    expect(() => new LocalKeyProvider({ keys: TEST_KEYS, activeVersion: 'v2', createdAt: { v3: '2025-01-01' } })).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
    expect(() => new LocalKeyProvider({ keys: TEST_KEYS, activeVersion: 'v2', createdAt: { v1: 'last year' } })).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_CONFIG' }))
  })
})

describe('tenantKeyCreatedAtFromStore', () => {
  const record = (tenantId: string, keyVersion: string, createdAt: Date): TenantKeyRecord => ({
    tenantId,
    keyVersion,
    kmsKeyId: 'k',
    wrappedKey: new Uint8Array([1, 2, 3]),
    createdAt,
    shreddedAt: null,
  })

  it("gives the record's createdAt; undefined without a store, without a record, or once shredded", async () => {
    const store = new InMemoryTenantKeyStore()
    await store.putIfAbsent(record('t1', 'v1', new Date('2025-05-05T00:00:00Z')))
    await store.putIfAbsent(record('t2', 'v1', new Date('2025-06-06T00:00:00Z')))
    expect((await tenantKeyCreatedAtFromStore(store, 't1', 'v1'))?.toISOString()).toBe('2025-05-05T00:00:00.000Z')
    expect(await tenantKeyCreatedAtFromStore(store, 't1', 'v2')).toBeUndefined()
    expect(await tenantKeyCreatedAtFromStore(undefined, 't1', 'v1')).toBeUndefined()
    await store.shred('t2', new Date())
    expect(await tenantKeyCreatedAtFromStore(store, 't2', 'v1')).toBeUndefined()
  })

  it('turns a store failure into KeyProviderError', async () => {
    const broken: TenantKeyStore = {
      get: async () => {
        throw new Error('connection refused')
      },
      putIfAbsent: async (r) => r,
      shred: async () => ({ keysDestroyed: 0 }),
    }
    await expect(tenantKeyCreatedAtFromStore(broken, 't1', 'v1')).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_KEY_PROVIDER' })
  })
})

describe('LocalKeyProvider tenant key ages', () => {
  it('reports when a tenant key was made, from its tenant key store; undefined without a store or a key', async () => {
    const tenantKeyStore = new InMemoryTenantKeyStore()
    const p = new LocalKeyProvider({ keys: TEST_KEYS, activeVersion: 'v1', tenantKeyStore })
    expect(await p.tenantKeyCreatedAt('acme', 'v1')).toBeUndefined()
    const before = Date.now()
    await p.generateDataKey({ purpose: 'row-dek', model: 'User', tenantId: 'acme' })
    const made = await p.tenantKeyCreatedAt('acme', 'v1')
    expect(made).toBeInstanceOf(Date)
    expect(made!.getTime()).toBeGreaterThanOrEqual(before - 1)
    expect(made!.getTime()).toBeLessThanOrEqual(Date.now())
    expect(tenantKeyStore.records()[0]!.createdAt.getTime()).toBe(made!.getTime())
    expect(await new LocalKeyProvider({ keys: TEST_KEYS, activeVersion: 'v1' }).tenantKeyCreatedAt('acme', 'v1')).toBeUndefined()
  })
})
