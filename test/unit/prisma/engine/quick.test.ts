// The quick paths (engine/quick.ts) against the general path, as an oracle: the same sequences of
// calls (reads that warm the known keys, creates and updates of every data shape, rotations of a
// row's key, deletes, calls as another tenant) run on two engines over two copies of one fake table, one
// engine with the quick paths and one without them. After each call both must have sent the same
// statements, returned the same result or failed with the same error, and left the same values
// in their tables. Nobody lists which shapes the quick paths take: the generator mixes the shapes
// they take with the ones beside them, and the oracle needs no list either.
import fc from 'fast-check'
import { RowLevelEncryption } from '../../../../src/fields/row'
import type { ModelSpec } from '../../../../src/fields/spec'
import { newCallStats } from '../../../../src/metrics/observer'
import type { Obj } from '../../../../src/prisma/engine/context'
import { QueryEngine, type QueryIO } from '../../../../src/prisma/query'
import { LocalKeyProvider, withTenant } from '../../../../src'
import { storedRow, engineOf } from './fixture'
import { table } from '../walk/fixture'

// The general path alone: the same modules, loaded again with the quick paths taking nothing.
let GeneralEngine: typeof QueryEngine
let generalWithTenant: typeof withTenant
jest.isolateModules(() => {
  jest.doMock('../../../../src/prisma/engine/quick', () => ({ quickFindUnique: () => undefined, quickUpdate: () => undefined, quickCreate: () => undefined }))
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded after the mock, in the isolated registry
  GeneralEngine = (require('../../../../src/prisma/query') as typeof import('../../../../src/prisma/query')).QueryEngine
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the tenant context of that registry
  generalWithTenant = (require('../../../../src') as typeof import('../../../../src')).withTenant
})

const RUNS = 300
const specs = [...table.values()].map((m) => m.spec).filter((s): s is ModelSpec => s !== undefined)
const NONE: ReadonlySet<string> = new Set()
const COLUMNS: Record<string, string[]> = {
  User: ['id', 'name', 'email', 'wrappedDek', 'keyVersion', 'tenantId', 'teamId'],
  Post: ['id', 'slug', 'title', 'wrappedDek', 'keyVersion', 'tenantId', 'authorId'],
}

/** What Prisma rejects with when an update's where matches no row. */
const p2025 = () => Object.assign(new Error('No record was found for an update.'), { code: 'P2025' })
/** What Prisma rejects with when a create's id is taken. */
const p2002 = () => Object.assign(new Error('Unique constraint failed on the fields: (`id`)'), { code: 'P2002' })

function matches(row: Obj, where: unknown, ignoreTenant = false): boolean {
  if (typeof where !== 'object' || where === null) return false
  for (const [k, v] of Object.entries(where as Obj)) {
    if (v === undefined || (ignoreTenant && k === 'tenantId')) continue
    if (k === 'AND') {
      if (!(Array.isArray(v) ? v : [v]).every((w) => matches(row, w, ignoreTenant))) return false
    } else if (v instanceof Uint8Array) {
      if (!(row[k] instanceof Uint8Array) || Buffer.compare(Buffer.from(row[k] as Uint8Array), Buffer.from(v)) !== 0) return false
    } else if (row[k] !== v) return false
  }
  return true
}

/** One copy of the table, and the Prisma it answers for: whole rows, select and omit. */
class FakeTable {
  readonly rows = new Map<string, Obj>()
  readonly sent: unknown[] = []
  /**
   * `mysql`: an update whose where matches nothing returns the row as it was (Prisma's read before
   * it). `leaky`: the tenant conditions are ignored, as if something between rowcrypt and the
   * database dropped them; rowcrypt's check of each row's tenant must catch what comes back.
   * `trigger`: a create stores values of this other row in a new User (its email, or its wrapped
   * key when the name's length is odd) instead of the ones sent, as a database trigger could.
   */
  constructor(
    readonly mysql: boolean,
    readonly leaky: boolean,
    public trigger?: Obj,
  ) {}

