// The oracle: run one call as tenant A on D1 and on D2, then compare what came back and what the
// databases hold afterwards.
//
// Non-interference: the outcome (the normalized result, or the error's code) must be the same on
// both; A's rows and the shared rows must end in the same state (plain columns raw, encrypted ones
// decrypted through rowcrypt, since ciphertexts carry random IVs); B's rows in D1 must be
// byte-identical to what they were. Three channels that a shared schema cannot close are
// recognized by name, each only where its own condition holds:
//   (a) a unique key of a scoped table whose value one of B's rows holds: P2002 on D1 (or a row
//       skipped by skipDuplicates), success on D2, and only when D2 wrote a row whose unique tuple
//       a B row holds; or a row skipped by skipDuplicates on D1 that D2 tried to write and a
//       constraint refused, when D2 with stand-ins for B's rows gives D1's outcome and state;
//   (b) referential actions (SET NULL, CASCADE, ON UPDATE CASCADE) of a shared row's delete or
//       re-key reaching B's rows: a B row change is accepted only column by column, each a foreign
//       key naming a shared row that this call deleted or re-keyed, changed as its action says;
//   (c) a shared row's own foreign-key column naming one of B's rows: D1 shows B's id where D2 has
//       NULL, so such values are read as NULL on both sides, in results and in the state.
// Anything else is a finding. In control mode D2 is an exact copy of D1: every difference at all is
// a finding (the harness must be deterministic), and B's rows are compared like the others.
import { unsafeBypassTenantScope, withTenant } from '../../src'
import type { CopySpec, FuzzDatabases, RawState, Row, Side } from './db'
import type { Call, Obj, OpCall } from './gen'
import { keyOf, type World } from './seed'
import { JOIN_TABLES, ON_DELETE, TENANT_A, TENANT_B, type ModelInfo, type Schema } from './schema'

/** How the fuzzed calls reach the database: through rowcrypt, or (self-test) around it. */
export type ClientMode = 'rowcrypt' | 'plain' | 'bypass'

export type Outcome = { ok: true; value: unknown } | { ok: false; code: string; message: string }

export interface Problem {
  /** `result`, `state`, `tenant-b-rows` (control mode: `control-result`, `control-state`). */
  category: string
  reason: string
  /** What shrinking keeps constant: the category and the outcome codes or the tables involved. */
  fingerprint: string
}

export interface Verdict {
  problems: Problem[]
  /** The channels (a, b) that explained a difference. */
  channels: string[]
  /** Normalized outcomes, as compared. */
  d1: unknown
  d2: unknown
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Date)

/** The code an error is compared by: Prisma's `P2xxx`, rowcrypt's `ERR_ROWCRYPT_*`, else its class name. */
export function codeOf(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code
  if (typeof code === 'string' && code !== '') return code
  return (e as { constructor?: { name?: string } } | null)?.constructor?.name ?? typeof e
}

function delegateOf(client: Record<string, unknown>, model: string): Record<string, (args?: unknown) => unknown> {
  return client[model.charAt(0).toLowerCase() + model.slice(1)] as Record<string, (args?: unknown) => unknown>
}

function invoke(client: Record<string, unknown>, c: OpCall): PromiseLike<unknown> {
  let p = delegateOf(client, c.model)[c.op]!(structuredClone(c.args)) as Record<string, (args?: unknown) => unknown> & PromiseLike<unknown>
  for (const f of c.fluent ?? []) p = p[f.rel]!(f.args === undefined ? undefined : structuredClone(f.args)) as typeof p
  return p
}

/** Runs `call` as tenant A on `side` and returns its result or error. */
export async function execute(side: Side, call: Call, mode: ClientMode): Promise<Outcome> {
  const client = (mode === 'plain' ? side.base : side.extended) as Record<string, unknown> & { $transaction: (a: unknown) => Promise<unknown> }
  const run = async (): Promise<unknown> => {
    if (call.kind === 'op') return await invoke(client, call)
    if (call.kind === 'batch') return await client.$transaction(call.items.map((i) => invoke(client, i)))
    return await client.$transaction(async (tx: Record<string, unknown>) => {
      const out: unknown[] = []
      for (const i of call.items) out.push(await invoke(tx, i))
      return out
    })
  }
  try {
    const value = await withTenant(TENANT_A, () => (mode === 'bypass' ? unsafeBypassTenantScope('fuzz self-test: a deliberately leaky client', run) : run()))
    return { ok: true, value }
  } catch (e) {
    return { ok: false, code: codeOf(e), message: e instanceof Error ? e.message.slice(0, 500) : String(e) }
  }
}

