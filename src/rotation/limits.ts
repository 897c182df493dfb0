// Throttles for maintenance jobs: a token bucket for key-provider (KMS) requests per second, and a
// bounded parallel map. Nothing runs at import time.
import { ConfigError } from '../errors'

/** @internal A token bucket: `rate` tokens per second, bursts of a tenth of a second's worth (at least 1). */
export class RateLimiter {
  readonly #rate: number
  readonly #capacity: number
  #tokens: number
  #last: number
  #queue: Promise<void> = Promise.resolve()

  constructor(rate: number) {
    this.#rate = rate
    this.#capacity = Math.max(1, Math.ceil(rate / 10))
    this.#tokens = this.#capacity
    this.#last = performance.now()
  }

  /** Resolves when `n` tokens were taken; callers are served in order. */
  take(n = 1): Promise<void> {
    const turn = this.#queue.then(async () => {
      for (;;) {
        const now = performance.now()
        this.#tokens = Math.min(this.#capacity, this.#tokens + ((now - this.#last) / 1000) * this.#rate)
        this.#last = now
        if (this.#tokens >= n || (this.#tokens >= this.#capacity && n > this.#capacity)) {
          this.#tokens -= n
          return
        }
        const waitMs = ((Math.min(n, this.#capacity) - this.#tokens) / this.#rate) * 1000
        await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.ceil(waitMs))))
      }
    })
    this.#queue = turn
    return turn
  }
}

/** @internal Runs `fn` over `items` with at most `limit` calls in flight; results in input order. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const worker = async () => {
    for (;;) {
      const i = next++
      if (i >= items.length) return
      results[i] = await fn(items[i]!, i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

/** @internal Checks an optional positive integer option. */
export function positiveInteger(value: number | undefined, fallback: number, name: string, caller: string): number {
  const n = value ?? fallback
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${caller}: ${name} must be a positive integer`)
  return n
}

/** @internal Checks an optional positive rate (requests per second); undefined means no limit. */
export function positiveRate(value: number | undefined, name: string, caller: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new ConfigError(`${caller}: ${name} must be a positive number`)
  return value
}

/** @internal Resolves on the next turn of the event loop, after pending timers and I/O callbacks. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
