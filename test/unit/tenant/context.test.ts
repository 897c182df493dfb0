import { EventEmitter } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { assertTenantId, currentScope, currentTenant, unsafeBypassTenantScope, withTenant } from '../../../src/tenant/context'
import * as publicApi from '../../../src'
import { InvalidTenantError, RowcryptError } from '../../../src/errors'
import { prng } from '../../support/markers'

const tick = () => new Promise<void>((r) => setImmediate(r))

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (e) {
    return e instanceof RowcryptError ? e.code : `non-rowcrypt ${String(e)}`
  }
  return undefined
}

describe('withTenant / currentTenant', () => {
  it('is what the public entry point exports', () => {
    expect(publicApi.withTenant).toBe(withTenant)
    expect(publicApi.currentTenant).toBe(currentTenant)
    expect(publicApi.unsafeBypassTenantScope).toBe(unsafeBypassTenantScope)
  })

  it('has no tenant outside any scope', () => {
    expect(currentTenant()).toBeUndefined()
    expect(currentScope()).toBeUndefined()
  })

  it('runs a sync function with the tenant, returns its value and restores afterwards', () => {
    const seen: Array<string | undefined> = []
    const result = withTenant('tenant_a', () => {
      seen.push(currentTenant())
      return 42
    })
    expect(result).toBe(42)
    expect(seen).toEqual(['tenant_a'])
    expect(currentTenant()).toBeUndefined()
  })

  it('passes non-thenable values through unchanged, including objects with a non-function then', () => {
    const obj = { then: 5 }
    expect(withTenant('t', () => obj)).toBe(obj)
    expect(withTenant('t', () => null)).toBeNull()
    expect(withTenant('t', () => undefined)).toBeUndefined()
    const fn = () => 1
    expect(withTenant('t', () => fn)).toBe(fn)
  })

  it('restores the tenant when a sync function throws, and rethrows the same error', () => {
    const boom = new Error('boom')
    expect(() =>
      withTenant('t', () => {
        throw boom
      }),
    ).toThrow(boom)
    expect(currentTenant()).toBeUndefined()
  })

  it('nests: the inner tenant replaces the outer one for the inner call only', () => {
    const seen: Array<string | undefined> = []
    withTenant('outer', () => {
      seen.push(currentTenant())
      withTenant('inner', () => {
        seen.push(currentTenant())
        withTenant('innermost', () => seen.push(currentTenant()))
        seen.push(currentTenant())
      })
      seen.push(currentTenant())
    })
    seen.push(currentTenant())
    expect(seen).toEqual(['outer', 'inner', 'innermost', 'inner', 'outer', undefined])
  })

  it('runs an async function with the tenant across awaits and restores afterwards', async () => {
    const seen: Array<string | undefined> = []
    const result = await withTenant('tenant_async', async () => {
      seen.push(currentTenant())
      await Promise.resolve()
      seen.push(currentTenant())
      await sleep(5)
      seen.push(currentTenant())
      await tick()
      seen.push(currentTenant())
      return 'done'
    })
    expect(result).toBe('done')
    expect(seen).toEqual(Array(4).fill('tenant_async'))
    expect(currentTenant()).toBeUndefined()
  })

  it('nests across awaits', async () => {
    const seen: Array<string | undefined> = []
    await withTenant('a', async () => {
      await sleep(1)
      await withTenant('b', async () => {
        await sleep(1)
        seen.push(currentTenant())
      })
      seen.push(currentTenant())
      await sleep(1)
      seen.push(currentTenant())
    })
    expect(seen).toEqual(['b', 'a', 'a'])
    expect(currentTenant()).toBeUndefined()
  })

  it('propagates rejections and restores the tenant', async () => {
    const boom = new Error('async boom')
    await expect(
      withTenant('t', async () => {
        await sleep(1)
        throw boom
      }),
    ).rejects.toBe(boom)
    expect(currentTenant()).toBeUndefined()
  })

  it('subscribes to a lazy thenable inside the scope (Prisma queries are lazy)', async () => {
    let thenCalls = 0
    const lazy = {
      then<R>(resolve: (v: string | undefined) => R) {
        thenCalls++
        return resolve(currentTenant())
      },
    }
    const p = withTenant('tenant_lazy', () => lazy as PromiseLike<string | undefined>)
    expect(p).toBeInstanceOf(Promise)
    expect(thenCalls).toBe(1)
    expect(await p).toBe('tenant_lazy')
    expect(currentTenant()).toBeUndefined()
  })

  it('keeps the tenant for work a lazy thenable starts asynchronously', async () => {
    const lazy: PromiseLike<string | undefined> = {
      then(resolve, reject) {
        return new Promise<string | undefined>((res) => setTimeout(() => res(currentTenant()), 2)).then(resolve, reject) as never
      },
    }
    expect(await withTenant('tenant_deferred', () => lazy)).toBe('tenant_deferred')
  })

  it('propagates a lazy thenable rejection', async () => {
    const err = new Error('query failed')
    const lazy: PromiseLike<never> = {
      then(_resolve, reject) {
        reject?.(err)
        return undefined as never
      },
    }
    await expect(withTenant('t', () => lazy)).rejects.toBe(err)
  })

  it("calls a lazy thenable's then before withTenant returns, inside the scope", async () => {
    // Without the eager subscription, `.then` would run after withTenant returned.
    let seenInThen: string | undefined = 'not called'
    const lazy = {
      then(resolve: (v: number) => void) {
        seenInThen = currentTenant()
        resolve(1)
      },
    }
    const p = withTenant('tenant_x', () => lazy as unknown as PromiseLike<number>)
    expect(seenInThen).toBe('tenant_x')
    await p
    expect(seenInThen).toBe('tenant_x')
  })

  it('carries the tenant into timers, immediates, nextTick, microtasks and event listeners started inside', async () => {
    const seen: Record<string, string | undefined> = {}
    const emitter = new EventEmitter()
    const done = withTenant('tenant_cb', () => {
      const all = [
        new Promise<void>((r) => setTimeout(() => ((seen.timeout = currentTenant()), r()), 3)),
        new Promise<void>((r) => setImmediate(() => ((seen.immediate = currentTenant()), r()))),
        new Promise<void>((r) => process.nextTick(() => ((seen.nextTick = currentTenant()), r()))),
        new Promise<void>((r) => queueMicrotask(() => ((seen.microtask = currentTenant()), r()))),
      ]
      return all
    })
    // The listener is registered outside; it sees the emitter's caller's context, not a leaked one.
    emitter.on('ev', () => (seen.listenerOutside = currentTenant()))
    withTenant('tenant_emit', () => emitter.emit('ev'))
    await Promise.all(done)
    expect(seen).toEqual({ timeout: 'tenant_cb', immediate: 'tenant_cb', nextTick: 'tenant_cb', microtask: 'tenant_cb', listenerOutside: 'tenant_emit' })
    expect(currentTenant()).toBeUndefined()
  })

  it('isolates many interleaved concurrent tasks: each sees only its own tenant', async () => {
    const rand = prng(0xc0ffee)
    const violations: string[] = []
    let checks = 0
    const check = (expected: string, where: string) => {
      checks++
      const actual = currentTenant()
      if (actual !== expected) violations.push(`${where}: expected ${expected}, saw ${String(actual)}`)
    }
    const randomWait = async () => {
      const r = rand()
      if (r < 0.25) await Promise.resolve()
      else if (r < 0.5) await tick()
      else if (r < 0.75) await sleep(Math.floor(rand() * 4))
      else await new Promise<void>((res) => process.nextTick(res))
    }

    const task = async (i: number) => {
      const tenant = `tenant_${i % 37}_${i}`
      return withTenant(tenant, async () => {
        for (let step = 0; step < 6; step++) {
          check(tenant, `task ${i} step ${step}`)
          await randomWait()
          if (rand() < 0.2) {
            const nested = `${tenant}/nested${step}`
            await withTenant(nested, async () => {
              check(nested, `task ${i} nested ${step}`)
              await randomWait()
              check(nested, `task ${i} nested ${step} after wait`)
            })
          }
          check(tenant, `task ${i} step ${step} after wait`)
        }
        // Fan out inside the scope: every child inherits this task's tenant.
        await Promise.all([0, 1, 2].map(async (k) => (await randomWait(), check(tenant, `task ${i} child ${k}`))))
        return tenant
      })
    }

    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => task(i)))
    expect(results).toEqual(Array.from({ length: 300 }, (_, i) => `tenant_${i % 37}_${i}`))
    expect(violations).toEqual([])
    expect(checks).toBeGreaterThan(300 * 12)
    expect(currentTenant()).toBeUndefined()
  })

  it('interleaves sync and async scopes started from the same tick', async () => {
    const a = withTenant('A', async () => {
      await sleep(3)
      return currentTenant()
    })
    const b = withTenant('B', () => currentTenant())
    const c = withTenant('C', async () => {
      await sleep(1)
      return currentTenant()
    })
    expect(b).toBe('B')
    expect(await Promise.all([a, c])).toEqual(['A', 'C'])
  })

  it.each<[string, unknown]>([
    ['empty string', ''],
    ['number', 42],
    ['null', null],
    ['undefined', undefined],
    ['object', { id: 'a' }],
    ['String object', new String('a')],
    ['300 characters', 'x'.repeat(300)],
    ['257 characters', 'x'.repeat(257)],
    // UTF-8 writes both as U+FFFD: two ids would name one tenant.
    ['a lone high surrogate', 'a\uD800'],
    ['a lone low surrogate', '\uDFFDb'],
  ])('rejects a tenant id that is %s with ERR_ROWCRYPT_TENANT_INVALID, without running fn', (_name, id) => {
    const fn = jest.fn((): void => undefined)
    let err: unknown
    try {
      withTenant(id as string, fn)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(InvalidTenantError)
    expect((err as InvalidTenantError).code).toBe('ERR_ROWCRYPT_TENANT_INVALID')
    expect(fn).not.toHaveBeenCalled()
    expect(currentTenant()).toBeUndefined()
  })

  it('rejects an invalid id synchronously even for async functions (no stray promise)', () => {
    expect(codeOf(() => withTenant('', async () => 1))).toBe('ERR_ROWCRYPT_TENANT_INVALID')
  })

  it('accepts 256 characters, one character, and any characters', () => {
    expect(withTenant('x'.repeat(256), () => currentTenant())).toHaveLength(256)
    expect(withTenant('a', () => currentTenant())).toBe('a')
    expect(withTenant('テナント 🏢 / ; =', () => currentTenant())).toBe('テナント 🏢 / ; =')
  })

  it('assertTenantId accepts valid ids and rejects invalid ones', () => {
    expect(codeOf(() => assertTenantId('ok'))).toBeUndefined()
    expect(codeOf(() => assertTenantId(''))).toBe('ERR_ROWCRYPT_TENANT_INVALID')
    expect(codeOf(() => assertTenantId(1))).toBe('ERR_ROWCRYPT_TENANT_INVALID')
  })
})

