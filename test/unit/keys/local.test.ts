import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalKeyProvider } from '../../../src/keys/local'
import { ConfigError, DecryptionError, KeyVersionError, RowcryptError } from '../../../src/errors'

const RAW = Buffer.from('abf2273e35a5fb25c9a250b6ce2e3258073da664ee5af4ff64d94e880eb54679', 'hex')
const RAW2 = Buffer.alloc(32, 0x42)
const ctx = { purpose: 'row-dek', model: 'User', tenantId: 'tenant_a', rowId: '42' } as const

/** Every textual form a key could leak in. */
function spellings(key: Uint8Array): string[] {
  const b = Buffer.from(key)
  return [b.toString('hex'), b.toString('hex').toUpperCase(), b.toString('base64'), b.toString('base64url'), b.toString('base64').slice(0, 20), b.toString('hex').slice(0, 20)]
}

/** Message, name, stack head and the whole `cause` chain of an error, as text. */
function errorText(e: unknown): string {
  const parts: string[] = []
  let cur: unknown = e
  for (let depth = 0; cur !== undefined && cur !== null && depth < 10; depth++) {
    if (cur instanceof Error) {
      parts.push(cur.name, cur.message, (cur.stack ?? '').split('\n')[0] ?? '')
      parts.push(JSON.stringify(Object.fromEntries(Object.entries(cur))))
      cur = cur.cause
    } else {
      parts.push(String(cur))
      cur = undefined
    }
  }
  return parts.join('\n')
}

function expectNoSecrets(e: unknown, secrets: string[]): void {
  const text = errorText(e)
  for (const s of secrets) expect(text).not.toContain(s)
}

function caught(fn: () => unknown): unknown {
  try {
    fn()
  } catch (e) {
    return e
  }
  throw new Error('expected a throw')
}

async function rejected(p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (e) {
    return e
  }
  throw new Error('expected a rejection')
}