/** A JSON-able picture of a value: bytes as hex, dates as ISO, BigInt as a string, keys sorted. */
export function deep(v: unknown): unknown {
  if (v === null || v === undefined) return null
  if (v instanceof Uint8Array) return `hex:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`
  if (v instanceof Date) return `date:${Number.isNaN(v.getTime()) ? 'invalid' : v.toISOString()}`
  if (typeof v === 'bigint') return `big:${v}`
  if (Array.isArray(v)) return v.map(deep)
  if (typeof v === 'object') {
    if (typeof (v as { toFixed?: unknown }).toFixed === 'function' && typeof (v as { toString?: unknown }).toString === 'function') return `num:${String(v)}`
    const out: Obj = {}
    for (const k of Object.keys(v).sort()) out[k] = deep((v as Obj)[k])
    return out
  }
  return v
}

const sortedBy = (xs: unknown[]) =>
  xs
    .map((x) => [JSON.stringify(x), x] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, x]) => x)

export class Oracle {
  private readonly baseline: Record<'D1' | 'D2', RawState>
  private readonly baselineText: Record<'D1' | 'D2', Record<string, string>>

  constructor(
    private readonly d: FuzzDatabases,
    private readonly world: World,
    private readonly control: boolean,
    base1: RawState,
    base2: RawState,
    /** Runs a call on D2 again (channel (a)'s counterfactual). */
    private readonly rerunOnD2: (call: Call) => Promise<Outcome>,
  ) {
    this.baseline = { D1: base1, D2: base2 }
    this.baselineText = { D1: tableTexts(base1), D2: tableTexts(base2) }
  }

  private get schema(): Schema {
    return this.d.schema
  }

  /** Tables of `state` that differ from the side's state at the start of every call. */
  changedTables(side: 'D1' | 'D2', state: RawState): string[] {
    const now = tableTexts(state)
    return Object.keys(now).filter((t) => now[t] !== this.baselineText[side][t])
  }

  // ---- results ------------------------------------------------------------------------------

  normalize(call: Call, o: Outcome): unknown {
    if (!o.ok) return { error: o.code }
    if (call.kind === 'op') return { value: this.opValue(call, o.value) }
    if (!Array.isArray(o.value)) return { value: deep(o.value) }
    return { value: o.value.map((v, i) => this.opValue(call.items[i]!, v)) }
  }

  private opValue(c: OpCall, v: unknown): unknown {
    if (c.fluent !== undefined && c.fluent.length > 0) {
      let m = this.schema.get(c.model)!
      let last = c.fluent[0]!
      let list = false
      for (const step of c.fluent) {
        const r = m.relations.find((x) => x.name === step.rel)!
        m = this.schema.get(r.target)!
        last = step
        list = r.isList
      }
      return list ? this.list(m, last.args ?? {}, v) : this.row(m, last.args ?? {}, v)
    }
    const m = this.schema.get(c.model)!
    switch (c.op) {
      case 'findUnique':
      case 'findUniqueOrThrow':
      case 'findFirst':
      case 'findFirstOrThrow':
      case 'create':
      case 'update':
      case 'upsert':
      case 'delete':
        return this.row(m, c.args, v)
      case 'findMany':
        return this.list(m, c.args, v)
      case 'createManyAndReturn':
        return this.list(m, { ...c.args, orderBy: undefined }, v)
      case 'groupBy': {
        if (!Array.isArray(v)) return deep(v)
        const rows = v.map(deep)
        const by = Array.isArray(c.args.by) ? (c.args.by as string[]) : [c.args.by as string]
        return orderKeys(c.args.orderBy).scalars.size > 0 && by.every((f) => orderKeys(c.args.orderBy).scalars.has(f)) ? rows : sortedBy(rows)
      }
      default:
        return deep(v)
    }
  }