  clone(): FakeTable {
    const t = new FakeTable(this.mysql, this.leaky, this.trigger)
    for (const [k, r] of this.rows) t.rows.set(k, { ...r })
    return t
  }

  private shape(model: string, row: Obj, args: Obj): Obj {
    const out: Obj = {}
    const select = args.select as Obj | undefined
    const omit = (args.omit as Obj | undefined) ?? {}
    for (const c of COLUMNS[model]!) if (select ? select[c] : !omit[c]) out[c] = row[c] instanceof Uint8Array ? new Uint8Array(row[c] as Uint8Array) : row[c]
    return out
  }

  find(model: string, where: Obj): Obj | undefined {
    for (const [k, r] of this.rows) if (k.startsWith(`${model}:`) && matches(r, where, this.leaky)) return r
    return undefined
  }

  query(model: string, operation: string) {
    return async (args: Obj): Promise<unknown> => {
      this.sent.push(normalize({ model, operation, args }))
      if (operation === 'findUnique' || operation === 'findUniqueOrThrow') {
        const row = this.find(model, args.where as Obj)
        if (row === undefined) {
          if (operation === 'findUniqueOrThrow') throw p2025()
          return null
        }
        return this.shape(model, row, args)
      }
      if (operation === 'create') return this.create(model, args)
      // update
      const row = this.find(model, args.where as Obj)
      if (row === undefined) {
        const loose = this.mysql ? this.find(model, { id: (args.where as Obj).id }) : undefined
        if (loose !== undefined && matches(loose, { tenantId: (args.where as Obj).tenantId })) return this.shape(model, loose, args)
        throw p2025()
      }
      for (const [k, v] of Object.entries(args.data as Obj)) {
        if (v === undefined) continue
        if (typeof v === 'object' && v !== null && 'set' in v) row[k] = (v as Obj).set
        else if (typeof v === 'object' && v !== null && 'increment' in v) row[k] = (row[k] as number) + ((v as Obj).increment as number)
        else row[k] = v
      }
      return this.shape(model, row, args)
    }
  }

  // A new row: the columns not given are null; an id not given is the next free one (User: 4, 5, ...;
  // Post: p3, p4, ...).
  private create(model: string, args: Obj): Obj {
    const row: Obj = Object.fromEntries(COLUMNS[model]!.map((c) => [c, null]))
    for (const [k, v] of Object.entries(args.data as Obj)) if (v !== undefined) row[k] = v instanceof Uint8Array ? new Uint8Array(v) : v
    if (row.id === null) for (let n = 4; row.id === null; n++) if (!this.rows.has(`${model}:${model === 'User' ? n : `p${n - 1}`}`)) row.id = model === 'User' ? n : `p${n - 1}`
    if (this.rows.has(`${model}:${String(row.id)}`)) throw p2002()
    if (this.trigger !== undefined && model === 'User') {
      if (String(row.name).length % 2 === 1) row.wrappedDek = new Uint8Array(this.trigger.wrappedDek as Uint8Array)
      else if (row.email !== null) row.email = this.trigger.email
    }
    this.rows.set(`${model}:${String(row.id)}`, row)
    return this.shape(model, row, args)
  }

  io(): QueryIO {
    return {
      readUnique: async (model, where, select) => {
        this.sent.push(normalize({ model, operation: 'readUnique', where, select }))
        const row = this.find(model, where)
        return row === undefined ? null : this.shape(model, row, { select })
      },
      readMany: async () => [],
      exists: async (model, where) => (this.sent.push(normalize({ model, operation: 'exists', where })), this.find(model, where) !== undefined),
      inBatch: () => false,
      globallyOmitted: () => NONE,
    }
  }
}

// Ciphertexts and wrapped keys are random: compared by what they are, not their bytes.
function normalize(v: unknown): unknown {
  if (typeof v === 'string') return v.startsWith('rc1.') ? '<ciphertext>' : v
  if (v instanceof Uint8Array) return '<bytes>'
  if (Array.isArray(v)) return v.map(normalize)
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]))
  return v
}