describe('unsafeBypassTenantScope', () => {
  it.each<[string, unknown]>([
    ['empty', ''],
    ['whitespace only', '  \n\t'],
    ['undefined', undefined],
    ['null', null],
    ['a number', 1],
  ])('requires a reason (%s gives ERR_ROWCRYPT_TENANT_INVALID, fn not run)', (_name, reason) => {
    const fn = jest.fn()
    expect(codeOf(() => unsafeBypassTenantScope(reason as string, fn))).toBe('ERR_ROWCRYPT_TENANT_INVALID')
    expect(fn).not.toHaveBeenCalled()
  })

  it('switches the tenant off and records the reason, then restores the tenant', async () => {
    await withTenant('tenant_a', async () => {
      const inside = await unsafeBypassTenantScope('nightly export', async () => {
        await sleep(1)
        return { tenant: currentTenant(), reason: currentScope()?.bypass?.reason }
      })
      expect(inside).toEqual({ tenant: undefined, reason: 'nightly export' })
      expect(currentTenant()).toBe('tenant_a')
      expect(currentScope()?.bypass).toBeUndefined()
    })
  })

  it('returns sync values and lets withTenant inside it scope again (without bypass)', () => {
    const result = unsafeBypassTenantScope('maintenance', () => withTenant('t', () => ({ tenant: currentTenant(), bypass: currentScope()?.bypass })))
    expect(result).toEqual({ tenant: 't', bypass: undefined })
  })

  it('subscribes to lazy thenables inside the bypass scope', async () => {
    const lazy = { then: (resolve: (v: unknown) => void) => resolve(currentScope()?.bypass?.reason) }
    expect(await unsafeBypassTenantScope('rotation', () => lazy as PromiseLike<unknown>)).toBe('rotation')
  })
})