  private row(m: ModelInfo, sel: Obj, v: unknown): unknown {
    if (!isObj(v)) return deep(v)
    const tree = isObj(sel.select) ? sel.select : isObj(sel.include) ? sel.include : undefined
    const out: Obj = {}
    for (const key of Object.keys(v).sort()) {
      const value = v[key]
      const r = m.relations.find((x) => x.name === key)
      if (r !== undefined) {
        const sub = tree?.[key]
        const t = this.schema.get(r.target)!
        out[key] = r.isList ? this.list(t, isObj(sub) ? sub : {}, value) : this.row(t, isObj(sub) ? sub : {}, value)
        continue
      }
      let c = deep(value)
      // A new row's wrapped key is random (a fresh data key per database): compare its presence only.
      if (m.scoped && key === 'wrappedDek' && c !== null) c = 'present'
      const target = m.channelC.get(key)
      // Channel (c): a shared row's foreign key naming one of B's rows reads as NULL (it is NULL on D2).
      if (target !== undefined && this.world.bKeys[target]?.has(keyOf([c]))) c = null
      out[key] = c
    }
    return out
  }

  private list(m: ModelInfo, args: Obj, v: unknown): unknown {
    if (!Array.isArray(v)) return deep(v)
    const rows = v.map((x) => this.row(m, args, x))
    const keys = orderKeys(args.orderBy).scalars
    return m.primaryKey.every((f) => keys.has(f)) ? rows : sortedBy(rows)
  }

  // ---- the verdict --------------------------------------------------------------------------

  async judge(call: Call, o1: Outcome, o2: Outcome, s1: RawState, s2: RawState): Promise<Verdict> {
    const n1 = this.normalize(call, o1)
    const n2 = this.normalize(call, o2)
    const verdict: Verdict = { problems: [], channels: [], d1: n1, d2: n2 }
    const sameOutcome = JSON.stringify(n1) === JSON.stringify(n2)
    if (this.control) {
      if (!sameOutcome) verdict.problems.push({ category: 'control-result', reason: 'the outcome differs between two identical databases', fingerprint: `control-result:${outcomeCodes(o1, o2)}` })
      const diff = await this.stateDiff(s1, s2, () => true)
      if (diff.length > 0)
        verdict.problems.push({
          category: 'control-state',
          reason: `the state differs between two identical databases: ${diff.slice(0, 5).join('; ')}`,
          fingerprint: `control-state:${tablesOf(diff)}`,
        })
      return verdict
    }

    const bProblems = this.tenantBChanges(s1)
    if (bProblems.explained.length > 0) verdict.channels.push('b')
    if (bProblems.unexplained.length > 0)
      verdict.problems.push({
        category: 'tenant-b-rows',
        reason: `tenant B's rows in D1 changed: ${bProblems.unexplained.slice(0, 5).join('; ')}`,
        fingerprint: `tenant-b-rows:${tablesOf(bProblems.unexplained)}`,
      })

    if (!sameOutcome) {
      const a = await this.uniqueChannel(call, o1, o2, s1, s2)
      if (a !== undefined) {
        verdict.channels.push('a')
        if (a !== true) verdict.problems.push({ category: 'state', reason: a, fingerprint: 'state:unique-channel' })
        return verdict
      }
      // A constraint error on D1 that B's rows cause by their mere presence: a unique value they
      // hold (a) or a referential action of a shared row reaching them (b).
      if (!o1.ok && CONSTRAINT_ERRORS[o1.code] !== undefined && (await this.ghostCounterfactual(call, o1, s1, s2))) {
        verdict.channels.push(CONSTRAINT_ERRORS[o1.code]!)
        return verdict
      }
      // skipDuplicates skipped on D1 a row whose unique value one of B's rows holds, and on D2
      // tried to write it and met a constraint (a foreign key): the skip is channel (a).
      if (o1.ok && !o2.ok && CONSTRAINT_ERRORS[o2.code] !== undefined && skipsDuplicates(call) && (await this.ghostCounterfactual(call, o1, s1, s2))) {
        verdict.channels.push('a')
        return verdict
      }
      const what = !o1.ok && o2.ok && (o2.value === null || (Array.isArray(o2.value) && o2.value.length === 0)) ? 'fails on D1 and finds nothing on D2' : 'the outcome differs'
      verdict.problems.push({ category: 'result', reason: what, fingerprint: `result:${outcomeCodes(o1, o2)}` })
    }
    const diff = await this.stateDiff(s1, s2, (table, row) => !this.isB(table, row))
    if (diff.length > 0) verdict.problems.push({ category: 'state', reason: `A's or the shared rows differ between D1 and D2: ${diff.slice(0, 5).join('; ')}`, fingerprint: `state:${tablesOf(diff)}` })
    return verdict
  }

