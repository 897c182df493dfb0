// Values carried along async calls (the tenant scope, each extended client's transaction, its own
// reads), all in ONE AsyncLocalStorage per process. Node.js (before AsyncContextFrame) copies the
// store of every AsyncLocalStorage that has ever run onto each new promise and never forgets one,
// so a storage per extended client would make every promise of the application slower for each
// client ever used, and for good. Here a slot is a plain object: a run pushes a frame (slot,
// value) onto the chain the context holds, and a read finds the innermost frame of its slot.
import { AsyncLocalStorage } from 'node:async_hooks'

interface Frame {
  readonly slot: object
  readonly value: unknown
  readonly up: Frame | undefined
}

// Created on first use, so that importing rowcrypt has no side effect.
let storage: AsyncLocalStorage<Frame> | undefined

/**
 * @internal One value per async context, like an `AsyncLocalStorage` of its own: `run` makes
 * `value` current for `fn` and the async work it starts, nesting replaces it for the inner call
 * only, and slots never see each other's values.
 */
export class ContextSlot<T> {
  /** The value of the innermost `run` of this slot around the current async context. */
  getStore(): T | undefined {
    for (let f = storage?.getStore(); f !== undefined; f = f.up) if (f.slot === this) return f.value as T
    return undefined
  }

  /** Runs `fn` with `value` current in this slot; returns what `fn` returns. */
  run<R>(value: T, fn: () => R): R {
    const s = (storage ??= new AsyncLocalStorage<Frame>())
    return s.run({ slot: this, value, up: s.getStore() }, fn)
  }
}
