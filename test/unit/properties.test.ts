// Property-based tests (fast-check) of the Prisma-free core, the claims SECURITY.md rests on:
//   (a) decrypt(encrypt(x)) = x for any value of every field type, any tenant, model, row id and aad,
//       also after reEncryptRow / rekeyRow;
//   (b) any single-bit flip in the stored row (field ciphertext, wrapped data key, key version,
//       tenant id, row id) and any swap of ciphertexts between fields, rows, models or tenants fails
//       with a coded RowcryptError and never yields a plaintext;
//   (c) the ciphertext and wrapped-key parsers, and decryptRow itself, given arbitrary input only
//       ever throw coded errors: no TypeError or RangeError, no hang.
// Every property sets numRuns; PROPERTY_RUNS below lists them (for the closing note).
import fc from 'fast-check'
import { performance } from 'node:perf_hooks'
import { formatCiphertext, parseCiphertext } from '../../src/envelope/ciphertext'
import { formatWrappedKey, parseWrappedKey } from '../../src/envelope/wrapped-key'
import { LocalKeyProvider, RowLevelEncryption, RowcryptError, type ModelEncryptionConfig } from '../../src'

type Row = Record<string, unknown>

// Runs per property, by name. The sum is the number of generated cases per test run.
const PROPERTY_RUNS = {
  roundTripAnyModel: 400,
  roundTripAfterRotation: 200,
  flipFieldCiphertext: 1000,
  flipWrappedKey: 1000,
  flipKeyVersion: 500,
  flipTenantId: 600,
  flipRowId: 300,
  loneSurrogateIds: 200,
  swapCiphertexts: 600,
  parseArbitraryStrings: 2000,
  parseMutatedCiphertexts: 2000,
  parseNonStringsAndHugeInput: 300,
  parseWrappedKeyBytes: 2000,
  decryptGarbageRows: 600,
} as const

const DECRYPTION_FAILED = 'ERR_ROWCRYPT_DECRYPTION_FAILED'
const CIPHERTEXT_FORMAT = 'ERR_ROWCRYPT_CIPHERTEXT_FORMAT'
const KEY_VERSION_UNKNOWN = 'ERR_ROWCRYPT_KEY_VERSION_UNKNOWN'
const TENANT_MISMATCH = 'ERR_ROWCRYPT_TENANT_MISMATCH'
const INVALID_VALUE = 'ERR_ROWCRYPT_INVALID_VALUE'
// Tenant ids are checked first (InvalidTenantError); row ids by the context encoder (InvalidValueError).
const TENANT_INVALID = 'ERR_ROWCRYPT_TENANT_INVALID'
const badIdCode = (isTenant: boolean) => (isTenant ? TENANT_INVALID : INVALID_VALUE)
// A parser call on a few kilobytes must be instant; this bound only catches a hang or a blow-up.
const PARSE_BOUND_MS = 250
const HUGE_PARSE_BOUND_MS = 2000

// Key versions one bit apart from each other ('v1' ^ bit): a flip in the key version column often
// names another real key, which must fail as tampering, not decrypt.
const VERSIONS = ['v1', 'v0', 'v3', 'v5', 'v9', 'w1', 't1', 'r1', 'f1', 'V1'] as const
const MASTER_KEYS = Object.fromEntries(VERSIONS.map((v, i) => [v, Buffer.alloc(32, 0x11 * (i + 1))]))
const providers = new Map(VERSIONS.map((v) => [v, new LocalKeyProvider({ keys: MASTER_KEYS, activeVersion: v })]))

const FIELDS = [
  { name: 's', type: 'string' },
  { name: 'j', type: 'json' },
  { name: 'b', type: 'bytes' },
] as const
const FIELD_NAMES = FIELDS.map((f) => f.name)
// Two models with identical fields and columns: only the model name tells them apart.
const MODELS: Record<string, ModelEncryptionConfig> = {
  User: { fields: [...FIELDS], idField: 'id' },
  Member: { fields: [...FIELDS], idField: 'id' },
}
const rles = new Map(VERSIONS.map((v) => [v, new RowLevelEncryption({ keyProvider: providers.get(v)!, models: MODELS })]))
const rle = rles.get('v1')!

// ---------------------------------------------------------------------------------------------
// Arbitraries