  /** True for a row that belongs to tenant B: a scoped row of B, or a join row naming one. */
  isB(table: string, row: Row): boolean {
    const m = this.schema.get(table)
    if (m !== undefined) return m.scoped && row.tenantId === TENANT_B
    const j = JOIN_TABLES.find((x) => x.table === table)!
    return Object.entries(j.columns).some(([col, model]) => this.world.bKeys[model]?.has(keyOf([row[col]])) === true)
  }

  /** Rows of `table` kept by `keep`, channel (c) applied, keyed by primary key (join rows by all columns). */
  private keyed(table: string, rows: Row[], keep: (table: string, row: Row) => boolean): Map<string, Row> {
    const m = this.schema.get(table)
    const out = new Map<string, Row>()
    for (const r of rows) {
      if (!keep(table, r)) continue
      const row = { ...r }
      if (m !== undefined) for (const [col, target] of m.channelC) if (this.world.bKeys[target]?.has(keyOf([row[col]]))) row[col] = null
      const key = m === undefined ? JSON.stringify(row) : keyOf(m.primaryKey.map((f) => row[f]))
      out.set(out.has(key) ? `${key}#${out.size}` : key, row)
    }
    return out
  }

  /**
   * Differences between D1's and D2's rows kept by `keep`: plain columns raw, encrypted ones
   * decrypted through rowcrypt (as each row's tenant) where the ciphertexts differ.
   */
  async stateDiff(s1: RawState, s2: RawState, keep: (table: string, row: Row) => boolean): Promise<string[]> {
    const out: string[] = []
    const decrypt: Array<{ m: ModelInfo; key: string; id: unknown; tenant: string; fields: string[] }> = []
    for (const table of this.d.tables) {
      const a = this.keyed(table, s1.tables[table]!, keep)
      const b = this.keyed(table, s2.tables[table]!, keep)
      const m = this.schema.get(table)
      for (const [key, r1] of a) {
        const r2 = b.get(key)
        if (r2 === undefined) {
          out.push(`${table} ${key} only on D1`)
          continue
        }
        const cols: string[] = []
        const enc: string[] = []
        for (const col of new Set([...Object.keys(r1), ...Object.keys(r2)])) {
          const v1 = r1[col] ?? null
          const v2 = r2[col] ?? null
          if (col === 'wrappedDek' && m?.scoped) {
            if ((v1 === null) !== (v2 === null)) cols.push(col)
          } else if (m?.encrypted.has(col) && v1 !== null && v2 !== null && v1 !== v2) enc.push(col)
          else if (v1 !== v2) cols.push(col)
        }
        if (cols.length > 0) out.push(`${table} ${key} columns ${cols.join(', ')}: ${cols.map((c) => `${JSON.stringify(r1[c])} vs ${JSON.stringify(r2[c])}`).join(', ')}`)
        if (enc.length > 0 && m !== undefined) decrypt.push({ m, key, id: r1[m.primaryKey[0]!], tenant: String(r1.tenantId ?? ''), fields: enc })
      }
      for (const key of b.keys()) if (!a.has(key)) out.push(`${table} ${key} only on D2`)
    }
    for (const x of decrypt) {
      const p1 = await this.plaintext(this.d.d1, x.m, x.id, x.tenant, x.fields)
      const p2 = await this.plaintext(this.d.d2, x.m, x.id, x.tenant, x.fields)
      if (JSON.stringify(p1) !== JSON.stringify(p2)) out.push(`${x.m.name} ${x.key} decrypted ${x.fields.join(', ')}: ${JSON.stringify(p1)} vs ${JSON.stringify(p2)}`)
    }
    return out
  }

