// The fuzzer's fixed starting state. D1 is written through rowcrypt (tenants A and B) and plain
// Prisma (shared rows); D2 is then a raw copy of D1 with B's rows deleted by SQL, so ids,
// ciphertexts and autoincrement counters are the same on both sides (control mode keeps B's rows).
// B's rows are written first: a shared row points at B's rows as often as at A's.
import { withTenant } from '../../src'
import type { Canon, FuzzDatabases, RawState, Row, Side } from './db'
import { JOIN_TABLES, TENANT_A, TENANT_B, type Schema } from './schema'

/** A row's primary key: a number or string, or an object for compound ids. */
export type Id = Canon | Record<string, Canon>

/** What the generator may name: the rows that exist at the start of every call. */
export interface World {
  /** Per model: ids of A's rows, B's rows and (unscoped models) shared rows. */
  readonly ids: Record<string, { a: Id[]; b: Id[]; shared: Id[] }>
  /** Per unscoped model: shared rows related to one of B's rows (through any foreign key or join row). */
  readonly bLinked: Record<string, Id[]>
  /** Per scoped model: the primary keys (as `keyOf` strings) of B's rows. */
  readonly bKeys: Record<string, Set<string>>
  /** Plaintext values of the searchable field, per tenant. */
  readonly emails: { a: string[]; b: string[] }
  /** Unique tuples held by B's rows: per scoped model, per unique key (fields joined by ','), the tuples as `keyOf` strings. */
  readonly bUniques: Record<string, Record<string, Set<string>>>
}

export const DATES = ['2024-01-02T03:04:05.000Z', '2024-03-04T00:00:00.000Z', '2025-06-30T23:59:59.999Z'].map((d) => new Date(d))

const bytes = (...b: number[]) => new Uint8Array(b)

/** A stable string for a tuple of canonical values. */
export function keyOf(values: readonly unknown[]): string {
  return JSON.stringify(values)
}