// Strings of any Unicode code points (fast-check v4's replacement for fullUnicodeString), plus
// the awkward ones: empty, NUL, bidi overrides, U+FFFD, emoji, long.
const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.string({ unit: 'grapheme-composite', maxLength: 16 }),
  fc.constantFrom('', '\u0000', 'a\u0000b\u0000', '\u202Eevil\u202C', '\uFFFD', '\uFEFF', '🔐👩‍👩‍👧', 'é'.normalize('NFD')),
  fc.string({ unit: 'binary-ascii', minLength: 1000, maxLength: 3000 }),
)
const jsonValue = fc.jsonValue({ maxDepth: 4, stringUnit: 'binary' })
const bytes = fc.uint8Array({ maxLength: 512 })
// A tenant id: any non-empty string of code points (well-formed), with U+FFFD, NUL and
// surrogate pairs common so single-bit flips explore the encodings' edges.
const tenantId = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
  fc.array(fc.constantFrom('a', 'Z', '_', '-', '\u0000', '\uFFFD', '\u00e9', '\u4e2d', '😀', '\u202E'), { minLength: 1, maxLength: 8 }).map((a) => a.join('')),
)
const rowIdValue = fc.oneof(fc.string({ unit: 'binary', maxLength: 24 }), fc.integer(), fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }))
const aad = fc.option(fc.uint8Array({ maxLength: 32 }), { nil: undefined })

interface Plain {
  s: string | null | undefined
  j: unknown
  b: Uint8Array | null | undefined
}
const plainRow: fc.Arbitrary<Plain> = fc.record({
  s: fc.option(anyString, { nil: undefined, freq: 8 }).chain((v) => (v === undefined ? fc.constantFrom(undefined, null) : fc.constant(v))),
  j: fc.option(jsonValue, { nil: undefined, freq: 8 }),
  b: fc.option(bytes, { nil: null, freq: 8 }),
})
// Rows whose three fields all hold a value (something to flip).
const fullRow: fc.Arbitrary<Plain> = fc.record({ s: anyString, j: jsonValue.filter((v) => v !== null), b: bytes })

interface Scenario {
  model: 'User' | 'Member'
  tenantId: string
  rowId: string | number | bigint | undefined
  aad: Uint8Array | undefined
  plain: Plain
}
const scenario = (plain: fc.Arbitrary<Plain>): fc.Arbitrary<Scenario> =>
  fc.record({ model: fc.constantFrom('User' as const, 'Member' as const), tenantId, rowId: fc.option(rowIdValue, { nil: undefined }), aad, plain })

// ---------------------------------------------------------------------------------------------
// Helpers

/** What a JSON value reads back as: JSON has no -0 (nor undefined inside arrays and objects). */
const jsonRoundTrip = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)))

function expectPlain(out: Row | Plain, plain: Plain): void {
  expect(out.s).toBe(plain.s)
  if (plain.j === undefined || plain.j === null) expect(out.j).toBe(plain.j)
  else expect(out.j).toEqual(jsonRoundTrip(plain.j))
  if (plain.b === undefined || plain.b === null) expect(out.b).toBe(plain.b)
  else {
    expect(out.b).toBeInstanceOf(Uint8Array)
    expect(Buffer.from(out.b as Uint8Array).equals(Buffer.from(plain.b))).toBe(true)
  }
}

async function encrypt(sc: Scenario, r: RowLevelEncryption = rle): Promise<Row> {
  const data: Row = { name: 'not encrypted', ...sc.plain }
  return r.encryptRow({ model: sc.model, data, tenantId: sc.tenantId, ...(sc.rowId !== undefined ? { rowId: sc.rowId } : {}), ...(sc.aad ? { aad: sc.aad } : {}) })
}

function ctx(sc: Scenario, over: Partial<{ model: string; tenantId: string; rowId: string | number | bigint }> = {}) {
  const rowId = 'rowId' in over ? over.rowId : sc.rowId
  return { model: over.model ?? sc.model, tenantId: over.tenantId ?? sc.tenantId, ...(rowId !== undefined ? { rowId } : {}), ...(sc.aad ? { aad: Uint8Array.from(sc.aad) } : {}) }
}

/**
 * The tampered row must be refused with one of `allowed` codes. A decryption that succeeds is a
 * failure too; one that yields a different plaintext is reported as such.
 */
