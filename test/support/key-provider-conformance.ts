// One conformance suite for every KeyProvider: the contract rowcrypt relies on (binding of context
// and key version, coded errors, fresh buffers, no key material in errors). Run it against a new
// provider with `keyProviderConformance('MyProvider', async () => ({ provider }))`.
import type { BindingContext, KeyProvider, RowcryptError } from '../../src'

/** What the suite needs from a provider under test. */
export interface ConformanceSubject {
  /**
   * A provider whose active version is `v1`, that also knows `v2` (another key) and `v1same`
   * (the same key material or KMS key as `v1` under another version name).
   */
  provider: KeyProvider
  /** Runs after the provider's tests. */
  dispose?: () => Promise<void>
  /**
   * For providers that can shred a tenant: the shredding call, and a second provider on the same
   * key material and tenant key store with nothing cached (another process).
   */
  shredding?: {
    shred: (tenantId: string) => Promise<unknown>
    anotherProcess: () => KeyProvider
  }
}

const ctx = { purpose: 'row-dek', model: 'User', tenantId: 'conf_tenant_a', rowId: '42' } as const

async function rejected(p: Promise<unknown>): Promise<RowcryptError & Error> {
  try {
    await p
  } catch (e) {
    return e as RowcryptError & Error
  }
  throw new Error('expected a rejection')
}

function spellings(bytes: Uint8Array): string[] {
  const b = Buffer.from(bytes)
  return [b.toString('hex'), b.toString('base64'), b.toString('base64url'), b.toString('hex').slice(0, 24), b.toString('base64').slice(0, 20)]
}

function errorText(e: unknown): string {
  const parts: string[] = []
  let cur: unknown = e
  for (let depth = 0; cur instanceof Error && depth < 10; depth++) {
    parts.push(cur.name, cur.message, cur.stack ?? '', JSON.stringify(Object.fromEntries(Object.entries(cur))))
    cur = cur.cause
  }
  return parts.join('\n')
}

const equal = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b))