/** The table's rows decrypted (what a reader would see), to compare two copies. */
async function contents(rle: RowLevelEncryption, t: FakeTable): Promise<Obj> {
  const out: Obj = {}
  for (const [k, r] of t.rows) {
    let plain: Obj
    try {
      plain = await rle.decryptRow(r, { model: k.split(':')[0]!, tenantId: r.tenantId as string })
    } catch (e) {
      plain = { undecryptable: (e as { code?: string }).code }
    }
    out[k] = normalize({ ...plain, wrappedDek: undefined, keyVersion: undefined })
  }
  return out
}

type Call =
  | { kind: 'read'; model: string; operation: string; args: Obj; tenant: string }
  | { kind: 'update' | 'create'; model: string; args: Obj; tenant: string }
  | { kind: 'rekey'; model: string; id: unknown }
  | { kind: 'delete'; model: string; id: unknown }

const tenant = fc.constantFrom('A', 'A', 'A', 'B')
const text = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('', 'ünï', 'x\uD800y'))
// Ids 4 and p3 are the first a create without an id gets.
const userId = fc.constantFrom(1, 2, 3, 4, 9)
const postId = fc.constantFrom('p1', 'p2', 'p3', 'p9')

const whereOf = (id: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 6, arbitrary: id.map((i) => ({ id: i })) },
    { weight: 1, arbitrary: fc.tuple(id, tenant).map(([i, t]) => ({ id: i, tenantId: t })) },
    { weight: 1, arbitrary: id.map((i) => ({ id: String(i) })) },
    { weight: 1, arbitrary: fc.constant({ id: null }) },
    { weight: 1, arbitrary: id.map((i) => ({ id: { equals: i } })) },
  )
const extras = fc.oneof(
  { weight: 6, arbitrary: fc.constant({}) },
  fc.constant({ select: { id: true } }),
  fc.constant({ omit: { name: true } }),
  fc.constant({ select: null }),
  fc.constant({ take: 1 }),
)

// The shape the quick path takes (plain values of the model's own columns, an encrypted one among
// them), alone or with one thing beside it: each of those must send the call to the general path.
const oddUserData: fc.Arbitrary<Obj> = fc.oneof(
  { weight: 20, arbitrary: fc.constant({}) },
  fc.constant({ email: null }),
  fc.constant({ email: 5 }),
  text.map((s) => ({ email: { set: s } })),
  text.map((s) => ({ name: { set: s } })),
  fc.constant({ name: { increment: 1 } }),
  fc.constant({ name: true }),
  fc.constant({ teamId: 1 }),
  fc.constant({ tenantId: 'B' }),
  fc.constant({ tenantId: 'A' }),
  fc.constant({ wrappedDek: new Uint8Array(3) }),
  fc.constant({ keyVersion: 'v1' }),
  fc.constant({ id: 7 }),
  fc.constant({ posts: { create: { id: 'p5', slug: 's', title: 't' } } }),
  fc.constant({ other: 1 }),
  fc.constant({ email: undefined }),
)
const userData = fc.tuple(fc.record({ email: text, name: fc.oneof(text, fc.constant(null)) }, { requiredKeys: ['email'] }), oddUserData).map(([base, odd]) => ({ ...base, ...odd }))
// A create's data: the shape the quick path takes (plain values of the model's own columns, the
// id given or not), or that shape with one thing beside it.
const newUserData = fc
  .tuple(fc.record({ id: fc.constantFrom(1, 5, '6', null), email: fc.oneof(text, fc.constant(null)), name: text }, { requiredKeys: ['name'] }), oddUserData)
  .map(([base, odd]) => ({ ...base, ...odd }))