async function expectRefused(attempt: Promise<Row>, plain: Plain, allowed: readonly string[]): Promise<string> {
  let out: Row
  try {
    out = await attempt
  } catch (e) {
    if (!(e instanceof RowcryptError)) throw new Error(`uncoded ${(e as Error)?.name}: ${(e as Error)?.message}`)
    if (!allowed.includes(e.code)) throw new Error(`unexpected code ${e.code} (allowed: ${allowed.join(', ')})`)
    return e.code
  }
  let same = true
  try {
    expectPlain(out, plain)
  } catch {
    same = false
  }
  throw new Error(same ? 'a tampered row decrypted (to its original plaintext)' : 'a tampered row decrypted to a DIFFERENT plaintext')
}

async function expectWriteRefused(attempt: Promise<unknown>, code: string): Promise<void> {
  let caught: unknown
  try {
    await attempt
  } catch (e) {
    caught = e
  }
  if (!(caught instanceof RowcryptError)) throw new Error(caught === undefined ? 'the write was accepted' : `uncoded ${(caught as Error)?.name}`)
  expect(caught.code).toBe(code)
}

function flipChar(s: string, index: number, bit: number): string {
  return s.slice(0, index) + String.fromCharCode(s.charCodeAt(index) ^ (1 << bit)) + s.slice(index + 1)
}

function flipByte(b: Uint8Array, index: number, bit: number): Uint8Array {
  const copy = Uint8Array.from(b)
  copy[index] = (copy[index] as number) ^ (1 << bit)
  return copy
}

// The bound holds whether `fn` returns or throws; over it, the timing error is what is reported.
function timed<T>(fn: () => T, boundMs: number): T {
  const t0 = performance.now()
  let outcome: { value: T } | { error: unknown }
  try {
    outcome = { value: fn() }
  } catch (error) {
    outcome = { error }
  }
  const ms = performance.now() - t0
  if (ms > boundMs) throw new Error(`parser took ${ms.toFixed(0)} ms`)
  if ('error' in outcome) throw outcome.error
  return outcome.value
}

/** Runs a parser: it returns, or throws CiphertextFormatError (code asserted); anything else fails. */
function parseOrFormatError<T>(fn: () => T, boundMs = PARSE_BOUND_MS): T | undefined {
  try {
    return timed(fn, boundMs)
  } catch (e) {
    if (e instanceof RowcryptError && e.code === CIPHERTEXT_FORMAT) return undefined
    throw e
  }
}

const isWellFormed = (s: string): boolean => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s)

// ---------------------------------------------------------------------------------------------
// (a) round trips

describe('(a) decrypt(encrypt(x)) = x', () => {
  it('for any values of string, json and bytes fields, any model and field names, tenant, row id and aad', async () => {
    const identifier = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,15}$/).filter((n) => !['wrappedDek', 'keyVersion', 'tenantId', 'id', 'name'].includes(n))
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', minLength: 1, maxLength: 24 }), fc.uniqueArray(identifier, { minLength: 3, maxLength: 3 }), scenario(plainRow), async (model, [fs, fj, fb], sc) => {
        const r = new RowLevelEncryption({ keyProvider: providers.get('v1')!, models: { [model]: { fields: [fs!, { name: fj!, type: 'json' }, { name: fb!, type: 'bytes' }], idField: 'id' } } })
        const data: Row = { name: 'not encrypted', [fs!]: sc.plain.s, [fj!]: sc.plain.j, [fb!]: sc.plain.b }
        const stored = await r.encryptRow({ model, data, tenantId: sc.tenantId, ...(sc.rowId !== undefined ? { rowId: sc.rowId } : {}), ...(sc.aad ? { aad: sc.aad } : {}) })
        for (const [f, v] of [
          [fs!, sc.plain.s],
          [fj!, sc.plain.j],
          [fb!, sc.plain.b],
        ] as const) {
          if (v === null || v === undefined) expect(stored[f]).toBe(v)
          else expect(typeof stored[f] === 'string' && (stored[f] as string).startsWith('rc1.A256GCM.')).toBe(true)
        }
        expect(stored.name).toBe('not encrypted')
        const out = await r.decryptRow(stored, ctx(sc, { model }))
        expectPlain({ s: out[fs!], j: out[fj!], b: out[fb!] }, sc.plain)
        expect(out.name).toBe('not encrypted')
        expect(out.tenantId).toBe(sc.tenantId)
      }),
      { numRuns: PROPERTY_RUNS.roundTripAnyModel },
    )
  })

  it('after reEncryptRow to any other key version, and after rekeyRow', async () => {
    await fc.assert(
      fc.asyncProperty(scenario(plainRow), fc.constantFrom(...VERSIONS), fc.constantFrom(...VERSIONS), async (sc, from, to) => {
        const stored = await encrypt(sc, rles.get(from))
        expect(stored.keyVersion).toBe(from)
        // Any instance can read and rotate it: every version is known to every provider.
        const rotated = await rle.reEncryptRow(stored, to, ctx(sc))
        expect(rotated.keyVersion).toBe(to)
        for (const f of FIELD_NAMES) expect(rotated[f]).toBe(stored[f])
        expectPlain(await rles.get(to)!.decryptRow(rotated, ctx(sc)), sc.plain)
        const rekeyed = await rle.rekeyRow(rotated, from, ctx(sc))
        expect(rekeyed.keyVersion).toBe(from)
        expectPlain(await rle.decryptRow(rekeyed, ctx(sc)), sc.plain)
      }),
      { numRuns: PROPERTY_RUNS.roundTripAfterRotation },
    )
  })
})

