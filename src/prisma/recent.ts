// A bounded map of recent entries for the query path's caches.

/**
 * @internal A map that keeps the `max` most recently set entries (and at most `2 * max`): two
 * generations of up to `max` entries; when the current one fills, it becomes the previous one and
 * the older generation is dropped whole. Every operation is O(1) with no per-entry eviction (a
 * `Map` used as an LRU queue deletes from its front on every insert, leaving V8 tombstones to skip).
 *
 * @example
 * ```ts
 * const recent = new Recent<string, number>(4)
 * recent.set('a', 1)
 * recent.get('a') // 1
 * ```
 */
export class Recent<K, V> {
  #current = new Map<K, V>()
  #previous = new Map<K, V>()
  readonly #generation: number

  constructor(max: number) {
    this.#generation = Math.max(1, Math.floor(max))
  }

  /** The entry last set for `key`, if it is still held. */
  get(key: K): V | undefined {
    const v = this.#current.get(key)
    return v !== undefined ? v : this.#previous.get(key)
  }

  /** The entry for `key` if it was set in the current generation (one that will outlive the next turnover). */
  recent(key: K): V | undefined {
    return this.#current.get(key)
  }

  set(key: K, value: V): void {
    this.#current.set(key, value)
    if (this.#current.size >= this.#generation) {
      this.#previous = this.#current
      this.#current = new Map()
    }
  }

  delete(key: K): void {
    this.#current.delete(key)
    this.#previous.delete(key)
  }

  /** How many entries are held (at most `2 * max`; a key set in both generations counts twice). */
  get size(): number {
    return this.#current.size + this.#previous.size
  }
}
