// What the fuzzer knows about its schema (test/fuzz/prisma/models.prisma): the rowcrypt config,
// which models are scoped, and per model its scalars, relations and unique keys, read from the
// generated manifest (one source of truth) plus the few facts the manifest does not carry
// (back relations, referential actions), checked against it at startup.
import { manifest as sqliteManifest } from '../../generated/fuzz/sqlite/rowcrypt'
import type { Manifest, ManifestField } from '../../src'

export const TENANT_A = 'tenant_a'
export const TENANT_B = 'tenant_b'

/**
 * Models with a tenant column and no encrypted field, scoped as `Model: { fields: [] }` (rowcrypt
 * accepts that since 5113c3f; before, they had to stay out of the config). This is the one switch:
 * with `enabled: false` (or ROWCRYPT_FUZZ_SCOPE_ONLY=0, or `runFuzz({ scopeOnly: false })`) they are
 * left out of the config and so are unscoped, shared models everywhere in the fuzzer (config, seed,
 * oracle), which gives more shapes of shared rows pointing into scoped ones (Comment.post,
 * Comment.author, Membership.user).
 */
export const SCOPE_ONLY = {
  models: ['Comment', 'Membership'] as const,
  enabled: process.env.ROWCRYPT_FUZZ_SCOPE_ONLY !== '0',
}

/** Encrypted fields per scoped model (the `fields` of rowcrypt's config map). */
export const ENCRYPTED = {
  User: [{ name: 'email', searchable: true }, 'ssn', { name: 'prefs', type: 'json' }, { name: 'avatar', type: 'bytes' }],
  Profile: ['bio'],
  Post: ['title', 'body'],
} as const

/** Views and the model whose rows each shows (declared to rowcrypt with `viewOf`). */
export const VIEWS = { UserCard: 'User' } as const

/** The `models` option of rowcrypt() for this schema. */
export function rowcryptModels(scopeOnly = SCOPE_ONLY.enabled): Record<string, { fields: readonly unknown[] } | { viewOf: string }> {
  const models: Record<string, { fields: readonly unknown[] } | { viewOf: string }> = {}
  for (const [m, fields] of Object.entries(ENCRYPTED)) models[m] = { fields }
  if (scopeOnly) for (const m of SCOPE_ONLY.models) models[m] = { fields: [] }
  for (const [view, of] of Object.entries(VIEWS)) models[view] = { viewOf: of }
  return models
}

// Back relations (the other side of each relation) and the referential actions of the side that
// holds the foreign key, as declared in models.prisma.
const BACK: Record<string, string> = {
  'Team.owner': 'User.ownedTeams',
  'Team.members': 'User.team',
  'Team.profile': 'Profile.team',
  'Team.memberships': 'Membership.team',
  'Tag.posts': 'Post.tags',
  'User.manager': 'User.reports',
  'User.posts': 'Post.author',
  'User.profile': 'Profile.user',
  'User.comments': 'Comment.author',
  'User.memberships': 'Membership.user',
  'Post.comments': 'Comment.post',
}
export const ON_DELETE: Record<string, 'SetNull' | 'Cascade'> = {
  'Team.owner': 'SetNull',
  'User.team': 'SetNull',
  'User.manager': 'SetNull',
  'Profile.user': 'SetNull',
  'Profile.team': 'SetNull',
  'Post.author': 'Cascade',
  'Comment.post': 'Cascade',
  'Comment.author': 'SetNull',
  'Membership.user': 'Cascade',
  'Membership.team': 'Cascade',
}
/** Implicit many-to-many join tables: table, and which column points at which model. */
export const JOIN_TABLES = [{ table: '_PostToTag', columns: { A: 'Post', B: 'Tag' } as Record<string, string>, relation: 'Post.tags' }]

export interface ScalarInfo {
  readonly name: string
  readonly type: string
  readonly required: boolean
  readonly isId: boolean
  readonly autoincrement: boolean
}

export interface RelationInfo {
  readonly name: string
  readonly model: string
  readonly target: string
  readonly isList: boolean
  /** Foreign-key fields this side holds (empty when the other side holds them). */
  readonly from: readonly string[]
  readonly to: readonly string[]
  /** The relation field on the target pointing back. */
  readonly back: string
  /** The foreign key (on whichever side) is required. */
  readonly fkRequired: boolean
  readonly manyToMany: boolean
}

export interface ModelInfo {
  readonly name: string
  readonly delegate: string
  readonly scoped: boolean
  readonly scalars: readonly ScalarInfo[]
  readonly relations: readonly RelationInfo[]
  readonly primaryKey: readonly string[]
  /** Unique keys: the primary key first, then `@unique` / `@@unique`. */
  readonly uniques: ReadonlyArray<readonly string[]>
  /** Encrypted fields and their value type. */
  readonly encrypted: ReadonlyMap<string, { type: 'string' | 'json' | 'bytes'; searchable: boolean }>
  /** Columns rowcrypt manages (sidecars, blind-index columns). */
  readonly managed: ReadonlySet<string>
  /** Foreign-key scalars of this model (any target). */
  readonly foreignKeys: ReadonlySet<string>
  /**
   * Channel (c): this model is unscoped and the column is its foreign key into a scoped model. Its
   * value names the scoped row and is visible as such; the oracle normalizes it when it names one
   * of B's rows, and the generator does not filter, sort, group or aggregate by it.
   */
  readonly channelC: ReadonlyMap<string, string>
}

