// An in-memory cache of plaintext keys (tenant intermediate keys, data keys) for key providers.
// Bounded in entries, age and uses; single-flight (concurrent misses for one id share one load);
// keys are zeroed when they leave the cache. Key bytes never leave it except through `use`, whose
// callback borrows them synchronously.
import { zero } from '../crypto/aes-gcm'
import { notifyKeyProvider, type RowcryptObserver } from '../metrics/observer'
import { ConfigError } from '../errors'

/**
 * Limits of a {@link KeyCache}; also the `cache` option of `AwsKmsKeyProvider`.
 *
 * @example
 * ```ts
 * const cache: Partial<KeyCacheOptions> = { maxEntries: 5_000, maxAgeMs: 60_000 }
 * ```
 */
export interface KeyCacheOptions {
  /** Most keys held at once; the least recently used is evicted beyond it. */
  maxEntries: number
  /** How long a key may be served after it was loaded, in milliseconds. `0` keeps nothing (single-flight only). */
  maxAgeMs: number
  /** How many lookups one loaded key may serve before it is evicted and loaded again. */
  maxUses: number
}

/**
 * Defaults of the tenant-key cache (hierarchical mode). A tenant key is re-read from the store and
 * unwrapped by KMS at least every 5 minutes, so disabling a KMS key, revoking access or shredding a
 * tenant in another process takes effect within 5 minutes; 1,000 tenants stay warm at once.
 *
 * @example
 * ```ts
 * new AwsKmsKeyProvider({ ...options, cache: { ...TENANT_KEY_CACHE_DEFAULTS, maxEntries: 10_000 } })
 * ```
 */
export const TENANT_KEY_CACHE_DEFAULTS: Readonly<KeyCacheOptions> = Object.freeze({ maxEntries: 1000, maxAgeMs: 5 * 60_000, maxUses: 1_000_000 })

/**
 * Defaults of the data-key cache (direct mode): nothing is kept after a load (`maxAgeMs: 0`), so
 * every row read is one KMS `Decrypt` (and one audit record), except that identical wrapped keys
 * requested at the same time (one result set) share one call.
 *
 * @example
 * ```ts
 * new AwsKmsKeyProvider({ ...options, mode: 'direct', cache: { ...DATA_KEY_CACHE_DEFAULTS, maxAgeMs: 30_000, maxUses: 100 } })
 * ```
 */
export const DATA_KEY_CACHE_DEFAULTS: Readonly<KeyCacheOptions> = Object.freeze({ maxEntries: 1000, maxAgeMs: 0, maxUses: 1 })

interface Entry {
  readonly key: Uint8Array
  readonly loadedAt: number
  readonly tags: readonly string[]
  uses: number
  /** Callers still holding the key (waiters of the load that made it). */
  refs: number
  evicted: boolean
}

interface Flight {
  readonly promise: Promise<Entry>
  waiters: number
}

/** @internal Construction options beyond the limits. */
export interface KeyCacheSetup {
  /** Cache name in `cache` events: `tenant-key`, `data-key`. */
  name: string
  observers?: readonly RowcryptObserver[]
  /** Milliseconds clock; tests inject one. */
  now?: () => number
  /** Called with each key as it is zeroed (to release what was derived from it). */
  onZero?: (key: Uint8Array) => void
}

/**
 * A bounded, single-flight cache of plaintext keys. Used by {@link AwsKmsKeyProvider}; usable by
 * any custom key provider.
 *
 * - `maxEntries`: least recently used keys are evicted beyond it;
 * - `maxAgeMs`: a key is never served longer than this after its load; expired keys are also swept
 *   by an unreferenced timer, so they do not linger in memory;
 * - `maxUses`: a key serves at most this many lookups, then is loaded again;
 * - single-flight: concurrent lookups of an id that is not cached share one `load`;
 * - every key leaving the cache (eviction, expiry, `clear`) is overwritten with zeros once no
 *   caller still borrows it. JavaScript cannot promise no other copy exists; this removes ours.
 *
 * Reports `hit` / `miss` / `eviction` events to observers (a lookup that joins a load already in
 * flight is a `hit`: it causes no KMS call).
 *
 * @example
 * ```ts
 * const cache = new KeyCache({ maxEntries: 100, maxAgeMs: 60_000, maxUses: 10_000 }, { name: 'vault-key' })
 * const wrapped = await cache.use(`tenant:${tenantId}`, () => vault.unwrapTenantKey(tenantId), (key) => wrapLocally(key, dek))
 * ```
 */
export class KeyCache {
  readonly options: Readonly<KeyCacheOptions>
  readonly #name: string
  readonly #observers: readonly RowcryptObserver[]
  readonly #now: () => number
  readonly #onZero: ((key: Uint8Array) => void) | undefined
  readonly #entries = new Map<string, Entry>()
  readonly #flights = new Map<string, Flight>()
  #timer: NodeJS.Timeout | undefined
  #generation = 0
  // The id last set in `#entries` (its most recently used entry while it is there): a hit on it
  // keeps the order as it is instead of moving the entry to the end again.
  #newest: string | undefined

  constructor(options: Partial<KeyCacheOptions> | undefined, setup: KeyCacheSetup, defaults: Readonly<KeyCacheOptions> = TENANT_KEY_CACHE_DEFAULTS) {
    const o = { ...defaults, ...stripUndefined(options ?? {}) }
    checkLimit('maxEntries', o.maxEntries, 1)
    checkLimit('maxAgeMs', o.maxAgeMs, 0)
    checkLimit('maxUses', o.maxUses, 1)
    this.options = Object.freeze(o)
    this.#name = setup.name
    this.#observers = setup.observers ?? []
    this.#now = setup.now ?? (() => performance.now())
    this.#onZero = setup.onZero
  }