// ---------------------------------------------------------------------------------------------
// (b) tampering: single-bit flips and swaps

describe('(b) any single-bit flip in the stored row is refused with a coded error', () => {
  it('in any field ciphertext string (any character, any of its 16 bits)', async () => {
    await fc.assert(
      fc.asyncProperty(scenario(fullRow), fc.constantFrom(...FIELD_NAMES), fc.nat(), fc.integer({ min: 0, max: 15 }), async (sc, field, at, bit) => {
        const stored = await encrypt(sc)
        const text = stored[field] as string
        const tampered = { ...stored, [field]: flipChar(text, at % text.length, bit) }
        // A different string either is not canonical rc1 (format error) or names other bytes (tag failure).
        await expectRefused(rle.decryptRow(tampered, ctx(sc)), sc.plain, [DECRYPTION_FAILED, CIPHERTEXT_FORMAT])
      }),
      { numRuns: PROPERTY_RUNS.flipFieldCiphertext },
    )
  })

  it('in any bit of the wrapped data key bytes (format byte, flags, provider blob)', async () => {
    await fc.assert(
      fc.asyncProperty(scenario(fullRow), fc.nat(), fc.integer({ min: 0, max: 7 }), async (sc, at, bit) => {
        const stored = await encrypt(sc)
        const wrapped = stored.wrappedDek as Uint8Array
        const i = at % wrapped.length
        const code = await expectRefused(rle.decryptRow({ ...stored, wrappedDek: flipByte(wrapped, i, bit) }, ctx(sc)), sc.plain, [DECRYPTION_FAILED, CIPHERTEXT_FORMAT])
        // Byte 0 is the format version: a flip there is a format error; a flip in the key itself is tampering.
        if (i === 0) expect(code).toBe(CIPHERTEXT_FORMAT)
        if (i >= 2) expect(code).toBe(DECRYPTION_FAILED)
      }),
      { numRuns: PROPERTY_RUNS.flipWrappedKey },
    )
  })

  it('in the key version (a flip that names another real key is tampering, any other is an unknown version)', async () => {
    await fc.assert(
      fc.asyncProperty(scenario(fullRow), fc.constantFrom(...VERSIONS), fc.nat(), fc.integer({ min: 0, max: 15 }), async (sc, version, at, bit) => {
        const stored = await encrypt(sc, rles.get(version))
        const flipped = flipChar(version, at % version.length, bit)
        const code = await expectRefused(rle.decryptRow({ ...stored, keyVersion: flipped }, ctx(sc)), sc.plain, [DECRYPTION_FAILED, KEY_VERSION_UNKNOWN])
        expect(code).toBe((VERSIONS as readonly string[]).includes(flipped) ? DECRYPTION_FAILED : KEY_VERSION_UNKNOWN)
      }),
      { numRuns: PROPERTY_RUNS.flipKeyVersion },
    )
  })

  it('in the tenant id: in the column, in the reader, or in both (a row relabelled to another tenant)', async () => {
    await fc.assert(
      fc.asyncProperty(scenario(fullRow), fc.nat(), fc.integer({ min: 0, max: 15 }), fc.constantFrom('column' as const, 'reader' as const, 'relabelled' as const), async (sc, at, bit, where) => {
        const stored = await encrypt(sc)
        const other = flipChar(sc.tenantId, at % sc.tenantId.length, bit)
        if (where === 'column') {
          // The reader is the row's real tenant; the column says otherwise.
          await expectRefused(rle.decryptRow({ ...stored, tenantId: other }, ctx(sc)), sc.plain, [TENANT_MISMATCH])
        } else if (where === 'reader') {
          // Another tenant reads the row as it is stored.
          await expectRefused(rle.decryptRow(stored, ctx(sc, { tenantId: other })), sc.plain, isWellFormed(other) ? [TENANT_MISMATCH] : [TENANT_INVALID])
          // ... or a partial row without the tenant column: only the cryptographic binding is left.
          const { tenantId: _t, ...partial } = stored
          await expectRefused(rle.decryptRow(partial, ctx(sc, { tenantId: other })), sc.plain, isWellFormed(other) ? [DECRYPTION_FAILED] : [TENANT_INVALID])
        } else {
          // Someone with database access moves the row to another tenant: column and reader agree.
          await expectRefused(rle.decryptRow({ ...stored, tenantId: other }, ctx(sc, { tenantId: other })), sc.plain, isWellFormed(other) ? [DECRYPTION_FAILED] : [TENANT_INVALID])
        }
      }),
      { numRuns: PROPERTY_RUNS.flipTenantId },
    )
  })

  it('in the row id of a row whose key is bound to it', async () => {
    await fc.assert(
      fc.asyncProperty(scenario(fullRow), fc.string({ unit: 'binary', minLength: 1, maxLength: 24 }), fc.nat(), fc.integer({ min: 0, max: 15 }), async (sc0, id, at, bit) => {
        const sc = { ...sc0, rowId: id }
        const stored = await encrypt(sc)
        expect(parseWrappedKey(stored.wrappedDek).rowBound).toBe(true)
        const other = flipChar(id, at % id.length, bit)
        // In the id column (idField) and as an explicit rowId: both are the row's identity.
        await expectRefused(rle.decryptRow({ ...stored, id: other }, ctx(sc, { rowId: undefined })), sc.plain, isWellFormed(other) ? [DECRYPTION_FAILED] : [INVALID_VALUE])
        await expectRefused(rle.decryptRow(stored, ctx(sc, { rowId: other })), sc.plain, isWellFormed(other) ? [DECRYPTION_FAILED] : [INVALID_VALUE])
      }),
      { numRuns: PROPERTY_RUNS.flipRowId },
    )
  })
})