  /** Encrypted fields of one row as rowcrypt returns them to its own tenant (or the error's code). */
  private async plaintext(side: Side, m: ModelInfo, id: unknown, tenant: string, fields: string[]): Promise<unknown> {
    try {
      const select = Object.fromEntries([m.primaryKey[0]!, ...fields].map((f) => [f, true]))
      const row = await withTenant(tenant, () => delegateOf(side.extended, m.name).findUnique!({ where: { [m.primaryKey[0]!]: id }, select }) as PromiseLike<unknown>)
      return deep(row)
    } catch (e) {
      return { error: codeOf(e) }
    }
  }

  // ---- channel (b): tenant B's rows ---------------------------------------------------------

  /** Changes to B's rows in D1 since the start of the call, split into those channel (b) explains and the rest. */
  tenantBChanges(s1: RawState): { explained: string[]; unexplained: string[] } {
    const base = this.baseline.D1
    const explained: string[] = []
    const unexplained: string[] = []
    const pk = (m: ModelInfo, r: Row) => keyOf(m.primaryKey.map((f) => r[f]))
    // Shared rows this call deleted or re-keyed (their key is gone) and shared rows it created.
    const gone = new Map<string, Set<string>>()
    const born = new Map<string, Set<string>>()
    for (const m of this.schema.values()) {
      if (m.scoped) continue
      const before = new Set(base.tables[m.name]!.map((r) => pk(m, r)))
      const after = new Set(s1.tables[m.name]!.map((r) => pk(m, r)))
      gone.set(m.name, new Set([...before].filter((k) => !after.has(k))))
      born.set(m.name, new Set([...after].filter((k) => !before.has(k))))
    }
    const quick = Object.fromEntries(this.d.tables.map((t) => [t, JSON.stringify(bRowsOf(this, t, base)) !== JSON.stringify(bRowsOf(this, t, s1))]))
    if (!Object.values(quick).some(Boolean)) return { explained, unexplained }

    // B rows deleted: explained when a cascading foreign key named a row that is gone (fixpoint:
    // a cascade can run through B's own rows).
    const deleted = new Map<string, Map<string, Row>>()
    const changed: Array<{ m: ModelInfo; key: string; before: Row; after: Row }> = []
    const appeared: Array<{ m: ModelInfo; key: string; row: Row }> = []
    for (const m of this.schema.values()) {
      if (!m.scoped) continue
      const before = new Map(base.tables[m.name]!.filter((r) => r.tenantId === TENANT_B).map((r) => [pk(m, r), r]))
      const after = new Map(s1.tables[m.name]!.map((r) => [pk(m, r), r]))
      for (const [key, r] of before) {
        const now = after.get(key)
        if (now === undefined) (deleted.get(m.name) ?? deleted.set(m.name, new Map()).get(m.name)!).set(key, r)
        else if (JSON.stringify(now) !== JSON.stringify(r)) changed.push({ m, key, before: r, after: now })
      }
      for (const [key, r] of after) if (r.tenantId === TENANT_B && !before.has(key)) appeared.push({ m, key, row: r })
    }
    // A B row whose primary key holds a foreign key to a re-keyed shared row (ON UPDATE CASCADE)
    // comes back under a new key: pair it with the row that went.
    const rekeyedFrom = (m: ModelInfo, old: Row, now: Row) =>
      Object.keys(old).every((c) => {
        if (old[c] === now[c]) return true
        const rel = m.relations.find((r) => r.from.length === 1 && r.from[0] === c)
        return rel !== undefined && !this.schema.get(rel.target)!.scoped && gone.get(rel.target)?.has(keyOf([old[c]])) === true && born.get(rel.target)?.has(keyOf([now[c]])) === true
      })
    for (const a of appeared) {
      const rows = deleted.get(a.m.name)
      const match = rows === undefined ? undefined : [...rows].find(([, old]) => rekeyedFrom(a.m, old, a.row))
      if (match === undefined) {
        unexplained.push(`${a.m.name} ${a.key} appeared with tenant B`)
        continue
      }
      rows!.delete(match[0])
      explained.push(`${a.m.name} ${match[0]} -> ${a.key} followed a re-keyed shared row`)
    }
    const isGone = (model: string, key: string, explainedDeletes: Map<string, Set<string>>) => gone.get(model)?.has(key) === true || explainedDeletes.get(model)?.has(key) === true
    const explainedDeletes = new Map<string, Set<string>>()
    for (let progress = true; progress;) {
      progress = false
      for (const [model, rows] of deleted) {
        const m = this.schema.get(model)!
        for (const [key, r] of rows) {
          if (explainedDeletes.get(model)?.has(key)) continue
          const why = m.relations.find(
            (rel) =>
              rel.from.length > 0 && ON_DELETE[`${model}.${rel.name}`] === 'Cascade' && rel.from.every((f) => r[f] !== null) && isGone(rel.target, keyOf(rel.from.map((f) => r[f])), explainedDeletes),
          )
          if (why !== undefined) {
            ;(explainedDeletes.get(model) ?? explainedDeletes.set(model, new Set()).get(model)!).add(key)
            explained.push(`${model} ${key} deleted by the cascade of ${model}.${why.name}`)
            progress = true
          }
        }
      }
    }
    for (const [model, rows] of deleted) for (const key of rows.keys()) if (!explainedDeletes.get(model)?.has(key)) unexplained.push(`${model} ${key} deleted`)
    // B rows changed: every changed column must be a foreign key whose target is gone, set to NULL
    // (ON DELETE SET NULL) or to a shared row's new key (ON UPDATE CASCADE).
    for (const { m, key, before, after } of changed) {
      const cols = Object.keys(before).filter((c) => before[c] !== after[c])
      const bad = cols.filter((c) => {
        const rel = m.relations.find((r) => r.from.length === 1 && r.from[0] === c)
        if (rel === undefined || before[c] === null) return true
        if (!isGone(rel.target, keyOf([before[c]]), explainedDeletes)) return true
        if (after[c] === null) return ON_DELETE[`${m.name}.${rel.name}`] !== 'SetNull'
        return born.get(rel.target)?.has(keyOf([after[c]])) !== true
      })
      if (bad.length > 0) unexplained.push(`${m.name} ${key} columns ${bad.join(', ')}: ${bad.map((c) => `${JSON.stringify(before[c])} -> ${JSON.stringify(after[c])}`).join(', ')}`)
      else explained.push(`${m.name} ${key} ${cols.join(', ')} followed a shared row deleted or re-keyed`)
    }
    // Join rows of B's rows: one may go with a shared row that is gone, or with B's row under an
    // explained cascade; one may appear only as the re-keyed copy of one that went.
    for (const j of JOIN_TABLES) {
      const before = bRowsOf(this, j.table, base).map((r) => JSON.stringify(r))
      const after = bRowsOf(this, j.table, s1).map((r) => JSON.stringify(r))
      const went = before.filter((r) => !after.includes(r)).map((r) => JSON.parse(r) as Row)
      const came = after.filter((r) => !before.includes(r)).map((r) => JSON.parse(r) as Row)
      const cols = Object.entries(j.columns)
      for (const r of went) {
        if (cols.some(([c, model]) => isGone(model, keyOf([r[c]]), explainedDeletes))) explained.push(`${j.table} ${JSON.stringify(r)} went with a deleted row`)
        else unexplained.push(`${j.table} ${JSON.stringify(r)} deleted`)
      }
      for (const r of came) {
        const rekeyed = cols.some(
          ([c, model]) => born.get(model)?.has(keyOf([r[c]])) && went.some((w) => cols.every(([c2]) => c2 === c || w[c2] === r[c2]) && isGone(model, keyOf([w[c]]), explainedDeletes)),
        )
        if (rekeyed) explained.push(`${j.table} ${JSON.stringify(r)} followed a re-keyed shared row`)
        else unexplained.push(`${j.table} ${JSON.stringify(r)} appeared`)
      }
    }
    return { explained, unexplained }
  }