const newPostData = fc.record(
  { id: fc.constantFrom('p1', 'p8'), title: fc.oneof({ weight: 4, arbitrary: text }, fc.constant(null)), slug: text, authorId: fc.constantFrom(1, 3, 9), tenantId: fc.constantFrom('A', 'B') },
  { requiredKeys: ['slug'] },
)
const postData = fc
  .record({ title: fc.oneof({ weight: 4, arbitrary: text }, fc.constant(null)), slug: text, authorId: fc.constantFrom(1, 2, 9) }, { requiredKeys: [] })
  .filter((d) => Object.keys(d).length > 0)

const call: fc.Arbitrary<Call> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      model: fc.constant('User'),
      operation: fc.constantFrom('findUnique', 'findUniqueOrThrow'),
      args: fc.tuple(whereOf(userId), extras).map(([where, x]) => ({ where, ...x })),
      tenant,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('read' as const), model: fc.constant('Post'), operation: fc.constant('findUnique'), args: whereOf(postId).map((where) => ({ where })), tenant }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('update' as const),
      model: fc.constant('User'),
      args: fc.tuple(whereOf(userId), userData, extras).map(([where, data, x]) => ({ where, data, ...x })),
      tenant,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('update' as const), model: fc.constant('Post'), args: fc.tuple(whereOf(postId), postData).map(([where, data]) => ({ where, data })), tenant }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('create' as const), model: fc.constant('User'), args: fc.tuple(newUserData, extras).map(([data, x]) => ({ data, ...x })), tenant }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('create' as const), model: fc.constant('Post'), args: newPostData.map((data) => ({ data })), tenant }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rekey' as const), model: fc.constant('User'), id: userId }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), model: fc.constant('User'), id: userId }) },
)

// structuredClone would make objects of another realm's Object here (Jest's sandbox).
function deepCopy(v: unknown): unknown {
  if (v instanceof Uint8Array) return new Uint8Array(v)
  if (Array.isArray(v)) return v.map(deepCopy)
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deepCopy(x)]))
  return v
}

/** What a call gave: its result, or its error as a user sees it (class, code, message). */
async function outcome(p: () => Promise<unknown>): Promise<unknown> {
  try {
    return { ok: normalize(await p()) }
  } catch (e) {
    const err = e as Error & { code?: unknown }
    return { error: err.constructor.name, code: err.code, message: err.message }
  }
}

