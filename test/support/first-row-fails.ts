// A provider for reads that wait for a key while another row fails: it delegates to `inner`, except
// that it never answers synchronously, the first unwrap fails at once (DecryptionError), and the
// first preparation is refused while each later one takes `prepareMs`.
import { DecryptionError, type BindingContext, type KeyProvider, type LocalKeyProvider } from '../../src'

export function firstRowFails(inner: LocalKeyProvider, prepareMs: number): KeyProvider & { readonly prepares: number; readonly unwraps: number } {
  let prepares = 0
  let unwraps = 0
  return {
    get activeKeyVersion() {
      return inner.activeKeyVersion
    },
    get prepares() {
      return prepares
    },
    get unwraps() {
      return unwraps
    },
    generateDataKey: (c: BindingContext) => inner.generateDataKey(c),
    wrapDataKey: (k: Uint8Array, c: BindingContext, v?: string) => inner.wrapDataKey(k, c, v),
    unwrapDataKey: async (w: Uint8Array, v: string, c: BindingContext) => {
      if (unwraps++ === 0) throw new DecryptionError()
      return inner.unwrapDataKey(w, v, c)
    },
    unwrapDataKeySync: () => undefined,
    prepareUnwrapSync: () => (prepares++ === 0 ? undefined : new Promise<void>((r) => setTimeout(r, prepareMs))),
  }
}