  // ---- channel (a): unique keys held by B's rows --------------------------------------------

  /**
   * The counterfactual for a constraint error on D1 that D2 does not give: D2 plus a stand-in for
   * each of B's rows (the same row under another tenant; join rows not copied), i.e. D1 with B's
   * rows belonging to a tenant nobody acts as. If the call has D1's outcome there (the same error
   * code, or for a skipDuplicates write the same result) and leaves the same state, the difference
   * comes from other tenants' rows being there at all (their unique values, or referential actions
   * reaching them), not from anything of B's that A could read or change.
   */
  private async ghostCounterfactual(call: Call, o1: Outcome, s1: RawState, s2: RawState): Promise<boolean> {
    if (o1.ok && !skipsDuplicates(call)) return false
    const d2 = this.d.d2
    await d2.restore(this.changedTables('D2', s2))
    const specs: CopySpec[] = [...this.schema.values()]
      .filter((m) => m.scoped)
      .map((m) => ({ table: m.name, columns: m.scalars.map((x) => x.name), set: { tenantId: GHOST_TENANT }, where: (q) => `${q('tenantId')} = '${TENANT_B}'` }))
    // Join rows of B's rows come along (the stand-ins keep B's ids).
    for (const j of JOIN_TABLES) {
      const scoped = Object.entries(j.columns).filter(([, model]) => this.schema.get(model)!.scoped)
      if (scoped.length === 0) continue
      const where = (q: (c: string) => string, src: (t: string) => string) =>
        scoped.map(([col, model]) => `${q(col)} IN (SELECT ${q(this.schema.get(model)!.primaryKey[0]!)} FROM ${src(model)} WHERE ${q('tenantId')} = '${TENANT_B}')`).join(' OR ')
      specs.push({ table: j.table, columns: Object.keys(j.columns), set: {}, where })
    }
    await this.d.copyRowsToD2(specs)
    try {
      const og = await this.rerunOnD2(call)
      const sg = await d2.snapshot()
      const keep = (table: string, row: Row) => !this.isB(table, row) && row.tenantId !== GHOST_TENANT
      const sameOutcome = o1.ok ? og.ok && JSON.stringify(this.normalize(call, og)) === JSON.stringify(this.normalize(call, o1)) : !og.ok && og.code === o1.code
      const same = sameOutcome && (await this.stateDiff(s1, sg, keep)).length === 0
      await d2.restore(this.changedTables('D2', sg))
      for (const [t, n] of Object.entries(s2.next)) if (sg.next[t] !== n) await d2.setNext(t, n)
      return same
    } catch (e) {
      await d2.restore(this.d.tables)
      throw e
    }
  }