describe('the quick paths do what the general path does', () => {
  // A quick engine must actually take some calls, or the comparison proves nothing.
  const taken = { findUnique: 0, update: 0, create: 0 }
  const made = { findUnique: 0, update: 0, create: 0 }
  const quick = jest.requireActual('../../../../src/prisma/engine/quick') as typeof import('../../../../src/prisma/engine/quick')
  const { quickFindUnique, quickUpdate, quickCreate } = quick
  beforeAll(() => {
    jest.spyOn(quick, 'quickFindUnique').mockImplementation((...a) => {
      const r = quickFindUnique(...a)
      if (r !== undefined) taken.findUnique++
      return r
    })
    jest.spyOn(quick, 'quickUpdate').mockImplementation((...a) => {
      const r = quickUpdate(...a)
      if (r !== undefined) taken.update++
      return r
    })
    jest.spyOn(quick, 'quickCreate').mockImplementation((...a) => {
      const r = quickCreate(...a)
      if (r !== undefined) taken.create++
      return r
    })
  })
  afterAll(() => jest.restoreAllMocks())

  it.each([
    ['PostgreSQL', false, false, false],
    ['MySQL', true, false, false],
    ['a layer that drops tenant conditions', false, true, false],
    ['a key provider that makes and unwraps keys only asynchronously', false, false, true],
    ['a trigger that stores another value in a new row', false, false, false, true],
  ])('on sequences of calls, reads, rotations and deletes (%s)', async (_, mysql, leaky, asynchronous, trigger = false) => {
    taken.findUnique = taken.update = taken.create = made.findUnique = made.update = made.create = 0
    // Replacing unwrapDataKey and generateDataKey turns the provider's synchronous paths off (as an
    // audit hook would).
    const provider = new LocalKeyProvider({ keys: { v1: Buffer.alloc(32, 7) }, activeVersion: 'v1' })
    if (asynchronous) {
      provider.unwrapDataKey = LocalKeyProvider.prototype.unwrapDataKey.bind(provider)
      provider.generateDataKey = LocalKeyProvider.prototype.generateDataKey.bind(provider)
    }
    const rle = RowLevelEncryption.fromSpecs(provider, specs)
    const seedEngine = engineOf()
    const seed = new FakeTable(mysql, leaky)
    for (const [id, t] of [
      [1, 'A'],
      [2, 'A'],
      [3, 'B'],
    ] as const)
      seed.rows.set(`User:${id}`, { teamId: null, ...(await storedRow(seedEngine, 'User', { id, name: `n${id}`, email: `e${id}` }, t)) })
    for (const [id, t, author] of [
      ['p1', 'A', 1],
      ['p2', 'B', 3],
    ] as const)
      seed.rows.set(`Post:${id}`, await storedRow(seedEngine, 'Post', { id, slug: `s-${id}`, title: `t-${id}`, authorId: author }, t))
    // Values of another row, under another key.
    if (trigger) seed.trigger = seed.rows.get('User:1')

    await fc.assert(
      fc.asyncProperty(fc.array(call, { minLength: 1, maxLength: 12 }), async (calls) => {
        const a = seed.clone()
        const b = seed.clone()
        const quickEngine = new QueryEngine(table, rle)
        const generalEngine = new GeneralEngine(table, rle)
        for (const c of calls) {
          if (c.kind === 'rekey' || c.kind === 'delete') {
            for (const t of [a, b]) {
              const key = `${c.model}:${String(c.id)}`
              const row = t.rows.get(key)
              if (row === undefined) continue
              if (c.kind === 'delete') t.rows.delete(key)
              else {
                // A row a trigger left undecryptable cannot be re-keyed: it stays as it is, in both copies.
                const rekeyed = await rle.rekeyRow(row, 'v1', { model: c.model, tenantId: row.tenantId as string }).catch(() => undefined)
                if (rekeyed !== undefined) t.rows.set(key, { ...row, ...rekeyed })
              }
            }
            continue
          }
          const operation = c.kind === 'read' ? c.operation : c.kind
          made[c.kind === 'read' ? 'findUnique' : c.kind]++
          const clone = () => deepCopy(c.args) as Obj
          const got = await outcome(() => withTenant(c.tenant, () => quickEngine.handle(c.model, operation, clone(), a.query(c.model, operation), a.io(), newCallStats())))
          const want = await outcome(() => generalWithTenant(c.tenant, () => generalEngine.handle(c.model, operation, clone(), b.query(c.model, operation), b.io(), newCallStats())))
          expect(got).toEqual(want)
          expect(a.sent).toEqual(b.sent)
          expect(await contents(rle, a)).toEqual(await contents(rle, b))
        }
      }),
      { numRuns: RUNS },
    )
    expect(taken.findUnique).toBeGreaterThan(made.findUnique / 8)
    expect(taken.update).toBeGreaterThan(made.update / 8)
    expect(taken.create).toBeGreaterThan(made.create / 8)
  })
})

/** Queries that fail, the two ways a query can. */
const FAILING_QUERIES: Array<[string, () => Promise<unknown>]> = [
  ['rejects', () => Promise.reject(new Error('refused'))],
  [
    'throws before returning a promise',
    () => {
      throw new Error('refused')
    },
  ],
]

// The row keys `rle.openRowKeySync` or `rle.newRowKeySync` hands out, recorded so a test can see
// whether they were zeroed; `restore` removes the spy.
function recordKeys(rle: RowLevelEncryption, method: 'openRowKeySync' | 'newRowKeySync'): { keys: Array<{ plaintextKey: Buffer }>; restore: () => void } {
  const keys: Array<{ plaintextKey: Buffer }> = []
  const original = (rle[method] as (...a: unknown[]) => { plaintextKey: Buffer } | undefined).bind(rle)
  const spy = jest.spyOn(rle, method as 'newRowKeySync').mockImplementation(((...a: unknown[]) => {
    const key = original(...a)
    if (key !== undefined) keys.push(key)
    return key
  }) as never)
  return { keys, restore: () => spy.mockRestore() }
}

