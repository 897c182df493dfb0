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
    // The slot's earlier frame is left out of the new chain (it is shadowed anyway): a slot is in
    // a chain at most once, so work that runs itself again from inside its own run (a poller in a
    // tenant scope) neither grows the chain nor keeps old values alive.
    return s.run({ slot: this, value, up: without(s.getStore(), this) }, fn)
  }
}

/** `chain` without the frame of `slot`: shared as it is when the slot is not in it, else the frames above it copied. */
function without(chain: Frame | undefined, slot: object): Frame | undefined {
  let found = false
  for (let f = chain; f !== undefined; f = f.up) {
    if (f.slot === slot) {
      found = true
      break
    }
  }
  if (!found) return chain
  const above: Frame[] = []
  let f = chain!
  for (; f.slot !== slot; f = f.up!) above.push(f)
  let rest = f.up
  for (let i = above.length - 1; i >= 0; i--) rest = { slot: above[i]!.slot, value: above[i]!.value, up: rest }
  return rest
}

/** @internal The number of frames in the current async context (each slot at most once). */
export function contextFrames(): number {
  let n = 0
  for (let f = storage?.getStore(); f !== undefined; f = f.up) n++
  return n
}