describe('(b) ids that UTF-8 cannot represent are refused, never merged with another id', () => {
  // Regression (found by the tenant-flip property): the binding is UTF-8, which writes every lone
  // surrogate as U+FFFD, so tenant '\uFFFD' and tenant '\uDFFD' (one bit apart) shared a binding
  // and each could decrypt the other's rows; so did row ids '\uFFFD', '\uD800' and '\uDBFF'.
  it.each([
    ['tenant', '\uFFFD', '\uDFFD'],
    ['tenant', 'acme\uFFFD', 'acme\uD800'],
    ['row id', '\uFFFD', '\uDBFF'],
    ['row id', 'r\uFFFD', 'r\uDC01'],
  ])('%s %j is not %j', async (kind, real, other) => {
    const sc: Scenario = {
      model: 'User',
      tenantId: kind === 'tenant' ? real : 't',
      rowId: kind === 'row id' ? real : undefined,
      aad: undefined,
      plain: { s: 'secret', j: { k: 1 }, b: new Uint8Array([1]) },
    }
    const stored = await encrypt(sc)
    expectPlain(await rle.decryptRow(stored, ctx(sc)), sc.plain)
    const over = kind === 'tenant' ? { tenantId: other } : { rowId: other }
    const moved = kind === 'tenant' ? { ...stored, tenantId: other } : stored
    await expectRefused(rle.decryptRow(moved, ctx(sc, over)), sc.plain, [badIdCode(kind === 'tenant')])
    await expectWriteRefused(encrypt({ ...sc, ...over }), badIdCode(kind === 'tenant'))
  })

  it('any tenant id or row id with a lone surrogate is refused on write and on read', async () => {
    const lone = fc
      .tuple(fc.string({ unit: 'binary', maxLength: 6 }), fc.integer({ min: 0xd800, max: 0xdfff }), fc.string({ unit: 'binary', maxLength: 6 }))
      .map(([a, c, b]) => a + String.fromCharCode(c) + b)
      .filter((s) => !isWellFormed(s))
    await fc.assert(
      fc.asyncProperty(scenario(fullRow), lone, fc.boolean(), async (sc, bad, asTenant) => {
        const over = asTenant ? { tenantId: bad } : { rowId: bad }
        await expectWriteRefused(encrypt({ ...sc, ...over }), badIdCode(asTenant))
        // A genuine row (bound to a well-formed id) read under the bad tenant or row id.
        const bound = { ...sc, rowId: 'r1' }
        const stored = await encrypt(bound)
        await expectRefused(rle.decryptRow(asTenant ? { ...stored, tenantId: bad } : stored, ctx(bound, over)), sc.plain, [badIdCode(asTenant)])
      }),
      { numRuns: PROPERTY_RUNS.loneSurrogateIds },
    )
  })
})