const zeroed = (k: { plaintextKey: Buffer }) => k.plaintextKey.every((b) => b === 0)

describe('the short update zeroes the row key it opened', () => {
  const provider = new LocalKeyProvider({ keys: { v1: Buffer.alloc(32, 7) }, activeVersion: 'v1' })
  const rle = RowLevelEncryption.fromSpecs(provider, specs)

  /** An engine whose opened row keys are recorded, and user 1 of tenant A read once (its key known). */
  async function setUp() {
    const { keys: opened, restore } = recordKeys(rle, 'openRowKeySync')
    const t = new FakeTable(false, false)
    t.rows.set('User:1', { teamId: null, ...(await storedRow(engineOf(), 'User', { id: 1, name: 'n', email: 'e' }, 'A')) })
    const engine = new QueryEngine(table, rle)
    await withTenant('A', () => engine.handle('User', 'findUnique', { where: { id: 1 } }, t.query('User', 'findUnique'), t.io(), newCallStats()))
    opened.length = 0
    return { opened, engine, t, restore }
  }

  it('when the update succeeds', async () => {
    const { opened, engine, t, restore } = await setUp()
    const row = (await withTenant('A', () => engine.handle('User', 'update', { where: { id: 1 }, data: { email: 'new' } }, t.query('User', 'update'), t.io(), newCallStats()))) as Obj
    restore()
    expect(row.email).toBe('new')
    expect(opened).toHaveLength(1)
    expect(zeroed(opened[0]!)).toBe(true)
  })

  it.each(FAILING_QUERIES)('when the query %s', async (_, failing) => {
    const { opened, engine, t, restore } = await setUp()
    await expect(withTenant('A', () => engine.handle('User', 'update', { where: { id: 1 }, data: { email: 'new' } }, failing, t.io(), newCallStats()))).rejects.toThrow('refused')
    restore()
    expect(opened).toHaveLength(1)
    expect(zeroed(opened[0]!)).toBe(true)
  })
})

describe('the short create zeroes the row key it made', () => {
  const provider = new LocalKeyProvider({ keys: { v1: Buffer.alloc(32, 7) }, activeVersion: 'v1' })
  const rle = RowLevelEncryption.fromSpecs(provider, specs)

  /** Creates a User through the quick path with `query`, recording the keys it made. */
  async function create(query: (args: Obj) => Promise<unknown>) {
    const { keys: made, restore } = recordKeys(rle, 'newRowKeySync')
    const t = new FakeTable(false, false)
    try {
      const engine = new QueryEngine(table, rle)
      const row = await withTenant('A', () => engine.handle('User', 'create', { data: { id: 1, name: 'n', email: 'e' } }, query, t.io(), newCallStats()))
      return { made, row: row as Obj }
    } catch (e) {
      return { made, error: e as Error }
    } finally {
      restore()
    }
  }

  it('when the create succeeds, handing back the plaintext given', async () => {
    const t = new FakeTable(false, false)
    const { made, row } = await create(t.query('User', 'create'))
    expect(row).toEqual({ id: 1, name: 'n', email: 'e', teamId: null })
    expect((t.rows.get('User:1')!.email as string).startsWith('rc1.')).toBe(true)
    expect(made).toHaveLength(1)
    expect(zeroed(made[0]!)).toBe(true)
  })

  it.each(FAILING_QUERIES)('when the query %s', async (_, failing) => {
    const { made, error } = await create(failing)
    expect(error?.message).toBe('refused')
    expect(made).toHaveLength(1)
    expect(zeroed(made[0]!)).toBe(true)
  })
})