describe('LocalKeyProvider: master key inputs', () => {
  const forms: Array<[string, Uint8Array | string]> = [
    ['Uint8Array', new Uint8Array(RAW)],
    ['Buffer', Buffer.from(RAW)],
    ['64 hex lower case', RAW.toString('hex')],
    ['64 hex upper case', RAW.toString('hex').toUpperCase()],
    ['base64 with padding', RAW.toString('base64')],
    ['base64 without padding', RAW.toString('base64').replace(/=+$/, '')],
    ['base64url', RAW.toString('base64url')],
    ['hex with surrounding whitespace (as read from a file)', `  ${RAW.toString('hex')}\n`],
    ['base64 with a trailing newline', `${RAW.toString('base64')}\n`],
  ]

  it('the base64 and base64url forms of the test key really differ in alphabet', () => {
    expect(RAW.toString('base64')).toMatch(/[+/]/)
    expect(RAW.toString('base64url')).toMatch(/[-_]/)
  })

  it.each(forms)('accepts the key as %s, and all forms are the same key', async (_name, input) => {
    const reference = new LocalKeyProvider({ keys: { v1: RAW }, activeVersion: 'v1' })
    const p = new LocalKeyProvider({ keys: { v1: input }, activeVersion: 'v1' })
    expect(p.activeKeyVersion).toBe('v1')
    const dek = Buffer.alloc(32, 7)
    const { wrappedKey } = await p.wrapDataKey(dek, ctx)
    expect(Buffer.from(await reference.unwrapDataKey(wrappedKey, 'v1', ctx)).equals(dek)).toBe(true)
    const back = await reference.wrapDataKey(dek, ctx)
    expect(Buffer.from(await p.unwrapDataKey(back.wrappedKey, 'v1', ctx)).equals(dek)).toBe(true)
  })

  it('does not keep a reference to a caller-owned Uint8Array key (nor zero it)', async () => {
    const mine = new Uint8Array(RAW)
    const p = new LocalKeyProvider({ keys: { v1: mine }, activeVersion: 'v1' })
    expect(Buffer.from(mine).equals(RAW)).toBe(true)
    const { wrappedKey } = await p.wrapDataKey(Buffer.alloc(32, 1), ctx)
    mine.fill(0)
    expect(Buffer.from(await p.unwrapDataKey(wrappedKey, 'v1', ctx)).equals(Buffer.alloc(32, 1))).toBe(true)
  })

  const badKeys: Array<[string, unknown]> = [
    ['31-byte Uint8Array', new Uint8Array(31).fill(9)],
    ['33-byte Uint8Array', new Uint8Array(33).fill(9)],
    ['empty Uint8Array', new Uint8Array(0)],
    ['62 hex characters', RAW.toString('hex').slice(0, 62)],
    ['66 hex characters', RAW.toString('hex') + 'ab'],
    ['64 characters with a non-hex letter', RAW.toString('hex').slice(0, 63) + 'g'],
    ['base64 of 31 bytes', RAW.subarray(0, 31).toString('base64')],
    ['base64 of 33 bytes', Buffer.concat([RAW, Buffer.from([1])]).toString('base64')],
    ['base64 of 16 bytes', RAW.subarray(0, 16).toString('base64')],
    ['base64 with two padding characters', RAW.toString('base64').replace(/=$/, '') + '=='],
    ['base64 with an invalid character', '*' + RAW.toString('base64').slice(1)],
    ['a passphrase', 'correct horse battery staple and more words here'],
    ['empty string', ''],
    ['number', 42],
    ['null', null],
    ['an array of numbers', Array.from(RAW)],
  ]

  it.each(badKeys)('rejects %s with ConfigError that does not contain the key', (_name, input) => {
    const e = caught(() => new LocalKeyProvider({ keys: { v1: input as string }, activeVersion: 'v1' }))
    expect(e).toBeInstanceOf(ConfigError)
    expect((e as ConfigError).code).toBe('ERR_ROWCRYPT_CONFIG')
    const secrets = typeof input === 'string' && input.length > 0 ? [input, ...spellings(RAW)] : input instanceof Uint8Array && input.length > 0 ? spellings(input) : spellings(RAW)
    expectNoSecrets(e, secrets)
  })

  it('names the version of a bad key (versions are not secret)', () => {
    const e = caught(() => new LocalKeyProvider({ keys: { good: RAW, 'bad-one': 'xyz' }, activeVersion: 'good' }))
    expect((e as ConfigError).code).toBe('ERR_ROWCRYPT_CONFIG')
    expect((e as Error).message).toContain('bad-one')
  })

  it.each([
    ['activeVersion not among the keys', { keys: { v1: RAW }, activeVersion: 'v2' }],
    ['no keys at all', { keys: {}, activeVersion: 'v1' }],
    ['activeVersion missing', { keys: { v1: RAW } }],
  ])('rejects %s with ConfigError', (_name, options) => {
    const e = caught(() => new LocalKeyProvider(options as never))
    expect((e as RowcryptError).code).toBe('ERR_ROWCRYPT_CONFIG')
    expectNoSecrets(e, spellings(RAW))
  })

  it.each([
    ['null options', null],
    ['no options', undefined],
    ['keys null', { keys: null, activeVersion: 'v1' }],
    ['keys a string', { keys: RAW.toString('hex'), activeVersion: 'v1' }],
  ])('rejects %s with ConfigError', (_name, options) => {
    const e = caught(() => new LocalKeyProvider(options as never))
    expect((e as RowcryptError).code).toBe('ERR_ROWCRYPT_CONFIG')
    expectNoSecrets(e, spellings(RAW))
  })

  it.each(['', 'v 1', 'v1/2', 'x'.repeat(65), 'ключ'])('rejects the version name %j with ConfigError', (version) => {
    const e = caught(() => new LocalKeyProvider({ keys: { [version]: RAW }, activeVersion: version }))
    expect((e as RowcryptError).code).toBe('ERR_ROWCRYPT_CONFIG')
  })

  it('accepts version names with dots, dashes and underscores', () => {
    const p = new LocalKeyProvider({ keys: { '2024-01_a.b': RAW }, activeVersion: '2024-01_a.b' })
    expect(p.activeKeyVersion).toBe('2024-01_a.b')
  })
})