  /** Rows D2 wrote (new or changed, not B's) whose value of some unique key one of B's rows holds. */
  private collisions(s2: RawState): Array<{ model: string; key: string; unique: string }> {
    const out: Array<{ model: string; key: string; unique: string }> = []
    const base = this.baseline.D2
    for (const m of this.schema.values()) {
      if (!m.scoped) continue
      const before = new Map(base.tables[m.name]!.map((r) => [keyOf(m.primaryKey.map((f) => r[f])), JSON.stringify(r)]))
      for (const r of s2.tables[m.name]!) {
        if (r.tenantId === TENANT_B) continue
        const key = keyOf(m.primaryKey.map((f) => r[f]))
        if (before.get(key) === JSON.stringify(r)) continue
        for (const u of m.uniques) {
          const tuple = u.map((f) => r[f])
          if (tuple.some((x) => x === null)) continue
          if (this.world.bUniques[m.name]?.[u.join(',')]?.has(keyOf(tuple))) out.push({ model: m.name, key, unique: u.join(',') })
        }
      }
    }
    return out
  }

  /**
   * Channel (a), when the outcomes differ: undefined when it does not apply; true when it explains
   * the difference; a reason string when it applies but the rest of the state still differs.
   */
  private async uniqueChannel(call: Call, o1: Outcome, o2: Outcome, s1: RawState, s2: RawState): Promise<true | string | undefined> {
    const keepNotB = (table: string, row: Row) => !this.isB(table, row)
    if (!o1.ok && o1.code === 'P2002') {
      const hits = o2.ok ? this.collisions(s2) : []
      if (hits.length > 0) {
        // D2 wrote a row with a unique value one of B's rows holds, D1 refused the whole call: its
        // A and shared rows must be as they were.
        const d1Unchanged = await this.stateDiff(this.baseline.D1, s1, keepNotB)
        return d1Unchanged.length === 0 ? true : `P2002 on D1 (a unique value B holds), yet D1 changed: ${d1Unchanged.slice(0, 3).join('; ')}`
      }
      // Otherwise (D2 went on past the conflict, and a later part of the call failed or rolled it
      // back) the counterfactual decides, in judge().
      return undefined
    }
    const hits = this.collisions(s2)
    if (hits.length === 0 || !o2.ok) return undefined
    const text = JSON.stringify(call)
    if (o1.ok && text.includes('"skipDuplicates":true') && call.kind === 'op' && (call.op === 'createMany' || call.op === 'createManyAndReturn')) {
      // skipDuplicates: D1 skipped the rows that collide with B's, D2 wrote them. Without those rows
      // the two states must agree, and the results must differ by exactly them.
      const skipped = new Set(hits.map((h) => `${h.model}:${h.key}`))
      const keep = (table: string, row: Row) => {
        const m = this.schema.get(table)
        return keepNotB(table, row) && !(m !== undefined && skipped.has(`${table}:${keyOf(m.primaryKey.map((f) => row[f]))}`))
      }
      const rest = await this.stateDiff(s1, s2, keep)
      if (rest.length > 0) return `skipDuplicates skipped B-held unique values, yet the states differ otherwise: ${rest.slice(0, 3).join('; ')}`
      if (call.op === 'createMany') {
        const c1 = (o1.value as { count: number }).count
        const c2 = (o2.value as { count: number }).count
        return c2 - c1 === hits.length ? true : `skipDuplicates: counts ${c1} and ${c2} differ by more than the ${hits.length} B-held values`
      }
      return Array.isArray(o1.value) && Array.isArray(o2.value) && o2.value.length - o1.value.length === hits.length ? true : 'skipDuplicates: returned rows differ by more than the B-held values'
    }
    return undefined
  }
}