export type Schema = ReadonlyMap<string, ModelInfo>

/** The fuzzer's view of the schema, with `scopeOnly` deciding whether Comment and Membership are scoped. */
export function buildSchema(manifest: Manifest = sqliteManifest as unknown as Manifest, scopeOnly = SCOPE_ONLY.enabled): Schema {
  const scoped = new Set(Object.keys(rowcryptModels(scopeOnly)))
  const out = new Map<string, ModelInfo>()
  for (const [name, m] of Object.entries(manifest.models)) {
    // Views are read through their own test (test/integration/confinement.test.ts): the fuzzer
    // writes, snapshots and restores tables.
    if (m.isView === true) continue
    const fields = Object.entries(m.fields) as Array<[string, ManifestField]>
    const scalars: ScalarInfo[] = fields
      .filter(([, f]) => f.kind === 'scalar')
      .map(([n, f]) => ({ name: n, type: f.type, required: f.isRequired, isId: f.isId || m.primaryKey.includes(n), autoincrement: f.default === 'autoincrement' }))
    const relations: RelationInfo[] = []
    for (const [n, f] of fields) {
      if (f.kind !== 'object') continue
      const key = `${name}.${n}`
      const back = BACK[key] ?? Object.entries(BACK).find(([, v]) => v === key)?.[0]
      if (back === undefined) throw new Error(`fuzz schema: no back relation known for ${key}`)
      const [backModel, backField] = back.split('.') as [string, string]
      if (backModel !== f.type) throw new Error(`fuzz schema: back relation of ${key} is ${back}, not on ${f.type}`)
      const other = manifest.models[f.type]?.fields[backField]
      if (other === undefined || other.kind !== 'object' || other.type !== name) throw new Error(`fuzz schema: ${back} is not a relation to ${name}`)
      const from = f.relationFromFields ?? []
      const fkSide = from.length > 0 ? m : manifest.models[f.type]!
      const fkFields = from.length > 0 ? from : (other.relationFromFields ?? [])
      const fkRequired = fkFields.length > 0 && fkFields.every((x) => fkSide.fields[x]?.isRequired === true)
      relations.push({ name: n, model: name, target: f.type, isList: f.isList, from, to: f.relationToFields ?? [], back: backField, fkRequired, manyToMany: f.isList && other.isList })
    }
    const config = (ENCRYPTED as Record<string, ReadonlyArray<string | { name: string; type?: string; searchable?: boolean }>>)[name]
    const encrypted = new Map<string, { type: 'string' | 'json' | 'bytes'; searchable: boolean }>()
    for (const d of config ?? []) {
      const decl = typeof d === 'string' ? { name: d } : d
      encrypted.set(decl.name, { type: (decl.type ?? 'string') as 'string' | 'json' | 'bytes', searchable: decl.searchable === true })
    }
    const isScoped = scoped.has(name)
    const managed = new Set<string>()
    if (m.fields.tenantId !== undefined) managed.add('tenantId')
    if (m.fields.wrappedDek !== undefined) managed.add('wrappedDek').add('keyVersion')
    for (const [f, e] of encrypted) if (e.searchable) managed.add(`${f}Index`)
    const foreignKeys = new Set(relations.flatMap((r) => r.from))
    const channelC = new Map<string, string>()
    if (!isScoped) for (const r of relations) if (scoped.has(r.target)) for (const f of r.from) channelC.set(f, r.target)
    const uniques = [m.primaryKey, ...(m.uniques ?? []).map((u) => u.fields)]
    out.set(name, {
      name,
      delegate: name.charAt(0).toLowerCase() + name.slice(1),
      scoped: isScoped,
      scalars,
      relations,
      primaryKey: m.primaryKey,
      uniques,
      encrypted,
      managed,
      foreignKeys,
      channelC,
    })
  }
  for (const key of [...Object.keys(BACK), ...Object.keys(ON_DELETE)]) {
    const [model, field] = key.split('.') as [string, string]
    if (out.get(model)?.relations.find((r) => r.name === field) === undefined) throw new Error(`fuzz schema: ${key} is not a relation`)
  }
  return out
}

export function model(schema: Schema, name: string): ModelInfo {
  const m = schema.get(name)
  if (m === undefined) throw new Error(`fuzz schema: unknown model ${name}`)
  return m
}

export function relation(m: ModelInfo, name: string): RelationInfo {
  const r = m.relations.find((x) => x.name === name)
  if (r === undefined) throw new Error(`fuzz schema: ${m.name} has no relation ${name}`)
  return r
}