describe('(b) ciphertexts moved between fields, rows, models and tenants do not decrypt', () => {
  it('any swap is refused with ERR_ROWCRYPT_DECRYPTION_FAILED', async () => {
    const move = fc.constantFrom('field-within-row', 'field-from-other-row', 'sidecars-from-other-row', 'row-to-other-tenant', 'row-to-other-model', 'row-to-other-id')
    await fc.assert(
      fc.asyncProperty(
        scenario(fullRow),
        scenario(fullRow),
        move,
        fc.constantFrom(...FIELD_NAMES),
        fc.constantFrom(...FIELD_NAMES),
        fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
        async (a, b, how, f, g, id) => {
          const rowA = await encrypt(a)
          const rowB = await encrypt(b)
          switch (how) {
            case 'field-within-row': {
              // Same data key, another field (or another type): the AAD names the field and type.
              if (f === g) g = FIELD_NAMES[(FIELD_NAMES.indexOf(f) + 1) % FIELD_NAMES.length]!
              await expectRefused(rle.decryptRow({ ...rowA, [f]: rowA[g] }, ctx(a)), a.plain, [DECRYPTION_FAILED])
              break
            }
            case 'field-from-other-row':
              await expectRefused(rle.decryptRow({ ...rowA, [f]: rowB[g] }, ctx(a)), a.plain, [DECRYPTION_FAILED])
              break
            case 'sidecars-from-other-row': {
              // B's key (valid for B) with A's ciphertexts, read as B: every field fails.
              const mixed = { ...rowA, wrappedDek: rowB.wrappedDek, keyVersion: rowB.keyVersion, tenantId: rowB.tenantId }
              await expectRefused(rle.decryptRow(mixed, ctx(b)), a.plain, [DECRYPTION_FAILED])
              break
            }
            case 'row-to-other-tenant':
              fc.pre(a.tenantId !== b.tenantId)
              await expectRefused(rle.decryptRow({ ...rowA, tenantId: b.tenantId }, ctx(a, { tenantId: b.tenantId })), a.plain, [DECRYPTION_FAILED])
              break
            case 'row-to-other-model':
              await expectRefused(rle.decryptRow(rowA, ctx(a, { model: a.model === 'User' ? 'Member' : 'User' })), a.plain, [DECRYPTION_FAILED])
              break
            case 'row-to-other-id': {
              const bound = await encrypt({ ...a, rowId: id })
              await expectRefused(rle.decryptRow(bound, ctx(a, { rowId: `${id}'` })), a.plain, [DECRYPTION_FAILED])
              break
            }
          }
        },
      ),
      { numRuns: PROPERTY_RUNS.swapCiphertexts },
    )
  })
})

// ---------------------------------------------------------------------------------------------
// (c) parsers and decryptRow on arbitrary input

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const b64Char = fc.constantFrom(...B64URL.split(''))
const oddChar = fc.constantFrom('=', '+', '/', ' ', '\n', '.', '\u0000', 'é', '\uD800', '\uFFFD', '😀', 'S', 'J', 'B')
const validCiphertext = fc
  .record({
    type: fc.constantFrom('string' as const, 'json' as const, 'bytes' as const),
    iv: fc.uint8Array({ minLength: 12, maxLength: 12 }),
    ciphertext: fc.uint8Array({ maxLength: 64 }),
    tag: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  })
  .map((p) => formatCiphertext(p))

