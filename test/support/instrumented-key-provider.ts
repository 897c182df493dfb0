// A stand-in for a KMS-backed key provider: delegates to a LocalKeyProvider, reports each call as
// a `kms-request` event and keeps a small unwrap cache that reports hits, misses and evictions,
// as the AWS KMS provider does through its `observers`. Every event is also kept in `log`.
import type { BindingContext, GeneratedDataKey, KeyProvider, KeyProviderEvent, RowcryptObserver } from '../../src'
import { notifyKeyProvider } from '../../src/metrics/observer'

export class InstrumentedKeyProvider implements KeyProvider {
  readonly log: KeyProviderEvent[] = []
  readonly #cache = new Map<string, Uint8Array>()

  constructor(
    private readonly inner: KeyProvider,
    private readonly observers: readonly RowcryptObserver[],
    private readonly cacheSize = 2,
  ) {}

  get activeKeyVersion(): string {
    return this.inner.activeKeyVersion
  }

  generateDataKey(context: BindingContext): Promise<GeneratedDataKey> {
    return this.#request('GenerateDataKey', () => this.inner.generateDataKey(context))
  }

  wrapDataKey(plaintextKey: Uint8Array, context: BindingContext, keyVersion?: string): Promise<{ wrappedKey: Uint8Array; keyVersion: string }> {
    return this.#request('Encrypt', () => this.inner.wrapDataKey(plaintextKey, context, keyVersion))
  }

  async unwrapDataKey(wrappedKey: Uint8Array, keyVersion: string, context: BindingContext): Promise<Uint8Array> {
    // The binding is part of the cache key: a wrapped key moved to another row never hits.
    const key = `${keyVersion}|${Buffer.from(wrappedKey).toString('hex')}|${JSON.stringify(context)}`
    const cached = this.#cache.get(key)
    if (cached !== undefined) {
      this.#emit({ type: 'cache', cache: 'data-key', result: 'hit' })
      return new Uint8Array(cached)
    }
    this.#emit({ type: 'cache', cache: 'data-key', result: 'miss' })
    const plain = await this.#request('Decrypt', () => this.inner.unwrapDataKey(wrappedKey, keyVersion, context))
    this.#cache.set(key, new Uint8Array(plain))
    if (this.#cache.size > this.cacheSize) {
      this.#cache.delete(this.#cache.keys().next().value as string)
      this.#emit({ type: 'cache', cache: 'data-key', result: 'eviction' })
    }
    return plain
  }

  async #request<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now()
    try {
      const result = await fn()
      this.#emit({ type: 'kms-request', operation, outcome: 'ok', durationMs: performance.now() - started, attempts: 1 })
      return result
    } catch (e) {
      this.#emit({ type: 'kms-request', operation, outcome: 'error', durationMs: performance.now() - started, attempts: 1 })
      throw e
    }
  }

  #emit(event: KeyProviderEvent): void {
    this.log.push(event)
    notifyKeyProvider(this.observers, event)
  }
}
