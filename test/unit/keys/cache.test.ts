import fc from 'fast-check'
import { DATA_KEY_CACHE_DEFAULTS, KeyCache, TENANT_KEY_CACHE_DEFAULTS, type KeyProviderEvent } from '../../../src'

function setup(limits: { maxEntries?: number; maxAgeMs?: number; maxUses?: number } = {}) {
  let now = 1_000
  const events: KeyProviderEvent[] = []
  const cache = new KeyCache(limits, { name: 'test', observers: [{ keyProvider: (e) => events.push(e) }], now: () => now })
  const loaded: Buffer[] = []
  let loads = 0
  const load = (byte: number) => async () => {
    loads++
    const k = Buffer.alloc(32, byte)
    loaded.push(k)
    return k
  }
  const copy = (k: Uint8Array) => Buffer.from(k)
  const results = () => events.map((e) => (e.type === 'cache' ? e.result : e.type))
  return { cache, events, loaded, load, copy, results, loadCount: () => loads, advance: (ms: number) => (now += ms) }
}

const zeroed = (b: Uint8Array) => b.every((x) => x === 0)

describe('KeyCache', () => {
  it('has secure, documented defaults', () => {
    expect(TENANT_KEY_CACHE_DEFAULTS).toEqual({ maxEntries: 1000, maxAgeMs: 300_000, maxUses: 1_000_000 })
    expect(DATA_KEY_CACHE_DEFAULTS).toEqual({ maxEntries: 1000, maxAgeMs: 0, maxUses: 1 })
    expect(Object.isFrozen(TENANT_KEY_CACHE_DEFAULTS)).toBe(true)
    expect(new KeyCache({}, { name: 'x' }).options).toEqual(TENANT_KEY_CACHE_DEFAULTS)
    expect(new KeyCache({ maxAgeMs: 5 }, { name: 'x' }, DATA_KEY_CACHE_DEFAULTS).options).toEqual({ maxEntries: 1000, maxAgeMs: 5, maxUses: 1 })
  })

  it.each([[{ maxEntries: 0 }], [{ maxEntries: 1.5 }], [{ maxAgeMs: -1 }], [{ maxUses: 0 }], [{ maxUses: Number.NaN }], [{ maxEntries: '10' as unknown as number }]])(
    'rejects limits %j with ConfigError',
    (limits) => {
      let error: unknown
      try {
        new KeyCache(limits, { name: 'x' })
      } catch (e) {
        error = e
      }
      expect((error as { code?: string }).code).toBe('ERR_ROWCRYPT_CONFIG')
    },
  )

  it('loads on a miss, serves hits without loading, and reports both', async () => {
    const { cache, load, copy, results, loadCount } = setup()
    expect((await cache.use('a', load(1), copy)).equals(Buffer.alloc(32, 1))).toBe(true)
    expect((await cache.use('a', load(2), copy)).equals(Buffer.alloc(32, 1))).toBe(true)
    expect(loadCount()).toBe(1)
    expect(results()).toEqual(['miss', 'hit'])
    expect(cache.size).toBe(1)
  })

  it('single-flight: concurrent misses of one id share one load', async () => {
    const { cache, copy, results, loadCount } = setup()
    let release!: () => void
    let loads = 0
    const slow = async () => {
      loads++
      await new Promise<void>((r) => (release = r))
      return Buffer.alloc(32, 9)
    }
    const all = Promise.all(Array.from({ length: 100 }, () => cache.use('a', slow, copy)))
    await new Promise((r) => setImmediate(r))
    release()
    const keys = await all
    expect(loads).toBe(1)
    expect(keys.every((k) => k.equals(Buffer.alloc(32, 9)))).toBe(true)
    expect(results().filter((r) => r === 'miss')).toHaveLength(1)
    expect(results().filter((r) => r === 'hit')).toHaveLength(99)
    expect(loadCount()).toBe(0)
  })

  it('a failed load reaches every waiter and is not cached', async () => {
    const { cache, copy, load, loadCount } = setup()
    const failing = async () => {
      throw new Error('kms down')
    }
    const outcomes = await Promise.allSettled([cache.use('a', failing, copy), cache.use('a', failing, copy)])
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected'])
    expect(cache.size).toBe(0)
    await cache.use('a', load(1), copy)
    expect(loadCount()).toBe(1)
  })

  it('evicts the least recently used key beyond maxEntries, and zeroes it', async () => {
    const { cache, load, copy, loaded, results } = setup({ maxEntries: 2 })
    await cache.use('a', load(1), copy)
    await cache.use('b', load(2), copy)
    await cache.use('a', load(1), copy) // a is now the most recently used
    await cache.use('c', load(3), copy) // evicts b
    expect(cache.size).toBe(2)
    expect(zeroed(loaded[1]!)).toBe(true)
    expect(zeroed(loaded[0]!)).toBe(false)
    expect(results()).toEqual(['miss', 'miss', 'hit', 'miss', 'eviction'])
  })

  it('never serves a key older than maxAgeMs, and zeroes it', async () => {
    const { cache, load, copy, loaded, advance, loadCount } = setup({ maxAgeMs: 1000 })
    await cache.use('a', load(1), copy)
    advance(999)
    await cache.use('a', load(1), copy)
    expect(loadCount()).toBe(1)
    advance(1)
    await cache.use('a', load(1), copy)
    expect(loadCount()).toBe(2)
    expect(zeroed(loaded[0]!)).toBe(true)
  })

  it('serves one key at most maxUses times', async () => {
    const { cache, load, copy, loaded, loadCount } = setup({ maxUses: 3 })
    for (let i = 0; i < 7; i++) await cache.use('a', load(1), copy)
    expect(loadCount()).toBe(3)
    expect(zeroed(loaded[0]!)).toBe(true)
    expect(zeroed(loaded[1]!)).toBe(true)
    expect(zeroed(loaded[2]!)).toBe(false)
  })

  it('with maxAgeMs 0 keeps nothing: each load is used by its waiters, then zeroed', async () => {
    const { cache, load, copy, loaded, loadCount } = setup({ maxAgeMs: 0 })
    const [a, b] = await Promise.all([cache.use('a', load(1), copy), cache.use('a', load(1), copy)])
    expect(a.equals(Buffer.alloc(32, 1)) && b.equals(Buffer.alloc(32, 1))).toBe(true)
    expect(loadCount()).toBe(1)
    expect(cache.size).toBe(0)
    expect(zeroed(loaded[0]!)).toBe(true)
    await cache.use('a', load(1), copy)
    expect(loadCount()).toBe(2)
  })

  it('defers zeroing an evicted key until every waiter of its load has used it', async () => {
    const { cache, load, loaded } = setup()
    const seen: boolean[] = []
    await Promise.all([
      cache.use('a', load(1), (k) => {
        cache.clear() // evicts the key while the second waiter still has to read it
        seen.push(zeroed(k))
      }),
      cache.use('a', load(1), (k) => seen.push(zeroed(k))),
    ])
    expect(seen).toEqual([false, false])
    expect(zeroed(loaded[0]!)).toBe(true)
  })

  it('evictTagged drops the keys of one tag only, and a load in flight for it is not cached', async () => {
    const { cache, load, copy, loaded, loadCount } = setup()
    await cache.use('a1', load(1), copy, ['tenant:a'])
    await cache.use('b1', load(2), copy, ['tenant:b'])
    let release!: () => void
    const pending = cache.use(
      'a2',
      async () => {
        await new Promise<void>((r) => (release = r))
        return Buffer.alloc(32, 3)
      },
      copy,
      ['tenant:a'],
    )
    await new Promise((r) => setImmediate(r))
    expect(cache.evictTagged('tenant:a')).toBe(1)
    release()
    expect((await pending).equals(Buffer.alloc(32, 3))).toBe(true)
    expect(cache.size).toBe(1)
    expect(zeroed(loaded[0]!)).toBe(true)
    expect(zeroed(loaded[1]!)).toBe(false)
    await cache.use('b1', load(2), copy)
    expect(loadCount()).toBe(2)
  })

  it('sweeps expired keys with an unreferenced timer, zeroing them even when nobody looks', async () => {
    const events: KeyProviderEvent[] = []
    const cache = new KeyCache({ maxAgeMs: 30 }, { name: 'sweep', observers: [{ keyProvider: (e) => events.push(e) }] })
    const key = Buffer.alloc(32, 7)
    await cache.use(
      'a',
      async () => key,
      () => undefined,
    )
    expect(cache.size).toBe(1)
    await new Promise((r) => setTimeout(r, 80))
    expect(cache.size).toBe(0)
    expect(zeroed(key)).toBe(true)
    expect(events.at(-1)).toEqual({ type: 'cache', cache: 'sweep', result: 'eviction' })
  })

  it('clear zeroes everything; an observer that throws changes nothing', async () => {
    const cache = new KeyCache(
      {},
      {
        name: 'x',
        observers: [
          {
            keyProvider: () => {
              throw new Error('broken observer')
            },
          },
        ],
      },
    )
    const keys = [Buffer.alloc(32, 1), Buffer.alloc(32, 2)]
    await cache.use(
      'a',
      async () => keys[0]!,
      () => undefined,
    )
    await cache.use(
      'b',
      async () => keys[1]!,
      () => undefined,
    )
    cache.clear()
    expect(cache.size).toBe(0)
    expect(keys.every(zeroed)).toBe(true)
  })
})

