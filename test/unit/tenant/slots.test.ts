// ContextSlot: one value per async context per slot, every slot in one AsyncLocalStorage.
import { AsyncLocalStorage } from 'node:async_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { ContextSlot, contextFrames } from '../../../src/tenant/slots'
import { currentTenant, unsafeBypassTenantScope, withTenant } from '../../../src/tenant/context'

describe('ContextSlot', () => {
  it('holds nothing outside a run', () => {
    expect(new ContextSlot<string>().getStore()).toBeUndefined()
  })

  it('holds the value inside the run and in the async work it starts, and nothing after', async () => {
    const slot = new ContextSlot<string>()
    const seen = await slot.run('a', async () => {
      const now = slot.getStore()
      await sleep(1)
      const later = slot.getStore()
      const timer = await new Promise<string | undefined>((r) => setTimeout(() => r(slot.getStore()), 1))
      return [now, later, timer]
    })
    expect(seen).toEqual(['a', 'a', 'a'])
    expect(slot.getStore()).toBeUndefined()
  })

  it('nests: the inner run replaces the value for the inner call only', () => {
    const slot = new ContextSlot<number>()
    const seen = slot.run(1, () => [slot.getStore(), slot.run(2, () => slot.getStore()), slot.getStore()])
    expect(seen).toEqual([1, 2, 1])
  })

  it('keeps slots apart: a run of one leaves the others as they were', () => {
    const a = new ContextSlot<string>()
    const b = new ContextSlot<string>()
    const seen = a.run('a1', () => b.run('b1', () => a.run('a2', () => [a.getStore(), b.getStore()])))
    expect(seen).toEqual(['a2', 'b1'])
    expect(b.run('b', () => a.getStore())).toBeUndefined()
  })

  it('holds each slot once in a chain: work that runs itself again from inside its own run does not grow it', async () => {
    const a = new ContextSlot<number>()
    const b = new ContextSlot<number>()
    // A poller that schedules its next round from inside the scope of the last one.
    const rounds = (n: number): Promise<number[]> =>
      a.run(n, () =>
        b.run(n + 100, async () => {
          await sleep(0)
          return n === 0 ? [contextFrames(), a.getStore()!, b.getStore()!] : rounds(n - 1)
        }),
      )
    expect(await rounds(5000)).toEqual([2, 0, 100])
    // The order of other slots' frames is kept when one in the middle is run again.
    const c = new ContextSlot<string>()
    const seen = a.run(1, () => b.run(2, () => c.run('x', () => a.run(3, () => [contextFrames(), a.getStore(), b.getStore(), c.getStore()]))))
    expect(seen).toEqual([3, 3, 2, 'x'])
  })

  it('keeps concurrent runs apart', async () => {
    const slot = new ContextSlot<number>()
    const seen = await Promise.all(
      [1, 2, 3, 4].map((n) =>
        slot.run(n, async () => {
          await sleep(5 - n)
          return slot.getStore()
        }),
      ),
    )
    expect(seen).toEqual([1, 2, 3, 4])
  })

  it('runs every slot and the tenant scope in a single AsyncLocalStorage', async () => {
    const used = new Set<unknown>()
    const original = AsyncLocalStorage.prototype.run
    AsyncLocalStorage.prototype.run = function (this: AsyncLocalStorage<unknown>, ...args: Parameters<typeof original>) {
      used.add(this)
      return original.apply(this, args)
    } as typeof original
    try {
      const slots = Array.from({ length: 20 }, () => new ContextSlot<number>())
      const values = await withTenant('t1', () => Promise.all(slots.map((s, i) => s.run(i, async () => [currentTenant(), s.getStore()]))))
      expect(values).toEqual(slots.map((_, i) => ['t1', i]))
      expect(unsafeBypassTenantScope('test', () => currentTenant())).toBeUndefined()
    } finally {
      AsyncLocalStorage.prototype.run = original
    }
    expect(used.size).toBe(1)
  })
})