/** A createMany (AndReturn) with skipDuplicates. */
function skipsDuplicates(call: Call): boolean {
  return call.kind === 'op' && (call.op === 'createMany' || call.op === 'createManyAndReturn') && call.args.skipDuplicates === true
}

/** The tenant of the counterfactual's stand-in rows: never one the fuzzer acts as. */
const GHOST_TENANT = 'tenant_ghost'

/**
 * Database constraint errors other tenants' rows can cause by being there, and the channel each
 * stands for: a unique violation (a); a foreign-key failure, or MySQL's error 1761 (a cascade
 * that would duplicate a unique key), from a referential action (b).
 */
const CONSTRAINT_ERRORS: Record<string, string> = { P2002: 'a', P2003: 'b', P2039: 'b' }

function outcomeCodes(o1: Outcome, o2: Outcome): string {
  const one = (o: Outcome) => (o.ok ? (o.value === null ? 'null' : 'ok') : o.code)
  return `${one(o1)}/${one(o2)}`
}

// The tables a list of difference lines names (each line starts with its table).
function tablesOf(lines: string[]): string {
  return [...new Set(lines.map((l) => l.split(' ')[0]))].sort().join(',')
}

function tableTexts(state: RawState): Record<string, string> {
  return Object.fromEntries(Object.entries(state.tables).map(([t, rows]) => [t, JSON.stringify(rows.map((r) => JSON.stringify(r)).sort())]))
}

function bRowsOf(o: Oracle, table: string, state: RawState): Row[] {
  return state.tables[table]!.filter((r) => o.isB(table, r)).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1))
}

/** The scalar keys (top level of each entry) of an orderBy. */
function orderKeys(orderBy: unknown): { scalars: Set<string> } {
  const scalars = new Set<string>()
  for (const e of Array.isArray(orderBy) ? orderBy : orderBy === undefined || orderBy === null ? [] : [orderBy]) {
    if (!isObj(e)) continue
    for (const [k, v] of Object.entries(e)) if (typeof v === 'string' || (isObj(v) && 'sort' in v)) scalars.add(k)
  }
  return { scalars }
}