/** Writes the fixed rows into `d.d1`; then D2 becomes D1 without B's rows (or an exact copy in control mode). */
export async function seed(d: FuzzDatabases, control: boolean): Promise<World> {
  const { d1, schema } = d
  const scoped = (m: string) => schema.get(m)!.scoped
  const ext = d1.extended
  const base = d1.base
  const team = async (name: string, rank: number) => (await base.team.create({ data: { name, rank } })).id as number
  const T1 = await team('red', 1)
  const T2 = await team('blue', 2)
  const T3 = await team('green', 1)
  const T4 = await team('gold', 3)
  await team('gray', 0)
  const tag = async (namespace: string, name: string) => (await base.tag.create({ data: { namespace, name } })).id as number
  const G1 = await tag('ns1', 'alpha')
  const G2 = await tag('ns1', 'beta')
  const G3 = await tag('ns2', 'alpha')
  const G4 = await tag('ns2', 'gamma')

  const user = (tenant: string, data: Record<string, unknown>) => withTenant(tenant, async () => (await ext.user.create({ data })).id as number)
  const b1 = await user(TENANT_B, {
    name: 'bob',
    email: 'shared@x.io',
    ssn: '222-22',
    prefs: { theme: 'dark' },
    avatar: bytes(1, 2, 3),
    age: 40,
    points: 7n,
    active: true,
    joinedAt: DATES[0],
    teamId: T1,
  })
  const b2 = await user(TENANT_B, { name: 'bea', email: 'b2@x.io', age: 25, active: false, teamId: T2, managerId: b1 })
  const b3 = await user(TENANT_B, { name: 'ann', email: 'a1@x.io', age: 33, points: 1n })
  const a1 = await user(TENANT_A, {
    name: 'ann',
    email: 'a1@x.io',
    ssn: '111-11',
    prefs: { theme: 'light', n: [1, 2] },
    avatar: bytes(9),
    age: 30,
    points: 3n,
    active: true,
    joinedAt: DATES[1],
    teamId: T1,
  })
  const a2 = await user(TENANT_A, { name: 'al', email: 'shared@x.io', age: 41, points: 12n, teamId: T3, managerId: a1 })
  const a3 = await user(TENANT_A, { name: 'amy', email: 'a3@x.io', age: 25, active: false, managerId: a2, joinedAt: DATES[2] })
  await base.team.update({ where: { id: T1 }, data: { ownerId: a1 } })
  await base.team.update({ where: { id: T2 }, data: { ownerId: b1 } })
  await base.team.update({ where: { id: T4 }, data: { ownerId: b2 } })

  const profile = (tenant: string, data: Record<string, unknown>) => withTenant(tenant, () => ext.profile.create({ data }))
  await profile(TENANT_B, { id: 'profile-b1', bio: 'b bio one', score: 5, rating: 4.5, userId: b1, teamId: T2 })
  await profile(TENANT_B, { id: 'profile-b2', bio: 'b bio two', score: 1, userId: b3, teamId: T4 })
  await profile(TENANT_A, { id: 'profile-a1', bio: 'a bio one', score: 3, rating: 2.5, userId: a1, teamId: T1 })
  await profile(TENANT_A, { id: 'profile-a2', bio: 'a bio two', score: 5, userId: a3 })
  await profile(TENANT_A, { id: 'profile-a3', bio: 'a bio three', score: 0, teamId: T3 })

  const post = (tenant: string, data: Record<string, unknown>, tags: number[]) =>
    withTenant(tenant, () => ext.post.create({ data: { ...data, ...(tags.length > 0 ? { tags: { connect: tags.map((id) => ({ id })) } } : {}) } }))
  await post(TENANT_B, { id: 'post-b1', title: 'hello', body: 'b body', published: true, views: 10, authorId: b1 }, [G1, G2])
  await post(TENANT_B, { id: 'post-b2', title: 'news', views: 3, authorId: b2 }, [G3])
  await post(TENANT_B, { id: 'post-b3', title: 'draft' }, [])
  await post(TENANT_A, { id: 'post-a1', title: 'hello', body: 'a body', published: true, views: 5, authorId: a1 }, [G1])
  await post(TENANT_A, { id: 'post-a2', title: 'notes', views: 10, authorId: a2 }, [G2, G4])
  await post(TENANT_A, { id: 'post-a3', title: 'draft' }, [])

  // Scope-only models: written with an explicit tenant column (no encryption to do); '' when they
  // are unscoped, and then B's comments are shared rows pointing at B's rows.
  const tenantOf = (m: string, t: string) => (scoped(m) ? t : '')
  const comment = (t: string, data: Record<string, unknown>) => base.comment.create({ data: { ...data, tenantId: tenantOf('Comment', t) } })
  await comment(TENANT_B, { text: 'nice', position: 0, postId: 'post-b1', authorId: b1 })
  await comment(TENANT_B, { text: 'meh', position: 1, postId: 'post-b1', authorId: b2 })
  await comment(TENANT_A, { text: 'nice', position: 0, postId: 'post-a1', authorId: a1 })
  await comment(TENANT_A, { text: 'ok', position: 1, postId: 'post-a1', authorId: a2 })
  await comment(TENANT_A, { text: 'loose', position: 0, authorId: a3 })
  const membership = (t: string, data: Record<string, unknown>) => base.membership.create({ data: { ...data, tenantId: tenantOf('Membership', t) } })
  // Unscoped, a membership is a shared row whose required foreign key would name B's user: D2
  // could not hold it, so B's memberships exist only when the model is scoped.
  if (scoped('Membership')) {
    await membership(TENANT_B, { userId: b1, teamId: T1, role: 'owner' })
    await membership(TENANT_B, { userId: b2, teamId: T2 })
  }
  await membership(TENANT_A, { userId: a1, teamId: T1 })
  await membership(TENANT_A, { userId: a2, teamId: T2, role: 'admin' })
  await membership(TENANT_A, { userId: a2, teamId: T3 })

  const state = await d1.snapshot()
  checkNoCrossTenantPointers(schema, state)
  await d.copy(d1, d.d2)
  if (!control) await deleteTenantB(schema, d.d2)
  await d1.savePoint()
  await d.d2.savePoint()
  return worldOf(schema, state, { a: ['a1@x.io', 'shared@x.io', 'a3@x.io'], b: ['shared@x.io', 'b2@x.io', 'a1@x.io'] })
}

/** D2's construction: B's rows deleted, and shared rows' foreign keys that named one set to NULL. */
async function deleteTenantB(schema: Schema, d2: Side): Promise<void> {
  type Stmt = Parameters<Side['exec']>[0][number]
  const statements: Stmt[] = []
  const bIds = (target: string, T: (t: string) => string, C: (c: string) => string) => `SELECT ${C('id')} FROM ${T(target)} WHERE ${C('tenantId')} = '${TENANT_B}'`
  for (const m of schema.values()) {
    for (const [col, target] of m.channelC) statements.push((T, C) => `UPDATE ${T(m.name)} SET ${C(col)} = NULL WHERE ${C(col)} IN (${bIds(target, T, C)})`)
  }
  for (const j of JOIN_TABLES) {
    for (const [col, target] of Object.entries(j.columns)) {
      if (schema.get(target)!.scoped) statements.push((T, C) => `DELETE FROM ${T(j.table)} WHERE ${C(col)} IN (${bIds(target, T, C)})`)
    }
  }
  for (const m of scopedDeleteOrder(schema)) statements.push((T, C) => `DELETE FROM ${T(m)} WHERE ${C('tenantId')} = '${TENANT_B}'`)
  await d2.exec(statements)
}

// Scoped models, each before the scoped models it points at (so no delete trips a foreign key).
function scopedDeleteOrder(schema: Schema): string[] {
  const scoped = [...schema.values()].filter((m) => m.scoped)
  const out: string[] = []
  const pending = new Set(scoped.map((m) => m.name))
  while (pending.size > 0) {
    const next = [...pending].find((n) => !scoped.some((o) => pending.has(o.name) && o.name !== n && o.relations.some((r) => r.target === n && r.from.length > 0)))
    if (next === undefined) throw new Error('fuzz seed: scoped models reference each other in a cycle')
    out.push(next)
    pending.delete(next)
  }
  return out
}