type Mutation = (s: string) => string
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), fc.oneof(b64Char, oddChar)).map(
    ([i, c]) =>
      (s: string) =>
        s.slice(0, i % (s.length + 1)) + c + s.slice(i % (s.length + 1)),
  ),
  fc.nat().map((i) => (s: string) => (s.length === 0 ? s : s.slice(0, i % s.length) + s.slice((i % s.length) + 1))),
  fc.tuple(fc.nat(), fc.oneof(b64Char, oddChar)).map(
    ([i, c]) =>
      (s: string) =>
        s.length === 0 ? c : s.slice(0, i % s.length) + c + s.slice((i % s.length) + 1),
  ),
  fc.nat().map((i) => (s: string) => s.slice(0, i % (s.length + 1))),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 15 })).map(
    ([i, bit]) =>
      (s: string) =>
        s.length === 0 ? s : flipChar(s, i % s.length, bit),
  ),
  fc.tuple(fc.nat(), fc.nat()).map(([i, j]) => (s: string) => {
    const parts = s.split('.')
    const [x, y] = [i % parts.length, j % parts.length]
    ;[parts[x], parts[y]] = [parts[y]!, parts[x]!]
    return parts.join('.')
  }),
  fc.nat().map((i) => (s: string) => {
    const parts = s.split('.')
    parts.splice(i % parts.length, 0, parts[i % parts.length]!)
    return parts.join('.')
  }),
  fc.nat().map((i) => (s: string) => {
    const parts = s.split('.')
    parts.splice(i % parts.length, 1)
    return parts.join('.')
  }),
  fc.constant((s: string) => s.toUpperCase()),
  fc.constant((s: string) => `${s}=`),
  fc.constant((s: string) => ` ${s}`),
)

/** A string that parses must be exactly the canonical form of what it parses to. */
function assertCanonical(s: string, boundMs = PARSE_BOUND_MS): void {
  const p = parseOrFormatError(() => parseCiphertext(s), boundMs)
  if (p === undefined) return
  expect(p.iv).toHaveLength(12)
  expect(p.tag).toHaveLength(16)
  expect(formatCiphertext(p)).toBe(s)
}

describe('(c) the ciphertext parser only ever throws coded errors', () => {
  it('on arbitrary strings (code points, UTF-16 units with lone surrogates, and rc1-shaped noise)', () => {
    const utf16 = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 80 })
    const rc1ish = fc
      .array(fc.oneof(fc.constantFrom('rc1', 'rc2', 'A256GCM', 'A128GCM', 's', 'j', 'b', 'x', '', '__proto__', 'constructor', '.', '..'), fc.string({ unit: b64Char, maxLength: 40 })), {
        maxLength: 8,
      })
      .map((parts) => parts.join('.'))
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), utf16, rc1ish), (s) => assertCanonical(s)),
      { numRuns: PROPERTY_RUNS.parseArbitraryStrings },
    )
  })

  it('on mutations of valid ciphertexts; whatever still parses is the one canonical spelling of its bytes', () => {
    fc.assert(
      fc.property(validCiphertext, fc.array(mutation, { minLength: 1, maxLength: 4 }), (valid, ms) => {
        assertCanonical(valid)
        assertCanonical(ms.reduce((s, m) => m(s), valid))
      }),
      { numRuns: PROPERTY_RUNS.parseMutatedCiphertexts },
    )
  })

  it('on non-strings and on huge inputs, in bounded time', () => {
    fc.assert(
      fc.property(fc.anything({ maxDepth: 2, withBigInt: true, withDate: true, withTypedArray: true, withMap: true, withSet: true, withNullPrototype: true }), (v) => {
        fc.pre(typeof v !== 'string')
        expect(parseOrFormatError(() => parseCiphertext(v))).toBeUndefined()
      }),
      { numRuns: PROPERTY_RUNS.parseNonStringsAndHugeInput - 20 },
    )
    fc.assert(
      fc.property(
        fc.integer({ min: 100_000, max: 2_000_000 }),
        b64Char,
        fc.constantFrom('rc1.A256GCM.s.AAAAAAAAAAAAAAAA.', 'rc1.A256GCM.s.', '', 'rc1.A256GCM.s.AAAAAAAAAAAAAAAA.AAAA.'),
        (n, c, prefix) => {
          // Linear work on up to 2 MB; a backtracking regex would take minutes here.
          assertCanonical(prefix + c.repeat(n), HUGE_PARSE_BOUND_MS)
          assertCanonical(prefix + '.'.repeat(n), HUGE_PARSE_BOUND_MS)
        },
      ),
      { numRuns: 20 },
    )
  })
})