  /** Keys currently held. */
  get size(): number {
    return this.#entries.size
  }

  /**
   * Runs `fn` with the key of `id`, loading it with `load` on a miss (one load for concurrent
   * misses). `fn` runs synchronously and must not keep the key: copy it to keep it. The key `load`
   * resolves to becomes the cache's (it is zeroed on eviction); `tags` label the entry for
   * {@link KeyCache.evictTagged}.
   */
  async use<T>(id: string, load: () => Promise<Uint8Array>, fn: (key: Uint8Array) => T, tags: readonly string[] = []): Promise<T> {
    const hit = this.peek(id, fn)
    if (hit !== undefined) return hit.value
    let flight = this.#flights.get(id)
    if (flight !== undefined) this.#event('hit')
    else {
      this.#event('miss')
      flight = this.#load(id, load, tags)
    }
    flight.waiters++
    const entry = await flight.promise
    try {
      return fn(entry.key)
    } finally {
      this.#release(entry)
    }
  }

  /**
   * The hit path of {@link KeyCache.use}, synchronously: `{ value: fn(key) }` when `id` is cached
   * and fresh (counted as a use and a `hit`), else `undefined`, with no load and no event (the
   * caller then calls `use`, which records the miss).
   */
  peek<T>(id: string, fn: (key: Uint8Array) => T): { value: T } | undefined {
    const cached = this.#fresh(id)
    if (cached === undefined) return undefined
    cached.uses++
    if (id !== this.#newest) {
      this.#entries.delete(id)
      this.#entries.set(id, cached)
      this.#newest = id
    }
    this.#event('hit')
    try {
      return { value: fn(cached.key) }
    } finally {
      if (cached.uses >= this.options.maxUses) this.#evict(id, cached)
    }
  }

  /** Evicts (and zeroes) every key carrying `tag`, and makes loads in flight for it not cached. Returns how many were held. */
  evictTagged(tag: string): number {
    let n = 0
    for (const [id, e] of [...this.#entries]) {
      if (e.tags.includes(tag)) {
        this.#evict(id, e)
        n++
      }
    }
    // A load that started before this call must not repopulate the cache afterwards.
    this.#generation++
    return n
  }

  /** Evicts (and zeroes) every key. */
  clear(): void {
    for (const [id, e] of [...this.#entries]) this.#evict(id, e)
    this.#generation++
  }

  #fresh(id: string): Entry | undefined {
    const e = this.#entries.get(id)
    if (e === undefined) return undefined
    if (this.#expired(e)) {
      this.#evict(id, e)
      return undefined
    }
    return e
  }

  #expired(e: Entry): boolean {
    return this.#now() - e.loadedAt >= this.options.maxAgeMs
  }

  #load(id: string, load: () => Promise<Uint8Array>, tags: readonly string[]): Flight {
    const generation = this.#generation
    const flight = { waiters: 0 } as { waiters: number; promise: Promise<Entry> }
    flight.promise = (async () => {
      let key: Uint8Array
      try {
        key = await load()
      } finally {
        this.#flights.delete(id)
      }
      // Every waiter joined before this point (the flight is gone from the map now).
      const entry: Entry = { key, loadedAt: this.#now(), tags, uses: flight.waiters, refs: flight.waiters, evicted: false }
      const keep = this.options.maxAgeMs > 0 && entry.uses < this.options.maxUses && generation === this.#generation
      if (keep) this.#insert(id, entry)
      else entry.evicted = true
      return entry
    })()
    this.#flights.set(id, flight)
    return flight
  }

  #insert(id: string, entry: Entry): void {
    const old = this.#entries.get(id)
    if (old !== undefined) this.#evict(id, old)
    this.#entries.set(id, entry)
    this.#newest = id
    while (this.#entries.size > this.options.maxEntries) {
      const [oldestId, oldest] = this.#entries.entries().next().value as [string, Entry]
      this.#evict(oldestId, oldest)
    }
    this.#schedule()
  }

  #evict(id: string, e: Entry): void {
    if (this.#entries.get(id) === e) this.#entries.delete(id)
    if (e.evicted) return
    e.evicted = true
    this.#event('eviction')
    if (e.refs === 0) this.#zero(e.key)
    if (this.#entries.size === 0) this.#unschedule()
  }

  #release(e: Entry): void {
    e.refs--
    if (e.refs === 0 && e.evicted) this.#zero(e.key)
  }

  #zero(key: Uint8Array): void {
    this.#onZero?.(key)
    zero(key)
  }

  // One unreferenced timer, due when the oldest key expires: expired keys are zeroed even when
  // nothing looks them up, and the timer never keeps the process alive.
  #schedule(): void {
    if (this.#timer !== undefined || this.#entries.size === 0) return
    let oldest = Infinity
    for (const e of this.#entries.values()) oldest = Math.min(oldest, e.loadedAt)
    const due = Math.max(0, oldest + this.options.maxAgeMs - this.#now())
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined
        for (const [id, e] of [...this.#entries]) if (this.#expired(e)) this.#evict(id, e)
        this.#schedule()
      },
      Math.min(due + 1, 2 ** 31 - 1),
    )
    this.#timer.unref()
  }

  #unschedule(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #event(result: 'hit' | 'miss' | 'eviction'): void {
    if (this.#observers.length > 0) notifyKeyProvider(this.#observers, { type: 'cache', cache: this.#name, result })
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

function checkLimit(name: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new ConfigError(`key cache: ${name} must be an integer >= ${min}`)
  }
}