describe('LocalKeyProvider: wrapping', () => {
  const provider = () => new LocalKeyProvider({ keys: { v1: RAW, v2: RAW2 }, activeVersion: 'v1' })

  it('refuses a context that carries its own keyVersion entry (the provider binds it)', async () => {
    const p = provider()
    await expect(p.generateDataKey({ ...ctx, keyVersion: 'v2' })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
    const { wrappedKey } = await p.generateDataKey(ctx)
    await expect(p.unwrapDataKey(wrappedKey, 'v1', { ...ctx, keyVersion: 'v1' })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
  })

  it('generateDataKey makes a fresh 32-byte key wrapped under the active version', async () => {
    const p = provider()
    const a = await p.generateDataKey(ctx)
    const b = await p.generateDataKey(ctx)
    expect(a.keyVersion).toBe('v1')
    expect(a.plaintextKey).toHaveLength(32)
    expect(Buffer.from(a.plaintextKey).equals(Buffer.from(b.plaintextKey))).toBe(false)
    expect(a.wrappedKey).toBeInstanceOf(Uint8Array)
    expect(a.wrappedKey).toHaveLength(1 + 24 + 32 + 16)
    expect(Buffer.from(a.wrappedKey).includes(Buffer.from(a.plaintextKey))).toBe(false)
    expect(Buffer.from(await p.unwrapDataKey(a.wrappedKey, 'v1', ctx)).equals(Buffer.from(a.plaintextKey))).toBe(true)
  })

  it('wraps the same key differently each time (random IV)', async () => {
    const p = provider()
    const dek = Buffer.alloc(32, 3)
    const a = await p.wrapDataKey(dek, ctx)
    const b = await p.wrapDataKey(dek, ctx)
    expect(Buffer.from(a.wrappedKey).equals(Buffer.from(b.wrappedKey))).toBe(false)
  })

  it('wrapDataKey to v2 then unwraps with v2 (and not with v1)', async () => {
    const p = provider()
    const dek = Buffer.alloc(32, 5)
    const { wrappedKey, keyVersion } = await p.wrapDataKey(dek, ctx, 'v2')
    expect(keyVersion).toBe('v2')
    expect(Buffer.from(await p.unwrapDataKey(wrappedKey, 'v2', ctx)).equals(dek)).toBe(true)
    expect(((await rejected(p.unwrapDataKey(wrappedKey, 'v1', ctx))) as RowcryptError).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    // A provider holding only v2 unwraps it too: versions are independent keys.
    const only2 = new LocalKeyProvider({ keys: { v2: RAW2 }, activeVersion: 'v2' })
    expect(Buffer.from(await only2.unwrapDataKey(wrappedKey, 'v2', ctx)).equals(dek)).toBe(true)
  })

  it('wrapDataKey defaults to the active version', async () => {
    const p = new LocalKeyProvider({ keys: { v1: RAW, v2: RAW2 }, activeVersion: 'v2' })
    const { keyVersion, wrappedKey } = await p.wrapDataKey(Buffer.alloc(32, 1), ctx)
    expect(keyVersion).toBe('v2')
    expect(Buffer.from(await p.unwrapDataKey(wrappedKey, 'v2', ctx)).equals(Buffer.alloc(32, 1))).toBe(true)
  })

  it('rejects data keys that are not 32 bytes', async () => {
    const p = provider()
    await expect(p.wrapDataKey(Buffer.alloc(16), ctx)).rejects.toThrow(RangeError)
    await expect(p.wrapDataKey(Buffer.alloc(33), ctx)).rejects.toThrow(RangeError)
  })

  it('unknown version on wrap or unwrap gives KeyVersionError', async () => {
    const p = provider()
    const { wrappedKey } = await p.wrapDataKey(Buffer.alloc(32, 1), ctx)
    const e1 = await rejected(p.unwrapDataKey(wrappedKey, 'v3', ctx))
    expect(e1).toBeInstanceOf(KeyVersionError)
    expect((e1 as RowcryptError).code).toBe('ERR_ROWCRYPT_KEY_VERSION_UNKNOWN')
    expectNoSecrets(e1, [...spellings(RAW), ...spellings(RAW2), Buffer.from(wrappedKey).toString('hex')])
    const e2 = await rejected(p.wrapDataKey(Buffer.alloc(32, 1), ctx, 'nope'))
    expect((e2 as RowcryptError).code).toBe('ERR_ROWCRYPT_KEY_VERSION_UNKNOWN')
  })

  it('unwrap with any context entry changed, added or removed gives DecryptionError', async () => {
    const p = provider()
    const dek = Buffer.alloc(32, 8)
    const { wrappedKey } = await p.wrapDataKey(dek, ctx)
    const variants: Array<Record<string, string>> = [
      { ...ctx, tenantId: 'tenant_b' },
      { ...ctx, model: 'Post' },
      { ...ctx, rowId: '43' },
      { ...ctx, purpose: 'field' },
      { ...ctx, extra: '' },
      { purpose: ctx.purpose, model: ctx.model, tenantId: ctx.tenantId },
      {},
    ]
    for (const c of variants) {
      const e = await rejected(p.unwrapDataKey(wrappedKey, 'v1', c))
      expect(e).toBeInstanceOf(DecryptionError)
      expect((e as RowcryptError).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
      expect((e as Error).message).toBe('decryption failed')
      expectNoSecrets(e, [...spellings(RAW), ...spellings(dek), Buffer.from(wrappedKey).toString('hex'), Buffer.from(wrappedKey).toString('base64')])
    }
    // ...while the exact context still works, in any key order.
    const reordered = { rowId: '42', tenantId: 'tenant_a', model: 'User', purpose: 'row-dek' }
    expect(Buffer.from(await p.unwrapDataKey(wrappedKey, 'v1', reordered)).equals(dek)).toBe(true)
  })

  it('binds the key version itself: the same master key under another version name does not unwrap', async () => {
    const p = new LocalKeyProvider({ keys: { v1: RAW, v1b: RAW }, activeVersion: 'v1' })
    const dek = Buffer.alloc(32, 9)
    const { wrappedKey } = await p.wrapDataKey(dek, ctx, 'v1')
    expect(Buffer.from(await p.unwrapDataKey(wrappedKey, 'v1', ctx)).equals(dek)).toBe(true)
    const e = await rejected(p.unwrapDataKey(wrappedKey, 'v1b', ctx))
    expect((e as RowcryptError).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
  })

  it('unwrap of a tampered or wrongly sized blob gives DecryptionError', async () => {
    const p = provider()
    const { wrappedKey } = await p.wrapDataKey(Buffer.alloc(32, 2), ctx)
    for (let i = 0; i < wrappedKey.length; i++) {
      const t = Uint8Array.from(wrappedKey)
      t[i] = (t[i] as number) ^ 0x01
      expect(((await rejected(p.unwrapDataKey(t, 'v1', ctx))) as RowcryptError).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    }
    for (const bad of [wrappedKey.subarray(0, 59), Uint8Array.from([...wrappedKey, 0]), new Uint8Array(0)]) {
      const e = await rejected(p.unwrapDataKey(bad, 'v1', ctx))
      expect((e as RowcryptError).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
      expect((e as Error).message).toBe('decryption failed')
    }
  })

  it('returns a fresh buffer from unwrap that the caller may zero', async () => {
    const p = provider()
    const dek = Buffer.alloc(32, 4)
    const { wrappedKey } = await p.wrapDataKey(dek, ctx)
    const a = await p.unwrapDataKey(wrappedKey, 'v1', ctx)
    a.fill(0)
    expect(Buffer.from(await p.unwrapDataKey(wrappedKey, 'v1', ctx)).equals(dek)).toBe(true)
    expect(Buffer.from(wrappedKey).subarray(12, 44).equals(Buffer.alloc(32))).toBe(false)
  })

  it('uses different wrapping keys for different master keys', async () => {
    const a = new LocalKeyProvider({ keys: { v1: RAW }, activeVersion: 'v1' })
    const b = new LocalKeyProvider({ keys: { v1: RAW2 }, activeVersion: 'v1' })
    const { wrappedKey } = await a.wrapDataKey(Buffer.alloc(32, 6), ctx)
    expect(((await rejected(b.unwrapDataKey(wrappedKey, 'v1', ctx))) as RowcryptError).code).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
  })
})

describe('LocalKeyProvider.fromFile', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rowcrypt-keys-'))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  const write = (name: string, text: string) => {
    const path = join(dir, name)
    writeFileSync(path, text)
    return path
  }

  it('reads { activeVersion, keys } with base64 and hex keys', async () => {
    const path = write('keys.json', JSON.stringify({ activeVersion: 'v2', keys: { v1: RAW.toString('base64'), v2: RAW2.toString('hex') } }))
    const p = LocalKeyProvider.fromFile(path)
    expect(p.activeKeyVersion).toBe('v2')
    const g = await p.generateDataKey(ctx)
    expect(g.keyVersion).toBe('v2')
    const direct = new LocalKeyProvider({ keys: { v2: RAW2 }, activeVersion: 'v2' })
    expect(Buffer.from(await direct.unwrapDataKey(g.wrappedKey, 'v2', ctx)).equals(Buffer.from(g.plaintextKey))).toBe(true)
    const dek = Buffer.alloc(32, 1)
    const v1 = await p.wrapDataKey(dek, ctx, 'v1')
    const direct1 = new LocalKeyProvider({ keys: { v1: RAW }, activeVersion: 'v1' })
    expect(Buffer.from(await direct1.unwrapDataKey(v1.wrappedKey, 'v1', ctx)).equals(dek)).toBe(true)
  })

  it('rejects malformed JSON with ConfigError that quotes nothing of the file', () => {
    const key = RAW.toString('base64')
    const path = write('broken.json', `{ "activeVersion": "v1", "keys": { "v1": "${key}" }, `)
    const e = caught(() => LocalKeyProvider.fromFile(path))
    expect(e).toBeInstanceOf(ConfigError)
    expect((e as RowcryptError).code).toBe('ERR_ROWCRYPT_CONFIG')
    expectNoSecrets(e, [key, ...spellings(RAW)])
  })

  it('rejects a file that is a bare key (not JSON) without quoting it', () => {
    const key = RAW.toString('hex')
    const path = write('bare.txt', key + '\n')
    const e = caught(() => LocalKeyProvider.fromFile(path))
    expect((e as RowcryptError).code).toBe('ERR_ROWCRYPT_CONFIG')
    expectNoSecrets(e, spellings(RAW))
  })

  it.each([
    ['null', 'null'],
    ['an array', '[]'],
    ['a string', '"abc"'],
    ['missing keys', '{"activeVersion":"v1"}'],
    ['a short key', JSON.stringify({ activeVersion: 'v1', keys: { v1: RAW.subarray(0, 20).toString('base64') } })],
    ['activeVersion not among keys', JSON.stringify({ activeVersion: 'v9', keys: { v1: RAW.toString('base64') } })],
  ])('rejects a file holding %s with ConfigError', (_name, text) => {
    const e = caught(() => LocalKeyProvider.fromFile(write('bad.json', text)))
    expect((e as RowcryptError).code).toBe('ERR_ROWCRYPT_CONFIG')
    expectNoSecrets(e, [...spellings(RAW), RAW.subarray(0, 20).toString('base64')])
  })

  it('rejects a missing file with ConfigError that keeps the fs error as cause', () => {
    const e = caught(() => LocalKeyProvider.fromFile(join(dir, 'does-not-exist.json')))
    expect((e as RowcryptError).code).toBe('ERR_ROWCRYPT_CONFIG')
    expect(((e as Error).cause as NodeJS.ErrnoException | undefined)?.code).toBe('ENOENT')
  })
})

describe('LocalKeyProvider.generateMasterKey', () => {
  it('gives a base64 string of 32 random bytes that works as a key', async () => {
    const a = LocalKeyProvider.generateMasterKey()
    const b = LocalKeyProvider.generateMasterKey()
    expect(a).toMatch(/^[A-Za-z0-9+/]{43}=$/)
    expect(Buffer.from(a, 'base64')).toHaveLength(32)
    expect(Buffer.from(a, 'base64').toString('base64')).toBe(a)
    expect(a).not.toBe(b)
    const p = new LocalKeyProvider({ keys: { v1: a }, activeVersion: 'v1' })
    const g = await p.generateDataKey(ctx)
    expect(Buffer.from(await p.unwrapDataKey(g.wrappedKey, 'v1', ctx)).equals(Buffer.from(g.plaintextKey))).toBe(true)
  })
})
