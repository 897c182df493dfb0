// A seeded generator of random, mostly valid Prisma calls over the fuzz schema, made as tenant A.
// Values that name rows pick B's rows and shared rows related to B's rows about as often as A's:
// that is where leaks live. Calls Prisma itself rejects are fine (both databases agree on them);
// the aim is to reach every shape of where / select / include / orderBy / nested write.
import { prng } from '../support/markers'
import type { FuzzKind } from './migrate'
import { DATES, type Id, type World } from './seed'
import type { ModelInfo, RelationInfo, ScalarInfo, Schema } from './schema'

export type Obj = Record<string, unknown>

/** One Prisma call: `client[model][op](args)`, then the fluent relation methods in `fluent`. */
export interface OpCall {
  kind: 'op'
  model: string
  op: string
  args: Obj
  fluent?: Array<{ rel: string; args?: Obj }>
}
/** `$transaction([...])` (batch) or `$transaction(async (tx) => ...)` with the calls in order (itx). */
export interface TxCall {
  kind: 'batch' | 'itx'
  items: OpCall[]
}
export type Call = OpCall | TxCall

export const READ_OPS = ['findUnique', 'findUniqueOrThrow', 'findFirst', 'findFirstOrThrow', 'findMany', 'count', 'aggregate', 'groupBy']
export const WRITE_OPS = ['create', 'createMany', 'createManyAndReturn', 'update', 'updateMany', 'upsert', 'delete', 'deleteMany']

/** A PRNG for call `index` of run `seed`: each call can be generated again on its own. */
export function callRng(seed: number, index: number): () => number {
  return prng(mix32((mix32(seed >>> 0) + Math.imul(index + 1, 0x9e3779b9)) >>> 0))
}

// murmur3's 32-bit finalizer: every input bit changes about half the output bits.
function mix32(x: number): number {
  let h = x >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0
  return (h ^ (h >>> 16)) >>> 0
}

const bytes = (...b: number[]) => new Uint8Array(b)

// Required columns with a `@default(...)` in models.prisma (the manifest does not record literal defaults).
const DEFAULTED = new Set(['Team.rank', 'User.age', 'User.points', 'User.active', 'Profile.score', 'Post.published', 'Post.views', 'Comment.position', 'Membership.role'])

const STRINGS: Record<string, unknown[]> = {
  name: ['ann', 'bob', 'al', 'amy', 'bea', 'zed', 'red', 'blue', 'green', 'gold', 'alpha', 'beta', ''],
  namespace: ['ns1', 'ns2', 'ns3'],
  text: ['nice', 'meh', 'ok', 'loose', 'new'],
  role: ['member', 'owner', 'admin'],
  ssn: ['111-11', '222-22', '333-33'],
  bio: ['a bio one', 'b bio one', 'b bio two', 'new bio', ''],
  title: ['hello', 'news', 'draft', 'notes', 'fresh'],
  body: ['a body', 'b body', 'other', ''],
}
const JSONS: unknown[] = [{ theme: 'dark' }, { theme: 'light', n: [1, 2] }, [1, 'two', null], 'text', 42, { nested: { deep: [true, false] } }]
const BYTES = [bytes(1, 2, 3), bytes(), bytes(9), bytes(255, 0, 127)]
const INTS = [0, 1, 3, 5, 10, 25, 30, 33, 40, 41, -1]
const BIGINTS = [0n, 1n, 3n, 7n, 12n, -5n]
const FLOATS = [2.5, 4.5, 0, -1.25, 10]

export class Generator {
  private readonly fresh: Record<string, Id[]> = {}
  private freshCount = 0

  constructor(
    private readonly rng: () => number,
    private readonly schema: Schema,
    private readonly world: World,
    private readonly kind: FuzzKind,
    /** The call's index in the run, for ids no other call uses. */
    private readonly index: number,
  ) {}

  // ---- randomness ---------------------------------------------------------------------------