/** Row primary key as an Id. */
export function idOf(schema: Schema, model: string, row: Row): Id {
  const pk = schema.get(model)!.primaryKey
  return pk.length === 1 ? row[pk[0]!]! : Object.fromEntries(pk.map((f) => [f, row[f]!]))
}

/** Row primary key as a `keyOf` string. */
export function pkKey(schema: Schema, model: string, row: Row): string {
  return keyOf(schema.get(model)!.primaryKey.map((f) => row[f]))
}

// Seeding never makes a scoped row of one tenant point at another tenant's row: rowcrypt's own
// behaviour on such planted rows (a mismatch error) is not what this fuzzer compares.
function checkNoCrossTenantPointers(schema: Schema, state: RawState): void {
  const tenantOf = new Map<string, Canon>()
  for (const m of schema.values()) if (m.scoped) for (const r of state.tables[m.name]!) tenantOf.set(`${m.name}:${pkKey(schema, m.name, r)}`, r.tenantId ?? null)
  for (const m of schema.values()) {
    if (!m.scoped) continue
    for (const r of state.tables[m.name]!) {
      for (const rel of m.relations) {
        if (rel.from.length === 0 || !schema.get(rel.target)!.scoped) continue
        const v = rel.from.map((f) => r[f])
        if (v.some((x) => x === null)) continue
        const t = tenantOf.get(`${rel.target}:${keyOf(v)}`)
        if (t !== r.tenantId) throw new Error(`fuzz seed: ${m.name} row of ${String(r.tenantId)} points at a ${rel.target} row of ${String(t)}`)
      }
    }
  }
}

function worldOf(schema: Schema, state: RawState, emails: World['emails']): World {
  const ids: World['ids'] = {}
  const bKeys: World['bKeys'] = {}
  const bUniques: World['bUniques'] = {}
  for (const m of schema.values()) {
    const rows = state.tables[m.name]!
    const group = { a: [] as Id[], b: [] as Id[], shared: [] as Id[] }
    for (const r of rows) {
      if (!m.scoped) group.shared.push(idOf(schema, m.name, r))
      else if (r.tenantId === TENANT_A) group.a.push(idOf(schema, m.name, r))
      else if (r.tenantId === TENANT_B) group.b.push(idOf(schema, m.name, r))
    }
    ids[m.name] = group
    if (m.scoped) {
      const bRows = rows.filter((r) => r.tenantId === TENANT_B)
      bKeys[m.name] = new Set(bRows.map((r) => pkKey(schema, m.name, r)))
      bUniques[m.name] = Object.fromEntries(
        m.uniques.map((u) => [
          u.join(','),
          new Set(
            bRows
              .map((r) => u.map((f) => r[f]))
              .filter((v) => v.every((x) => x !== null))
              .map(keyOf),
          ),
        ]),
      )
    }
  }
  // Shared rows related to a B row: named by a B row's foreign key, naming a B row, or joined to one.
  const bLinked: World['bLinked'] = {}
  const add = (model: string, key: string) => {
    const m = schema.get(model)!
    const row = state.tables[model]!.find((r) => keyOf(m.primaryKey.map((f) => r[f])) === key)
    if (row !== undefined && !(bLinked[model] ??= []).some((x) => JSON.stringify(x) === JSON.stringify(idOf(schema, model, row)))) bLinked[model]!.push(idOf(schema, model, row))
  }
  for (const m of schema.values()) {
    for (const r of state.tables[m.name]!) {
      for (const rel of m.relations) {
        if (rel.from.length === 0) continue
        const target = schema.get(rel.target)!
        const v = rel.from.map((f) => r[f])
        if (v.some((x) => x === null)) continue
        if (m.scoped && r.tenantId === TENANT_B && !target.scoped) add(rel.target, keyOf(v))
        if (!m.scoped && target.scoped && bKeys[rel.target]!.has(keyOf(v))) add(m.name, pkKey(schema, m.name, r))
      }
    }
  }
  for (const j of JOIN_TABLES) {
    const [[colA, modelA], [colB, modelB]] = Object.entries(j.columns) as [[string, string], [string, string]]
    for (const r of state.tables[j.table]!) {
      if (schema.get(modelA)!.scoped && !schema.get(modelB)!.scoped && bKeys[modelA]!.has(keyOf([r[colA]]))) add(modelB, keyOf([r[colB]]))
      if (schema.get(modelB)!.scoped && !schema.get(modelA)!.scoped && bKeys[modelB]!.has(keyOf([r[colB]]))) add(modelA, keyOf([r[colA]]))
    }
  }
  return { ids, bLinked, bKeys, emails, bUniques }
}

export type { Row }