describe('KeyCache recency, against a reference LRU', () => {
  // Any sequence of use and peek calls on a few ids: the keys the cache holds and the ones it has
  // zeroed are the ones a plain most-recently-used list says, after every call.
  it('holds and evicts what a least-recently-used list would', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('use', 'peek'), fc.constantFrom('a', 'b', 'c', 'd')), { maxLength: 40 }), async (calls) => {
        const { cache, load, copy, loaded } = setup({ maxEntries: 2 })
        const keyOf: string[] = [] // the id of each loaded key, by load
        let lru: string[] = [] // the reference, least recently used first
        for (const [op, id] of calls) {
          if (op === 'peek') {
            const hit = cache.peek(id, copy)
            expect(hit !== undefined).toBe(lru.includes(id))
            if (hit !== undefined) lru = [...lru.filter((x) => x !== id), id]
            continue
          }
          const before = loaded.length
          await cache.use(id, load(1), copy)
          if (loaded.length > before) keyOf.push(id)
          lru = [...lru.filter((x) => x !== id), id]
          if (lru.length > 2) lru = lru.slice(1)
          // The latest key of each id is live exactly when the reference holds the id.
          const live = new Set(loaded.map((k, i) => (zeroed(k) ? undefined : keyOf[i])).filter((x) => x !== undefined))
          expect([...live].sort()).toEqual([...lru].sort())
        }
      }),
      { numRuns: 300 },
    )
  })
})