  private int(n: number): number {
    return Math.floor(this.rng() * n)
  }
  private chance(p: number): boolean {
    return this.rng() < p
  }
  private pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('fuzz gen: pick from nothing')
    return xs[this.int(xs.length)]!
  }
  private weighted<T>(options: Array<[number, () => T]>): T {
    const live = options.filter(([w]) => w > 0)
    let r = this.rng() * live.reduce((s, [w]) => s + w, 0)
    for (const [w, f] of live) if ((r -= w) < 0) return f()
    return live[live.length - 1]![1]()
  }
  private subset<T>(xs: readonly T[], min: number, max: number): T[] {
    const n = Math.min(xs.length, min + this.int(max - min + 1))
    const pool = [...xs]
    const out: T[] = []
    while (out.length < n && pool.length > 0) out.push(pool.splice(this.int(pool.length), 1)[0]!)
    return out
  }
  private m(name: string): ModelInfo {
    return this.schema.get(name)!
  }

  // ---- calls --------------------------------------------------------------------------------

  call(): Call {
    return this.weighted<Call>([
      [80, () => this.opCall(this.pickModel())],
      [7, () => ({ kind: 'batch', items: this.txItems() })],
      [7, () => ({ kind: 'itx', items: this.txItems() })],
    ])
  }

  private txItems(): OpCall[] {
    const n = 2 + this.int(2)
    const items: OpCall[] = []
    for (let i = 0; i < n; i++) items.push(this.opCall(this.pickModel(), false))
    return items
  }

  private pickModel(): string {
    return this.weighted([...this.schema.keys()].map((name): [number, () => string] => [name === 'Team' || name === 'User' ? 3 : name === 'Profile' || name === 'Post' ? 2 : 1, () => name]))
  }

  /**
   * `skipDuplicates` turns a unique conflict with B's row (channel (a)) into a skipped row: the
   * oracle judges that exactly for a top-level createMany(AndReturn) on its own, so it is used
   * only there (not in transactions, not in nested createMany).
   */
  private skipDuplicatesOk = false

  opCall(model: string, fluentOk = true): OpCall {
    this.skipDuplicatesOk = fluentOk
    const ops: Array<[number, () => OpCall]> = [
      [8, () => this.findUnique(model, this.chance(0.3) ? 'findUniqueOrThrow' : 'findUnique')],
      [7, () => this.findFirst(model, this.chance(0.3) ? 'findFirstOrThrow' : 'findFirst')],
      [12, () => this.findMany(model)],
      [3, () => this.count(model)],
      [3, () => this.aggregate(model)],
      [3, () => this.groupBy(model)],
      [fluentOk ? 9 : 0, () => this.fluent(model)],
      [7, () => this.create(model)],
      [3, () => this.createMany(model, 'createMany')],
      [this.kind === 'mysql' ? 0 : 2, () => this.createMany(model, 'createManyAndReturn')],
      [10, () => this.update(model)],
      [3, () => this.updateMany(model)],
      [5, () => this.upsert(model)],
      [5, () => this.delete(model)],
      [3, () => this.deleteMany(model)],
    ]
    return this.weighted(ops)
  }

  private op(model: string, op: string, args: Obj): OpCall {
    return { kind: 'op', model, op, args }
  }

  private readOptions(m: ModelInfo, args: Obj): Obj {
    if (this.kind === 'postgres' && this.chance(0.15)) args.relationLoadStrategy = this.pick(['join', 'query'])
    return args
  }

  private findUnique(model: string, op: string): OpCall {
    const m = this.m(model)
    return this.op(model, op, this.readOptions(m, { where: this.uniqueWhere(m, 0, true), ...this.selection(m, 0) }))
  }

  private findFirst(model: string, op: string): OpCall {
    const m = this.m(model)
    const args: Obj = {}
    if (this.chance(0.7)) args.where = this.where(m, 0)
    this.paging(m, args, true)
    Object.assign(args, this.selection(m, 0))
    return this.op(model, op, this.readOptions(m, args))
  }

  private findMany(model: string): OpCall {
    const m = this.m(model)
    const args: Obj = {}
    if (this.chance(0.75)) args.where = this.where(m, 0)
    this.paging(m, args, false)
    Object.assign(args, this.selection(m, 0))
    return this.op(model, 'findMany', this.readOptions(m, args))
  }

  /** orderBy, cursor, take, skip, distinct; a total order (ending in the primary key) whenever the result depends on it. */
  private paging(m: ModelInfo, args: Obj, single: boolean, distinct = true): void {
    const take = this.chance(single ? 0.2 : 0.3)
    const skip = this.chance(0.2)
    const cursor = this.chance(0.15)
    const dist = distinct && this.chance(0.1)
    const order = single || take || skip || cursor || dist || this.chance(0.4)
    if (take) args.take = this.pick([1, 2, 3, -1, -2])
    if (skip) args.skip = this.pick([0, 1, 2])
    if (cursor) args.cursor = this.uniqueWhere(m, 1, false)
    if (dist)
      args.distinct = this.subset(
        this.sortable(m, false).map((s) => s.name),
        1,
        2,
      )
    if (order) {
      const total = single || take || skip || cursor || dist || this.chance(0.5)
      args.orderBy = this.orderBy(m, 0, total)
    }
  }

  private count(model: string): OpCall {
    const m = this.m(model)
    const args: Obj = {}
    if (this.chance(0.7)) args.where = this.where(m, 0)
    if (this.chance(0.3)) this.paging(m, args, false, false)
    if (this.chance(0.4)) args.select = { _all: true, ...Object.fromEntries(this.subset(this.countable(m), 1, 2).map((s) => [s.name, true])) }
    return this.op(model, 'count', args)
  }

  private aggregate(model: string): OpCall {
    const m = this.m(model)
    const args: Obj = {}
    if (this.chance(0.7)) args.where = this.where(m, 0)
    if (this.chance(0.3)) this.paging(m, args, false, false)
    Object.assign(args, this.aggregates(m))
    if (Object.keys(args).every((k) => !k.startsWith('_'))) args._count = true
    return this.op(model, 'aggregate', args)
  }

  private aggregates(m: ModelInfo): Obj {
    const out: Obj = {}
    const numeric = m.scalars.filter((s) => ['Int', 'Float', 'BigInt'].includes(s.type) && !this.channelC(m, s.name))
    const comparable = this.sortable(m, true)
    if (this.chance(0.6)) out._count = this.chance(0.3) ? true : { _all: this.chance(0.5), ...Object.fromEntries(this.subset(this.countable(m), 1, 2).map((s) => [s.name, true])) }
    if (this.chance(0.4)) out._min = Object.fromEntries(this.subset(comparable, 1, 2).map((s) => [s.name, true]))
    if (this.chance(0.4)) out._max = Object.fromEntries(this.subset(comparable, 1, 2).map((s) => [s.name, true]))
    if (numeric.length > 0 && this.chance(0.4)) out._avg = Object.fromEntries(this.subset(numeric, 1, 2).map((s) => [s.name, true]))
    if (numeric.length > 0 && this.chance(0.4)) out._sum = Object.fromEntries(this.subset(numeric, 1, 2).map((s) => [s.name, true]))
    return out
  }

  private groupBy(model: string): OpCall {
    const m = this.m(model)
    const groupable = this.sortable(m, true)
    const by = this.subset(groupable, 1, 2).map((s) => s.name)
    const args: Obj = { by }
    if (this.chance(0.6)) args.where = this.where(m, 0)
    Object.assign(args, this.aggregates(m))
    if (this.chance(0.3)) {
      const f = this.pick(by)
      const s = m.scalars.find((x) => x.name === f)!
      args.having = this.weighted<Obj>([
        [1, () => ({ [f]: this.scalarFilter(m, s) })],
        [1, () => ({ [f]: { _count: { gt: this.pick([0, 1, 2]) } } })],
      ])
    }
    const take = this.chance(0.25)
    const skip = this.chance(0.15)
    if (take || skip || this.chance(0.5)) {
      const entries: Obj[] = []
      if (this.chance(0.5)) {
        const agg = this.pick(['_count', '_min', '_max'])
        entries.push({ [agg]: { [this.pick(agg === '_count' ? this.countable(m).map((s) => s.name) : groupable.map((s) => s.name))]: this.pick(['asc', 'desc']) } })
      }
      // Rows of a groupBy are unique per `by` tuple: ordering by all of `by` last makes it total.
      for (const f of take || skip || this.chance(0.5) ? by : by.slice(0, 1)) entries.push({ [f]: this.pick(['asc', 'desc']) })
      args.orderBy = entries
      if (take) args.take = this.pick([1, 2, -1])
      if (skip) args.skip = this.pick([0, 1])
    }
    return this.op(model, 'groupBy', args)
  }

  private fluent(model: string): OpCall {
    const m = this.m(model)
    const call = this.chance(0.6) ? this.findUnique(model, this.chance(0.3) ? 'findUniqueOrThrow' : 'findUnique') : this.findFirst(model, this.chance(0.3) ? 'findFirstOrThrow' : 'findFirst')
    delete call.args.select
    delete call.args.include
    delete call.args.omit
    const chain: Array<{ rel: string; args?: Obj }> = []
    let cur = m
    const depth = this.chance(0.5) ? 2 : 1
    for (let i = 0; i < depth; i++) {
      const r = this.pick(cur.relations)
      const t = this.m(r.target)
      const step: { rel: string; args?: Obj } = { rel: r.name }
      if (this.chance(0.4)) {
        const a: Obj = r.isList ? this.listArgs(t, 1) : this.selection(t, 1)
        if (Object.keys(a).length > 0) step.args = a
      }
      chain.push(step)
      // After a to-many step Prisma's fluent API ends (the result is a list).
      if (r.isList) break
      cur = t
    }
    call.fluent = chain
    return call
  }

  // ---- writes -------------------------------------------------------------------------------

  private create(model: string): OpCall {
    const m = this.m(model)
    return this.op(model, 'create', { data: this.createData(m, undefined, 0), ...this.selection(m, 0) })
  }

  private createMany(model: string, op: string): OpCall {
    const m = this.m(model)
    const n = 1 + this.int(3)
    const data = this.uniform(
      m,
      Array.from({ length: n }, () => this.flatCreateData(m, undefined)),
    )
    const args: Obj = { data: n === 1 && this.chance(0.3) ? data[0] : data }
    if (this.kind !== 'sqlite' && this.skipDuplicatesOk && this.chance(0.3)) args.skipDuplicates = true
    if (op === 'createManyAndReturn') {
      const sel = this.selection(m, 0, true)
      Object.assign(args, sel)
    }
    return this.op(model, op, args)
  }

  private update(model: string): OpCall {
    const m = this.m(model)
    return this.op(model, 'update', { where: this.uniqueWhere(m, 0, true), data: this.updateData(m, undefined, 0), ...this.selection(m, 0) })
  }

  private updateMany(model: string): OpCall {
    const m = this.m(model)
    const args: Obj = { data: this.flatUpdateData(m, this.chance(0.3), true) }
    if (this.chance(0.8)) args.where = this.where(m, 0)
    // No `limit`: without an order (updateMany and deleteMany take none) which rows it picks is up
    // to the database's physical order, which differs between D1 and D2 for reasons of their own.
    return this.op(model, 'updateMany', args)
  }

  private upsert(model: string): OpCall {
    const m = this.m(model)
    return this.op(model, 'upsert', { where: this.uniqueWhere(m, 0, true), create: this.createData(m, undefined, 0), update: this.updateData(m, undefined, 0), ...this.selection(m, 0) })
  }

  private delete(model: string): OpCall {
    const m = this.m(model)
    return this.op(model, 'delete', { where: this.uniqueWhere(m, 0, true), ...this.selection(m, 0) })
  }

  private deleteMany(model: string): OpCall {
    const m = this.m(model)
    const args: Obj = {}
    if (this.chance(0.85)) args.where = this.where(m, 0)
    return this.op(model, 'deleteMany', args)
  }

  // ---- ids and values -----------------------------------------------------------------------

  /** An id of `model`: A's, B's, a shared row related to B, any shared row, one made earlier in this call, or none. */
  refId(model: string): Id {
    const m = this.m(model)
    const ids = this.world.ids[model]!
    const fresh = this.fresh[model] ?? []
    if (fresh.length > 0 && this.chance(0.15)) return this.pick(fresh)
    if (m.scoped) {
      return this.weighted<Id>([
        [ids.a.length > 0 ? 45 : 0, () => this.pick(ids.a)],
        [ids.b.length > 0 ? 45 : 0, () => this.pick(ids.b)],
        [10, () => this.missingId(m)],
      ])
    }
    const linked = this.world.bLinked[model] ?? []
    return this.weighted<Id>([
      [linked.length > 0 ? 45 : 0, () => this.pick(linked)],
      [ids.shared.length > 0 ? 45 : 0, () => this.pick(ids.shared)],
      [10, () => this.missingId(m)],
    ])
  }

  private missingId(m: ModelInfo): Id {
    if (m.primaryKey.length > 1) return Object.fromEntries(m.primaryKey.map((f) => [f, 9999]))
    const pk = m.scalars.find((s) => s.name === m.primaryKey[0])!
    return pk.type === 'String' ? `${m.name.toLowerCase()}-missing` : 9999
  }

  /** A new id for a create: fresh, or one that exists (A's, or B's: a unique conflict D2 does not have). */
  private newId(m: ModelInfo): Record<string, unknown> {
    if (m.primaryKey.length !== 1) return {}
    const pk = m.scalars.find((s) => s.name === m.primaryKey[0])!
    const existing = () => this.pick([...this.world.ids[m.name]!.a, ...this.world.ids[m.name]!.b, ...this.world.ids[m.name]!.shared])
    if (pk.type === 'String') {
      const id = this.chance(0.1) ? (existing() as string) : `${m.name.toLowerCase()}-n${this.index}-${++this.freshCount}`
      ;(this.fresh[m.name] ??= []).push(id)
      return { [pk.name]: id }
    }
    if (!pk.autoincrement || this.chance(0.12)) {
      const id = this.chance(0.5) ? existing() : 100000 + this.index * 16 + ++this.freshCount
      ;(this.fresh[m.name] ??= []).push(id)
      return { [pk.name]: id }
    }
    return {}
  }

  private scalarValue(m: ModelInfo, s: ScalarInfo): unknown {
    const enc = m.encrypted.get(s.name)
    if (enc?.type === 'json') return this.pick(JSONS)
    if (enc?.type === 'bytes') return this.pick(BYTES)
    if (s.name === 'email') return this.pick([...this.world.emails.a, ...this.world.emails.b, 'new@x.io'])
    const fk = m.relations.find((r) => r.from.includes(s.name))
    if (fk !== undefined) {
      const id = this.refId(fk.target)
      return typeof id === 'object' && id !== null ? (id as Record<string, unknown>)[fk.to[fk.from.indexOf(s.name)]!] : id
    }
    if (s.name === 'tenantId') return this.pick(['tenant_a', 'tenant_b'])
    switch (s.type) {
      case 'String':
        return this.pick(STRINGS[s.name] ?? STRINGS.name!)
      case 'Int':
        return this.pick(INTS)
      case 'BigInt':
        return this.pick(BIGINTS)
      case 'Float':
        return this.pick(FLOATS)
      case 'Boolean':
        return this.chance(0.5)
      case 'DateTime':
        return new Date(this.pick(DATES).getTime())
      case 'Bytes':
        return this.pick(BYTES)
      default:
        throw new Error(`fuzz gen: no values for ${s.type}`)
    }
  }

  /**
   * A nullable foreign key of a shared row into a scoped model (channel (c)): D1 and D2 hold
   * different values there (B's id / NULL), so calls do not filter, sort, group, count or look up
   * by it. (A required one never names B's row: the seed makes none, and rowcrypt checks writes.)
   */
  private channelC(m: ModelInfo, field: string): boolean {
    return m.channelC.has(field) && m.scalars.find((s) => s.name === field)?.required === false
  }

  /** Scalars a call may count (`_count`): all but channel (c) foreign keys (their NULLs differ on D2). */
  private countable(m: ModelInfo): ScalarInfo[] {
    return m.scalars.filter((s) => !this.channelC(m, s.name))
  }

  /** Scalars a call may filter, sort, group or aggregate by: not channel (c) foreign keys; encrypted and managed ones only rarely. */
  private sortable(m: ModelInfo, forAggregates: boolean): ScalarInfo[] {
    const odd = this.chance(0.04)
    return m.scalars.filter((s) => {
      if (this.channelC(m, s.name) || s.type === 'Bytes' || (forAggregates && s.type === 'Boolean')) return false
      if (m.encrypted.has(s.name) || m.managed.has(s.name)) return odd
      return true
    })
  }

  // ---- where --------------------------------------------------------------------------------

  where(m: ModelInfo, depth: number): Obj {
    const out: Obj = {}
    const n = depth === 0 ? 1 + this.int(3) : 1 + this.int(2)
    for (let i = 0; i < n; i++) {
      this.weighted<void>([
        [5, () => this.scalarCondition(m, out)],
        [depth < 3 ? 4 : 0, () => this.relationCondition(m, out, depth)],
        [
          depth < 2 ? 2 : 0,
          () => {
            const op = this.pick(['AND', 'OR', 'NOT'])
            const k = 1 + this.int(2)
            const subs = Array.from({ length: k }, () => this.where(m, depth + 1))
            out[op] = op !== 'OR' && k === 1 && this.chance(0.5) ? subs[0] : subs
          },
        ],
      ])
    }
    return out
  }

  private filterable(m: ModelInfo): ScalarInfo[] {
    const odd = this.chance(0.04)
    return m.scalars.filter((s) => {
      if (this.channelC(m, s.name)) return false
      const enc = m.encrypted.get(s.name)
      if (enc?.searchable) return true
      if (enc !== undefined || m.managed.has(s.name)) return odd
      return true
    })
  }

  private scalarCondition(m: ModelInfo, out: Obj): void {
    const s = this.pick(this.filterable(m))
    out[s.name] = this.scalarFilter(m, s)
  }

  scalarFilter(m: ModelInfo, s: ScalarInfo): unknown {
    const v = () => this.scalarValue(m, s)
    const nullable = !s.required
    const enc = m.encrypted.get(s.name)
    if (nullable && this.chance(0.2)) return this.pick<unknown>([null, { not: null }, { equals: null }])
    if (enc?.searchable) {
      return this.weighted<unknown>([
        [4, v],
        [2, () => ({ equals: v() })],
        [2, () => ({ in: [v(), v()] })],
        [1, () => ({ notIn: [v()] })],
        [1, () => ({ not: v() })],
        [1, () => ({ not: { in: [v()] } })],
        [0.3, () => ({ contains: 'x' })],
      ])
    }
    if (s.type === 'Boolean') return this.pick<unknown>([v(), { equals: v() }, { not: v() }])
    if (s.type === 'Bytes') return this.pick<unknown>([null, { not: null }])
    const ops: Array<[number, () => unknown]> = [
      [4, v],
      [2, () => ({ equals: v() })],
      [2, () => ({ in: [v(), v()] })],
      [1, () => ({ notIn: [v()] })],
      [2, () => ({ [this.pick(['lt', 'lte', 'gt', 'gte'])]: v() })],
      [1, () => ({ gt: v(), lte: v() })],
      [1, () => ({ not: v() })],
      [1, () => ({ not: { [this.pick(['lt', 'gte'])]: v() } })],
    ]
    if (s.type === 'String') {
      ops.push([2, () => ({ [this.pick(['contains', 'startsWith', 'endsWith'])]: this.pick(['a', 'b', 'e', 'ns', '']) })])
      if (this.kind !== 'sqlite') ops.push([0.5, () => ({ equals: v(), mode: 'insensitive' })])
    }
    return this.weighted(ops)
  }

  private relationCondition(m: ModelInfo, out: Obj, depth: number): void {
    const r = this.pick(m.relations)
    const t = this.m(r.target)
    const sub = () => (this.chance(0.15) ? {} : this.where(t, depth + 1))
    if (r.isList) {
      out[r.name] = { [this.pick(['some', 'every', 'none'])]: sub() }
      return
    }
    const optional = !r.fkRequired || r.from.length === 0
    out[r.name] = this.weighted<unknown>([
      [3, () => ({ is: sub() })],
      [2, () => ({ isNot: sub() })],
      [optional ? 2 : 0, () => ({ [this.pick(['is', 'isNot'])]: null })],
      [optional ? 2 : 0, () => null],
      [2, () => sub()],
    ])
  }

  /** A unique where input of `m`; `extra` sometimes adds plain filters (allowed beside the unique fields). */
  uniqueWhere(m: ModelInfo, depth: number, extra: boolean): Obj {
    // Not by a unique key holding a channel (c) foreign key (its value names B's row on D1 only).
    const keys = m.uniques.filter((u) => !u.some((f) => this.channelC(m, f)))
    const out: Obj = this.weighted<Obj>([
      [4, () => this.uniqueInput(m, keys[0]!)],
      [keys.length > 1 ? 2 : 0, () => this.uniqueInput(m, this.pick(keys.slice(1)))],
      [
        m.encrypted.get('email')?.searchable ? 1.5 : 0,
        () => ({
          email: this.scalarValue(
            m,
            m.scalars.find((s) => s.name === 'email')!,
          ),
        }),
      ],
    ])
    if (extra && this.chance(0.25)) {
      const more = this.where(m, Math.max(depth, 1))
      for (const [k, v] of Object.entries(more)) if (!(k in out)) out[k] = v
    }
    return out
  }

  private uniqueInput(m: ModelInfo, fields: readonly string[]): Obj {
    if (fields.length === 1 && fields[0] === m.primaryKey[0] && m.primaryKey.length === 1) return { [fields[0]!]: this.refId(m.name) }
    if (fields.length > 1 && fields.join() === m.primaryKey.join()) {
      const id = this.refId(m.name) as Record<string, unknown>
      return { [fields.join('_')]: Object.fromEntries(fields.map((f) => [f, id[f]])) }
    }
    const value = (f: string) =>
      this.scalarValue(
        m,
        m.scalars.find((s) => s.name === f)!,
      )
    if (fields.length === 1) return { [fields[0]!]: value(fields[0]!) }
    if (fields.includes('tenantId')) return { [this.pick(m.primaryKey)]: this.refId(m.name) }
    return { [fields.join('_')]: Object.fromEntries(fields.map((f) => [f, value(f)])) }
  }

  // ---- orderBy ------------------------------------------------------------------------------

  /** 1 to 2 sort entries; with `total`, the primary key last so the order is total. */
  orderBy(m: ModelInfo, depth: number, total: boolean): unknown {
    const entries: Obj[] = []
    const n = 1 + this.int(2)
    for (let i = 0; i < n; i++) {
      const e = this.orderEntry(m, depth)
      if (e !== undefined) entries.push(e)
    }
    if (total) for (const f of m.primaryKey) entries.push({ [f]: this.pick(['asc', 'desc']) })
    if (entries.length === 0) return { [m.primaryKey[0]!]: 'asc' }
    return entries.length === 1 && this.chance(0.5) ? entries[0] : entries
  }

  private orderEntry(m: ModelInfo, depth: number): Obj | undefined {
    const scalars = this.sortable(m, false)
    const toOne = m.relations.filter((r) => !r.isList)
    const toMany = m.relations.filter((r) => r.isList)
    return this.weighted<Obj | undefined>([
      [
        4,
        () => {
          const s = this.pick(scalars)
          const dir = this.pick(['asc', 'desc'])
          return { [s.name]: !s.required && this.chance(0.4) ? { sort: dir, nulls: this.pick(['first', 'last']) } : dir }
        },
      ],
      [
        depth < 2 && toOne.length > 0 ? 3 : 0,
        () => {
          const r = this.pick(toOne)
          const inner = this.orderEntry(this.m(r.target), depth + 1)
          return inner === undefined ? undefined : { [r.name]: inner }
        },
      ],
      [toMany.length > 0 ? 1.5 : 0, () => ({ [this.pick(toMany).name]: { _count: this.pick(['asc', 'desc']) } })],
    ])
  }

  // ---- select / include / omit --------------------------------------------------------------

  /** `{}`, `{ select }`, `{ include }` or `{ omit }` at `depth` (≤ 3 levels in all). */
  selection(m: ModelInfo, depth: number, toOneOnly = false): Obj {
    if (depth > 2) return {}
    const relations = m.relations.filter((r) => !toOneOnly || !r.isList)
    return this.weighted<Obj>([
      [depth === 0 ? 3 : 4, () => ({})],
      [
        3,
        () => {
          const select: Obj = {}
          for (const s of this.subset(
            m.scalars.filter((x) => !m.managed.has(x.name) || this.chance(0.1)),
            1,
            4,
          ))
            select[s.name] = this.chance(0.9)
          for (const r of this.subset(relations, 0, 2)) select[r.name] = this.relArgs(r, depth + 1)
          if (!toOneOnly && m.relations.some((r) => r.isList) && this.chance(0.25)) select._count = this.countArg(m, depth)
          return { select }
        },
      ],
      [
        relations.length > 0 ? 3 : 0,
        () => {
          const include: Obj = {}
          for (const r of this.subset(relations, 1, 2)) include[r.name] = this.relArgs(r, depth + 1)
          if (!toOneOnly && m.relations.some((r) => r.isList) && this.chance(0.25)) include._count = this.countArg(m, depth)
          return { include }
        },
      ],
      [
        1,
        () => ({
          omit: Object.fromEntries(
            this.subset(
              m.scalars.filter((s) => !s.isId),
              1,
              2,
            ).map((s) => [s.name, true]),
          ),
        }),
      ],
    ])
  }

  private relArgs(r: RelationInfo, depth: number): unknown {
    const t = this.m(r.target)
    if (depth > 2 || this.chance(0.4)) return true
    const a = r.isList ? this.listArgs(t, depth) : this.selection(t, depth)
    return Object.keys(a).length > 0 ? a : true
  }

  /** Arguments of an included to-many relation. */
  private listArgs(t: ModelInfo, depth: number): Obj {
    const a: Obj = {}
    if (this.chance(0.4)) a.where = this.where(t, Math.max(depth, 1))
    if (this.chance(0.5)) this.paging(t, a, false)
    Object.assign(a, this.selection(t, depth))
    return a
  }

  private countArg(m: ModelInfo, depth: number): unknown {
    if (this.chance(0.4)) return true
    const select: Obj = {}
    for (const r of this.subset(
      m.relations.filter((x) => x.isList),
      1,
      2,
    ))
      select[r.name] = this.chance(0.5) ? true : { where: this.where(this.m(r.target), Math.max(depth + 1, 1)) }
    return { select }
  }

  // ---- write data ---------------------------------------------------------------------------

  /** Scalars of a new row (for createMany): foreign keys as plain values, never the one of `without`. */
  private flatCreateData(m: ModelInfo, without: RelationInfo | undefined): Obj {
    const data: Obj = { ...this.newId(m) }
    const skip = new Set(without?.from ?? [])
    for (const s of m.scalars) {
      if (s.isId && s.name in data) continue
      if (skip.has(s.name) || (s.isId && s.autoincrement) || (m.managed.has(s.name) && !this.chance(0.02))) continue
      if (s.isId && m.primaryKey.length === 1) continue
      if (s.required && !this.hasDefault(m, s)) data[s.name] = this.scalarValue(m, s)
      else if (this.chance(0.5)) data[s.name] = !s.required && this.chance(0.15) ? null : this.scalarValue(m, s)
    }
    return data
  }

  private hasDefault(m: ModelInfo, s: ScalarInfo): boolean {
    return s.autoincrement || m.managed.has(s.name) || DEFAULTED.has(`${m.name}.${s.name}`)
  }

  /** A new row with nested writes; `without` is the relation back to the parent of a nested create. */
  createData(m: ModelInfo, without: RelationInfo | undefined, depth: number): Obj {
    const back = without === undefined ? undefined : this.m(without.target).relations.find((r) => r.name === without.back)
    const unchecked = this.chance(0.2)
    const data = this.flatCreateData(m, back)
    if (!unchecked) for (const r of m.relations) for (const f of r.from) delete data[f]
    for (const r of m.relations) {
      if (back !== undefined && r.name === back.name) continue
      const t = this.m(r.target)
      const owning = r.from.length > 0
      if (owning && unchecked) continue
      if (owning && r.fkRequired) {
        data[r.name] = depth >= 2 ? { connect: this.uniqueWhere(t, 1, false) } : this.toOneCreateOp(r, t, depth)
        continue
      }
      if (!this.chance(depth === 0 ? 0.3 : 0.15)) continue
      if (r.isList) {
        if (depth >= 2) data[r.name] = { connect: this.uniqueWhere(t, 1, false) }
        else data[r.name] = this.listCreateOps(r, t, depth)
      } else {
        data[r.name] = depth >= 2 ? { connect: this.uniqueWhere(t, 1, false) } : this.toOneCreateOp(r, t, depth)
      }
    }
    return data
  }

  private toOneCreateOp(r: RelationInfo, t: ModelInfo, depth: number): Obj {
    return this.weighted<Obj>([
      [3, () => ({ create: this.createData(t, r, depth + 1) })],
      [4, () => ({ connect: this.uniqueWhere(t, depth + 1, true) })],
      [2, () => ({ connectOrCreate: { where: this.uniqueWhere(t, depth + 1, false), create: this.createData(t, r, depth + 1) } })],
    ])
  }

  private listCreateOps(r: RelationInfo, t: ModelInfo, depth: number): Obj {
    const ops: Obj = {}
    const n = 1 + this.int(2)
    for (let i = 0; i < n; i++) {
      this.weighted<void>([
        [3, () => (ops.create = this.newRows(t, () => this.createData(t, r, depth + 1)))],
        [
          r.manyToMany ? 0 : 1,
          () =>
            (ops.createMany = {
              data: this.newRows(t, () =>
                this.flatCreateData(
                  t,
                  this.m(r.target).relations.find((x) => x.name === r.back),
                ),
              ),
            }),
        ],
        [4, () => (ops.connect = this.oneOrMany(() => this.uniqueWhere(t, depth + 1, true)))],
        [2, () => (ops.connectOrCreate = this.oneOrMany(() => ({ where: this.uniqueWhere(t, depth + 1, false), create: this.createData(t, r, depth + 1) })))],
      ])
    }
    return ops
  }

  /** One new row, or several made uniform (see `uniform`). */
  private newRows(m: ModelInfo, f: () => Obj): unknown {
    return this.chance(0.5) ? f() : this.uniform(m, Array.from({ length: 1 + this.int(2) }, f))
  }

  /**
   * Several new rows of one write, of a model with an autoincrement id: Prisma groups such rows by
   * their set of columns into INSERT statements in an order that is not fixed, so two databases can
   * give the same row different ids. Each row gets the same columns and no explicit id, and no
   * nested writes (a row with them is written apart from the others).
   */
  private uniform(m: ModelInfo, rows: Obj[]): Obj[] {
    if (rows.length < 2 || !m.scalars.some((s) => s.autoincrement)) return rows
    const scalar = new Set(m.scalars.filter((s) => !s.autoincrement).map((s) => s.name))
    const flat = rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => scalar.has(k))))
    const keys = new Set(flat.flatMap((r) => Object.keys(r)))
    for (const r of flat) {
      for (const k of keys) {
        if (k in r) continue
        const s = m.scalars.find((x) => x.name === k)!
        r[k] = !s.required && this.chance(0.5) ? null : this.scalarValue(m, s)
      }
    }
    return flat
  }

  private oneOrMany(f: () => unknown): unknown {
    return this.chance(0.5) ? f() : Array.from({ length: 1 + this.int(2) }, f)
  }

  /** Scalar changes of an existing row (for updateMany and as part of update data). */
  private flatUpdateData(m: ModelInfo, unchecked = false, many = false): Obj {
    const data: Obj = {}
    const candidates = m.scalars.filter((s) => {
      if (s.isId) return !m.scoped && this.chance(0.05) // re-keying a shared row (channel b)
      if (m.foreignKeys.has(s.name)) return unchecked
      if (m.managed.has(s.name)) return this.chance(0.02)
      // A shared row's unique key holding a channel (c) foreign key (Comment's postId + position
      // while Comment is unscoped) names B's row on D1 and is NULL on D2, where it conflicts with
      // nothing: its other columns are not written.
      if (m.uniques.some((u) => u.includes(s.name) && u.some((f) => this.channelC(m, f)))) return false
      // updateMany cannot set encrypted fields (each row has its own key): rowcrypt refuses it.
      if (many && m.encrypted.has(s.name)) return this.chance(0.05)
      return true
    })
    for (const s of this.subset(candidates, 1, 3)) {
      const v = () => this.scalarValue(m, s)
      const numeric = ['Int', 'Float', 'BigInt'].includes(s.type) && !s.isId && !m.foreignKeys.has(s.name)
      data[s.name] = this.weighted<unknown>([
        [5, v],
        [2, () => ({ set: v() })],
        [!s.required ? 1 : 0, () => null],
        [numeric ? 2 : 0, () => ({ [this.pick(['increment', 'decrement', 'multiply'])]: s.type === 'BigInt' ? this.pick([1n, 2n]) : this.pick([1, 2]) })],
        [s.isId ? 3 : 0, () => (s.type === 'Int' ? 200000 + this.index * 16 + this.int(16) : `${m.name.toLowerCase()}-rekey-${this.index}`)],
      ])
    }
    return data
  }

  /** Changes of an existing row with nested writes; `without` is the relation back to the parent. */
  updateData(m: ModelInfo, without: RelationInfo | undefined, depth: number): Obj {
    const back = without === undefined ? undefined : this.m(without.target).relations.find((r) => r.name === without.back)
    const unchecked = this.chance(0.2)
    const data = this.flatUpdateData(m, unchecked)
    if (back !== undefined) for (const f of back.from) delete data[f]
    if (unchecked) return data
    const relations = m.relations.filter((r) => back === undefined || r.name !== back.name)
    for (const r of this.subset(relations, 0, depth === 0 ? 2 : 1)) {
      if (depth >= 2) continue
      const t = this.m(r.target)
      data[r.name] = r.isList ? this.listUpdateOps(r, t, depth) : this.toOneUpdateOp(r, t, depth)
    }
    if (Object.keys(data).length === 0 && this.chance(0.5)) return this.flatUpdateData(m)
    return data
  }

  private toOneUpdateOp(r: RelationInfo, t: ModelInfo, depth: number): Obj {
    const optional = !(r.from.length > 0 && r.fkRequired)
    // From a shared row into a scoped one, the related row may be B's: detaching or deleting it is
    // where such a write could reach across tenants, so those forms come more often there.
    const detach = !optional ? 0 : !this.m(r.model).scoped && t.scoped ? 5 : 3
    return this.weighted<Obj>([
      [2, () => ({ create: this.createData(t, r, depth + 1) })],
      [3, () => ({ connect: this.uniqueWhere(t, depth + 1, true) })],
      [1, () => ({ connectOrCreate: { where: this.uniqueWhere(t, depth + 1, false), create: this.createData(t, r, depth + 1) } })],
      [3, () => ({ update: this.chance(0.5) ? this.updateData(t, r, depth + 1) : { where: this.where(t, depth + 1), data: this.updateData(t, r, depth + 1) } })],
      [2, () => ({ upsert: { create: this.createData(t, r, depth + 1), update: this.updateData(t, r, depth + 1), ...(this.chance(0.3) ? { where: this.where(t, depth + 1) } : {}) } })],
      [detach, () => ({ disconnect: this.chance(0.6) ? true : this.where(t, depth + 1) })],
      [detach, () => ({ delete: this.chance(0.6) ? true : this.where(t, depth + 1) })],
    ])
  }

  private listUpdateOps(r: RelationInfo, t: ModelInfo, depth: number): Obj {
    const ops: Obj = {}
    const detachable = r.manyToMany || !r.fkRequired
    const unique = () => this.uniqueWhere(t, depth + 1, this.chance(0.3))
    const n = 1 + this.int(2)
    for (let i = 0; i < n; i++) {
      this.weighted<void>([
        [2, () => (ops.create = this.newRows(t, () => this.createData(t, r, depth + 1)))],
        [
          r.manyToMany ? 0 : 1,
          () =>
            (ops.createMany = {
              data: this.newRows(t, () =>
                this.flatCreateData(
                  t,
                  this.m(r.target).relations.find((x) => x.name === r.back),
                ),
              ),
            }),
        ],
        [3, () => (ops.connect = this.oneOrMany(unique))],
        [1, () => (ops.connectOrCreate = this.oneOrMany(() => ({ where: this.uniqueWhere(t, depth + 1, false), create: this.createData(t, r, depth + 1) })))],
        [detachable ? 2 : 0, () => (ops.set = Array.from({ length: this.int(3) }, () => this.uniqueWhere(t, depth + 1, false)))],
        [detachable ? 3 : 0, () => (ops.disconnect = this.oneOrMany(unique))],
        [3, () => (ops.delete = this.oneOrMany(unique))],
        [2, () => (ops.deleteMany = this.chance(0.2) ? {} : this.oneOrMany(() => this.where(t, depth + 1)))],
        [3, () => (ops.update = this.oneOrMany(() => ({ where: unique(), data: this.updateData(t, r, depth + 1) })))],
        [2, () => (ops.updateMany = this.oneOrMany(() => ({ where: this.where(t, depth + 1), data: this.flatUpdateData(t, false, true) })))],
        [2, () => (ops.upsert = this.oneOrMany(() => ({ where: this.uniqueWhere(t, depth + 1, false), create: this.createData(t, r, depth + 1), update: this.updateData(t, r, depth + 1) })))],
      ])
    }
    return ops
  }
}

/** Call `index` of run `seed`. */
export function generateCall(seed: number, index: number, schema: Schema, world: World, kind: FuzzKind): Call {
  return new Generator(callRng(seed, index), schema, world, kind, index).call()
}