describe('(c) the wrapped-key parser only ever throws coded errors', () => {
  it('on arbitrary bytes, on mutations of valid wrapped keys and on non-bytes; what parses formats back to the same bytes', () => {
    const validWrapped = fc.record({ rowBound: fc.boolean(), providerBlob: fc.uint8Array({ minLength: 1, maxLength: 80 }) }).map((k) => formatWrappedKey(k))
    const mutated = fc.tuple(validWrapped, fc.nat(), fc.integer({ min: 0, max: 7 }), fc.nat()).map(([w, i, bit, cut]) => flipByte(w, i % w.length, bit).subarray(0, cut % (w.length + 2)))
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 100 }),
          validWrapped,
          mutated,
          fc.anything({ maxDepth: 1 }),
          fc.constantFrom(new Uint8Array(0), Buffer.from([1, 0]), Buffer.from([1, 1, 0]), Buffer.from([1, 2, 0])),
        ),
        (v) => {
          const p = parseOrFormatError(() => parseWrappedKey(v))
          if (p === undefined) return
          expect(v).toBeInstanceOf(Uint8Array)
          expect(Buffer.from(formatWrappedKey(p)).equals(Buffer.from(v as Uint8Array))).toBe(true)
        },
      ),
      { numRuns: PROPERTY_RUNS.parseWrappedKeyBytes },
    )
  })
})

describe('(c) decryptRow on arbitrary stored columns only ever throws coded errors', () => {
  it('garbage or mutated field values, wrapped keys, key versions, tenants and ids', async () => {
    const column = (real: fc.Arbitrary<unknown>) =>
      fc.oneof(
        { weight: 3, arbitrary: real },
        { weight: 1, arbitrary: fc.anything({ maxDepth: 1, withBigInt: true, withDate: true, withTypedArray: true }) },
        { weight: 1, arbitrary: fc.constantFrom(null, undefined, '', 0, true) },
      )
    await fc.assert(
      fc.asyncProperty(
        scenario(fullRow),
        fc.record({ s: fc.array(mutation, { maxLength: 2 }), j: fc.array(mutation, { maxLength: 2 }), b: fc.array(mutation, { maxLength: 2 }) }),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        async (sc, fieldMutations, pick, flipAt, cut) => {
          const stored = await encrypt(sc)
          const chosen = fc.sample(
            fc.record({
              s: column(fc.constant(fieldMutations.s.reduce((s, m) => m(s), stored.s as string))),
              j: column(fc.constant(fieldMutations.j.reduce((s, m) => m(s), stored.j as string))),
              b: column(fc.constant(fieldMutations.b.reduce((s, m) => m(s), stored.b as string))),
              wrappedDek: column(fc.constant(flipByte(stored.wrappedDek as Uint8Array, flipAt % (stored.wrappedDek as Uint8Array).length, flipAt % 8).subarray(0, cut % 70))),
              keyVersion: column(fc.constantFrom(...VERSIONS)),
              tenantId: column(fc.constant(sc.tenantId)),
              // Ids are values a database driver returns. (An object that String() cannot convert, such as
              // Object.create(null), makes decryptRow throw an uncoded TypeError: reported, src/fields/row.ts.)
              id: fc.oneof(fc.constant(sc.rowId), rowIdValue, fc.constantFrom(null, undefined, true), fc.date({ noInvalidDate: true }), fc.double()),
            }),
            { numRuns: 1, seed: pick },
          )[0]!
          const row: Row = { ...stored, ...chosen }
          let out: Row
          try {
            out = await rle.decryptRow(row, ctx(sc, { rowId: undefined }))
          } catch (e) {
            if (!(e instanceof RowcryptError)) throw new Error(`uncoded ${(e as Error)?.name}: ${(e as Error)?.message}`)
            return
          }
          // It may only succeed where nothing was tampered with: every field is null, absent, or its
          // genuine ciphertext decrypting to the genuine plaintext.
          for (const f of FIELD_NAMES) {
            if (row[f] === null || row[f] === undefined) expect(out[f]).toBe(row[f])
            else {
              expect(row[f]).toBe(stored[f])
              expectPlain({ ...sc.plain, [f]: out[f] }, sc.plain)
            }
          }
        },
      ),
      { numRuns: PROPERTY_RUNS.decryptGarbageRows },
    )
  })
})

describe('the property budget', () => {
  it('runs the counts listed in PROPERTY_RUNS', () => {
    expect(Object.keys(PROPERTY_RUNS)).toHaveLength(14)
    expect(Object.values(PROPERTY_RUNS).reduce((a, b) => a + b, 0)).toBe(11_700)
  })
})