/** Defines the conformance tests for the provider `make` builds (one per test). */
export function keyProviderConformance(name: string, make: () => Promise<ConformanceSubject>): void {
  describe(`KeyProvider conformance: ${name}`, () => {
    let subject: ConformanceSubject
    let p: KeyProvider
    beforeEach(async () => {
      subject = await make()
      p = subject.provider
    })
    afterEach(async () => {
      await subject.dispose?.()
    })

    it('has an active version and makes fresh 32-byte data keys under it', async () => {
      expect(p.activeKeyVersion).toBe('v1')
      const a = await p.generateDataKey(ctx)
      const b = await p.generateDataKey(ctx)
      expect(a.keyVersion).toBe('v1')
      expect(a.plaintextKey).toBeInstanceOf(Uint8Array)
      expect(a.plaintextKey).toHaveLength(32)
      expect(a.wrappedKey).toBeInstanceOf(Uint8Array)
      expect(equal(a.plaintextKey, b.plaintextKey)).toBe(false)
      expect(equal(a.wrappedKey, b.wrappedKey)).toBe(false)
      expect(Buffer.from(a.wrappedKey).includes(Buffer.from(a.plaintextKey))).toBe(false)
    })

    it('unwraps what it generated, with the context entries in any order', async () => {
      const g = await p.generateDataKey(ctx)
      const expected = Buffer.from(g.plaintextKey)
      g.plaintextKey.fill(0) // the caller zeroes its copy; the provider must not depend on it
      expect(equal(await p.unwrapDataKey(g.wrappedKey, 'v1', ctx), expected)).toBe(true)
      const reordered = { rowId: '42', tenantId: 'conf_tenant_a', model: 'User', purpose: 'row-dek' }
      expect(equal(await p.unwrapDataKey(g.wrappedKey, 'v1', reordered), expected)).toBe(true)
    })

    it('wraps an existing key under the active version by default and under a named one on request', async () => {
      const dek = Buffer.alloc(32, 0x5a)
      const a = await p.wrapDataKey(dek, ctx)
      expect(a.keyVersion).toBe('v1')
      expect(equal(await p.unwrapDataKey(a.wrappedKey, 'v1', ctx), dek)).toBe(true)
      const b = await p.wrapDataKey(dek, ctx, 'v2')
      expect(b.keyVersion).toBe('v2')
      expect(equal(await p.unwrapDataKey(b.wrappedKey, 'v2', ctx), dek)).toBe(true)
      expect((await rejected(p.unwrapDataKey(b.wrappedKey, 'v1', ctx))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
      expect(dek.equals(Buffer.alloc(32, 0x5a))).toBe(true) // the caller's key is left alone
    })

    it('wraps the same key differently each time', async () => {
      const dek = Buffer.alloc(32, 3)
      const a = await p.wrapDataKey(dek, ctx)
      const b = await p.wrapDataKey(dek, ctx)
      expect(equal(a.wrappedKey, b.wrappedKey)).toBe(false)
    })

    it('binds every context entry: a changed, added or removed entry gives DecryptionError', async () => {
      const dek = Buffer.alloc(32, 8)
      const { wrappedKey } = await p.wrapDataKey(dek, ctx)
      const variants: BindingContext[] = [
        { ...ctx, tenantId: 'conf_tenant_b' },
        { ...ctx, model: 'Post' },
        { ...ctx, rowId: '43' },
        { ...ctx, purpose: 'field' },
        { ...ctx, extra: '' },
        { purpose: ctx.purpose, model: ctx.model, tenantId: ctx.tenantId },
      ]
      for (const c of variants) {
        const e = await rejected(p.unwrapDataKey(wrappedKey, 'v1', c))
        expect(e.code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
        expect(e.message).toBe('decryption failed')
      }
    })

    it('binds the key version: the same key under another version name does not unwrap', async () => {
      const { wrappedKey } = await p.wrapDataKey(Buffer.alloc(32, 9), ctx, 'v1')
      expect((await rejected(p.unwrapDataKey(wrappedKey, 'v1same', ctx))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
      expect((await rejected(p.unwrapDataKey(wrappedKey, 'v2', ctx))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    })

    it('gives KeyVersionError for an unknown version on wrap and unwrap', async () => {
      const { wrappedKey } = await p.generateDataKey(ctx)
      expect((await rejected(p.unwrapDataKey(wrappedKey, 'v9', ctx))).code).toBe('ERR_ROWCRYPT_KEY_VERSION_UNKNOWN')
      expect((await rejected(p.wrapDataKey(Buffer.alloc(32, 1), ctx, 'v9'))).code).toBe('ERR_ROWCRYPT_KEY_VERSION_UNKNOWN')
    })

    it('gives DecryptionError for every flipped bit position of the wrapped key, and for wrong lengths', async () => {
      const { wrappedKey } = await p.wrapDataKey(Buffer.alloc(32, 2), ctx)
      for (let i = 0; i < wrappedKey.length; i++) {
        const t = Uint8Array.from(wrappedKey)
        t[i] = (t[i] as number) ^ (1 << (i % 8))
        expect((await rejected(p.unwrapDataKey(t, 'v1', ctx))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
      }
      for (const bad of [wrappedKey.subarray(0, wrappedKey.length - 1), Uint8Array.from([...wrappedKey, 0]), new Uint8Array(0)]) {
        expect((await rejected(p.unwrapDataKey(bad, 'v1', ctx))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
      }
    })

    it('returns a fresh buffer from unwrap that the caller may zero', async () => {
      const dek = Buffer.alloc(32, 4)
      const { wrappedKey } = await p.wrapDataKey(dek, ctx)
      const first = await p.unwrapDataKey(wrappedKey, 'v1', ctx)
      first.fill(0)
      expect(equal(await p.unwrapDataKey(wrappedKey, 'v1', ctx), dek)).toBe(true)
    })

    it('refuses a context that carries its own keyVersion entry', async () => {
      expect((await rejected(p.generateDataKey({ ...ctx, keyVersion: 'v2' }))).code).toBe('ERR_ROWCRYPT_CONFIG')
      const { wrappedKey } = await p.generateDataKey(ctx)
      expect((await rejected(p.unwrapDataKey(wrappedKey, 'v1', { ...ctx, keyVersion: 'v1' }))).code).toBe('ERR_ROWCRYPT_CONFIG')
    })

    it('puts no key material into errors', async () => {
      const g = await p.generateDataKey(ctx)
      const secrets = [...spellings(g.plaintextKey), ...spellings(g.wrappedKey)]
      const errors = [
        await rejected(p.unwrapDataKey(g.wrappedKey, 'v1', { ...ctx, tenantId: 'conf_tenant_b' })),
        await rejected(p.unwrapDataKey(g.wrappedKey, 'v9', ctx)),
        await rejected(p.unwrapDataKey(Uint8Array.from(g.wrappedKey).fill(7, 3, 9), 'v1', ctx)),
      ]
      for (const e of errors) {
        const text = errorText(e)
        for (const s of secrets) expect(text).not.toContain(s)
      }
    })

    it('stays consistent under concurrency (many tenants and rows at once)', async () => {
      const contexts = Array.from({ length: 60 }, (_, i) => ({ purpose: 'row-dek', model: 'User', tenantId: `conf_t${i % 3}`, rowId: String(i) }))
      const made = await Promise.all(contexts.map((c) => p.generateDataKey(c)))
      const copies = made.map((m) => Buffer.from(m.plaintextKey))
      const back = await Promise.all(made.map((m, i) => p.unwrapDataKey(m.wrappedKey, m.keyVersion, contexts[i]!)))
      back.forEach((k, i) => expect(equal(k, copies[i]!)).toBe(true))
      // Keys of one tenant never open under another.
      expect((await rejected(p.unwrapDataKey(made[0]!.wrappedKey, 'v1', contexts[1]!))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    })

    it('answers its synchronous fast paths (when it has them) exactly like the asynchronous methods', async () => {
      const dk = await p.generateDataKey(ctx)
      const sync = p.unwrapDataKeySync?.(dk.wrappedKey, 'v1', ctx)
      if (sync !== undefined) expect(equal(sync, dk.plaintextKey)).toBe(true)
      const made = p.generateDataKeySync?.(ctx)
      if (made !== undefined) {
        expect(made.keyVersion).toBe('v1')
        expect(equal(await p.unwrapDataKey(made.wrappedKey, 'v1', ctx), made.plaintextKey)).toBe(true)
      }
      const other = { ...ctx, tenantId: 'conf_tenant_b' }
      let failure: unknown
      try {
        p.unwrapDataKeySync?.(dk.wrappedKey, 'v1', other)
      } catch (e) {
        failure = e
      }
      // Another tenant's binding never yields a key: the sync path either steps aside or fails.
      if (failure !== undefined) expect((failure as RowcryptError).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
      expect((await rejected(p.unwrapDataKey(dk.wrappedKey, 'v1', other))).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    })

    it('refuses on its synchronous fast paths what the asynchronous methods refuse, before and after a run of good calls', async () => {
      const dk = await p.generateDataKey(ctx)
      // Rows of one tenant in a run: a fast path may remember what it checked for the first one.
      for (let i = 0; i < 3; i++) p.unwrapDataKeySync?.(dk.wrappedKey, 'v1', ctx)
      const refusals: Array<[string, () => unknown, () => Promise<unknown>]> = [
        ['an unknown version', () => p.unwrapDataKeySync?.(dk.wrappedKey, 'v9', ctx), () => p.unwrapDataKey(dk.wrappedKey, 'v9', ctx)],
        [
          'a context value that is not a string',
          () => p.unwrapDataKeySync?.(dk.wrappedKey, 'v1', { ...ctx, rowId: 42 as unknown as string }),
          () => p.unwrapDataKey(dk.wrappedKey, 'v1', { ...ctx, rowId: 42 as unknown as string }),
        ],
        ['a context with its own keyVersion', () => p.unwrapDataKeySync?.(dk.wrappedKey, 'v1', { ...ctx, keyVersion: 'v1' }), () => p.unwrapDataKey(dk.wrappedKey, 'v1', { ...ctx, keyVersion: 'v1' })],
        [
          'a generate with a context value that is not a string',
          () => p.generateDataKeySync?.({ ...ctx, rowId: 42 as unknown as string }),
          () => p.generateDataKey({ ...ctx, rowId: 42 as unknown as string }),
        ],
      ]
      for (const [what, sync, async_] of refusals) {
        const expected = (await rejected(async_())).code
        let answer: unknown
        let code: string | undefined = 'none thrown'
        try {
          answer = sync()
        } catch (e) {
          code = (e as RowcryptError).code
        }
        // A fast path either throws what the method rejects with or steps aside (undefined); it never answers.
        if (code === 'none thrown') expect([what, answer]).toEqual([what, undefined])
        else expect([what, code]).toEqual([what, expected])
      }
      // And the run goes on answering afterwards.
      const again = p.unwrapDataKeySync?.(dk.wrappedKey, 'v1', ctx)
      if (again !== undefined) expect(equal(again, dk.plaintextKey)).toBe(true)
    })

    it('shreds a tenant when it can: its keys are gone here and in another process, other tenants unaffected', async () => {
      const shredding = subject.shredding
      if (shredding === undefined) return
      const victim = { ...ctx, tenantId: 'conf_shred_victim' }
      const bystander = { ...ctx, tenantId: 'conf_shred_bystander' }
      const v = await p.generateDataKey(victim)
      const b = await p.generateDataKey(bystander)
      const elsewhere = shredding.anotherProcess()
      expect(equal(await elsewhere.unwrapDataKey(v.wrappedKey, 'v1', victim), v.plaintextKey)).toBe(true)
      await shredding.shred('conf_shred_victim')
      for (const provider of [p, shredding.anotherProcess()]) {
        expect((await rejected(provider.unwrapDataKey(v.wrappedKey, 'v1', victim))).code).toBe('ERR_ROWCRYPT_TENANT_SHREDDED')
        expect((await rejected(provider.generateDataKey(victim))).code).toBe('ERR_ROWCRYPT_TENANT_SHREDDED')
        expect(equal(await provider.unwrapDataKey(b.wrappedKey, 'v1', bystander), b.plaintextKey)).toBe(true)
      }
      let syncResult: unknown
      try {
        syncResult = p.unwrapDataKeySync?.(v.wrappedKey, 'v1', victim)
      } catch (e) {
        expect((e as RowcryptError).code).toBe('ERR_ROWCRYPT_TENANT_SHREDDED')
      }
      expect(syncResult).toBeUndefined()
    })
  })
}
