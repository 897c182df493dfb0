import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { runInNewContext } from 'node:vm'
import { manifest } from '../../../generated/sqlite/rowcrypt'
import { buildModelTable, type RowcryptOptions } from '../../../src/prisma/config'
import { manifestFromDatamodel, renderManifest, viewNames, type DmmfLikeDatamodel, type Manifest } from '../../../src/prisma/manifest'
import { ConfigError, defineModels, LocalKeyProvider, rowcrypt } from '../../../src'

const keyProvider = new LocalKeyProvider({ keys: { v1: Buffer.alloc(32, 1) }, activeVersion: 'v1' })

const GOOD_MODELS = {
  User: { fields: ['email', 'ssn', 'notes', { name: 'prefs', type: 'json' }, { name: 'avatar', type: 'bytes' }] },
  Post: { fields: ['title', 'body'] },
  Document: { fields: ['body'], columns: { tenantId: 'orgId' } },
}

/** buildModelTable with loosely typed models, for the invalid shapes the typed API forbids. */
function build(models: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return buildModelTable({ schema: manifest, keyProvider, models, ...extra } as unknown as RowcryptOptions)
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError)
    expect((e as ConfigError).code).toBe('ERR_ROWCRYPT_CONFIG')
    return e as ConfigError
  }
  throw new Error('expected a ConfigError')
}

describe('buildModelTable: a valid configuration', () => {
  const table = build(GOOD_MODELS)

  it('has every model of the schema, with specs only for the configured ones', () => {
    expect([...table.keys()].sort()).toEqual(['Customer', 'Document', 'IdCuid', 'IdCuid2', 'IdNanoid', 'IdNanoid10', 'IdUlid', 'IdUuid7', 'Invoice', 'Post', 'RowcryptTenantKey', 'Team', 'User'])
    expect(table.get('Team')?.spec).toBeUndefined()
    const user = table.get('User')?.spec
    expect([...(user?.fields.keys() ?? [])]).toEqual(['email', 'ssn', 'notes', 'prefs', 'avatar'])
    expect(user?.fields.get('prefs')?.type).toBe('json')
    expect(user?.fields.get('avatar')?.type).toBe('bytes')
    // Json and Bytes columns: the value type follows the column, and so does the stored form.
    expect(['email', 'prefs', 'avatar'].map((f) => user?.fields.get(f)?.storage)).toEqual(['text', 'json', 'bytes'])
    expect(user?.fields.get('email')?.type).toBe('string')
    expect(user?.columns).toEqual({ wrappedDek: 'wrappedDek', keyVersion: 'keyVersion', tenantId: 'tenantId' })
    expect(table.get('Document')?.spec?.columns).toEqual({ wrappedDek: 'wrappedDek', keyVersion: 'keyVersion', tenantId: 'orgId' })
  })

  it('takes the id field from a single-column primary key', () => {
    expect(table.get('User')?.spec?.idField).toBe('id')
    expect(table.get('Post')?.spec?.idField).toBe('id')
    expect(table.get('Document')?.spec?.idField).toBe('id')
  })

  it('records relations and which models reach a scoped model', () => {
    expect(table.get('User')?.relations.get('posts')).toEqual({ target: 'Post', isList: true, fromFields: [], toFields: [], oneToOne: false })
    expect(table.get('User')?.relations.get('team')).toEqual({ target: 'Team', isList: false, fromFields: ['teamId'], toFields: ['id'], oneToOne: false })
    expect(table.get('Team')?.relations.get('members')).toEqual({ target: 'User', isList: true, fromFields: [], toFields: [], oneToOne: false })
    expect(table.get('Post')?.relations.get('author')).toEqual({ target: 'User', isList: false, fromFields: ['authorId'], toFields: ['id'], oneToOne: false })
    expect(table.get('Team')?.reachesScoped).toBe(true)
    expect(table.get('Document')?.reachesScoped).toBe(true)
  })

  it('scopes a model without encrypted fields by its tenant column alone', () => {
    const t = build({ User: { fields: ['email'] }, Document: { fields: [], columns: { tenantId: 'orgId' } }, Customer: {} })
    expect(t.get('Document')).toMatchObject({ spec: undefined, tenantColumn: 'orgId', idField: 'id' })
    expect(t.get('Document')?.plan.required).toEqual(['orgId', 'id'])
    expect(t.get('Document')?.plan.updateManaged).toEqual(['orgId'])
    expect(t.get('Customer')?.tenantColumn).toBe('tenantId')
    expect(t.get('Team')?.tenantColumn).toBeUndefined()
    // Invoice points into the scope-only Customer: its foreign key is checked like any other.
    expect(t.get('Invoice')?.plan.foreignKeys.map((f) => [f.name, f.target])).toEqual([['customer', { name: 'Customer', tenantColumn: 'tenantId' }]])
    expect(t.get('Invoice')?.reachesScoped).toBe(true)
  })

  it('makes ids only for uuid defaults it can reproduce', () => {
    const makeId = table.get('Post')?.makeId
    expect(typeof makeId).toBe('function')
    const id = makeId?.() as string
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(makeId?.()).not.toBe(id)
    expect(table.get('User')?.makeId).toBeUndefined() // autoincrement
    expect(table.get('Document')?.makeId).toBeUndefined() // client-supplied
    expect(table.get('Team')?.makeId).toBeUndefined()
  })

  it('leaves a model unscoped when nothing leads to a scoped model', () => {
    const only = build({ Document: { fields: ['body'], columns: { tenantId: 'orgId' } } })
    expect(only.get('Team')?.reachesScoped).toBe(false)
    expect(only.get('User')?.reachesScoped).toBe(false)
    expect(only.get('Document')?.reachesScoped).toBe(true)
  })

  it('skips models whose config is undefined', () => {
    const t = build({ User: undefined, Post: { fields: ['title'] } })
    expect(t.get('User')?.spec).toBeUndefined()
    expect(t.get('Post')?.spec).toBeDefined()
  })
})

describe('buildModelTable: invalid configurations throw ConfigError naming model and field', () => {
  const cases: Array<[string, Record<string, unknown>, string[]]> = [
    ['unknown model', { Usr: { fields: ['email'] } }, ['Usr']],
    ['a model named like an Object.prototype member', { constructor: { fields: ['email'] } }, ['constructor']],
    ['a field named like an Object.prototype member', { User: { fields: ['toString'] } }, ['User', 'toString']],
    ['unknown field', { User: { fields: ['emial'] } }, ['User', 'emial']],
    ['unknown field with a type', { User: { fields: [{ name: 'settings', type: 'json' }] } }, ['User', 'settings']],
    ['encrypting the Int id of User', { User: { fields: ['id'] } }, ['User', 'id']],
    ['encrypting the String id of Post', { Post: { fields: ['id'] } }, ['Post', 'id']],
    ['encrypting a Boolean (Post.published)', { Post: { fields: ['published'] } }, ['Post', 'published', 'Boolean']],
    ['encrypting an Int (Post.authorId)', { Post: { fields: ['authorId'] } }, ['Post', 'authorId', 'Int']],
    ['encrypting a relation (User.team)', { User: { fields: ['team'] } }, ['User', 'team']],
    ['encrypting a list relation (User.posts)', { User: { fields: ['posts'] } }, ['User', 'posts']],
    ['encrypting the Bytes sidecar (User.wrappedDek)', { User: { fields: ['wrappedDek'] } }, ['User', 'wrappedDek']],
    ['a Bytes column declared to hold JSON', { User: { fields: [{ name: 'avatar', type: 'json' }] } }, ['User', 'avatar', 'Bytes']],
    ['a Json column declared to hold strings', { User: { fields: [{ name: 'prefs', type: 'string' }] } }, ['User', 'prefs', 'Json']],
    ['encrypting an Int column', { User: { fields: ['teamId'] } }, ['User', 'teamId', 'String, Json or Bytes']],
    ['missing sidecar column (Document has no tenantId)', { Document: { fields: ['body'] } }, ['Document', 'tenantId']],
    ['renamed sidecar that does not exist', { User: { fields: ['email'], columns: { keyVersion: 'kv' } } }, ['User', 'kv']],
    ['wrappedDek on a String column', { User: { fields: ['email'], columns: { wrappedDek: 'name' } } }, ['User', 'name', 'Bytes']],
    ['keyVersion on an Int column', { User: { fields: ['email'], columns: { keyVersion: 'teamId' } } }, ['User', 'teamId']],
    ['tenantId on an Int column', { Post: { fields: ['title'], columns: { tenantId: 'authorId' } } }, ['Post', 'authorId']],
    ['tenantId on a Boolean column', { Post: { fields: ['title'], columns: { tenantId: 'published' } } }, ['Post', 'published']],
    ['tenantId on the primary key', { Document: { fields: ['body'], columns: { tenantId: 'id' } } }, ['Document', 'id']],
    ['tenantId on a relation', { User: { fields: ['email'], columns: { tenantId: 'team' } } }, ['User', 'team']],
    ['a field both encrypted and a sidecar', { User: { fields: ['email'], columns: { tenantId: 'email' } } }, ['User', 'email']],
    ['one column for two sidecar roles', { User: { fields: ['email'], columns: { keyVersion: 'tenantId' } } }, ['User', 'tenantId']],
    ['an unknown value type', { User: { fields: [{ name: 'prefs', type: 'yaml' }] } }, ['User', 'prefs']],
    ['fields not an array', { User: { fields: 'email' } }, ['User']],
    ['a wrapped-key column on a model without encrypted fields', { User: { fields: [], columns: { wrappedDek: 'wrappedDek' } } }, ['User', 'wrappedDek']],
    ['migrating on a model without encrypted fields', { User: { migrating: true } }, ['User', 'migrating']],
    ['migrating with legacy ids on a model without encrypted fields', { User: { migrating: { legacyIds: () => true } } }, ['User', 'migrating']],
    ['migrating: true (the legacy rows must be named by id)', { User: { fields: ['email'], migrating: true } }, ['User', 'legacyIds', 'largest id at cutover']],
    ['migrating without legacyIds', { User: { fields: ['email'], migrating: {} } }, ['User', 'legacyIds']],
    ['migrating with legacyIds that is not a function', { User: { fields: ['email'], migrating: { legacyIds: [1, 2] } } }, ['User', 'legacyIds']],
    ['migrating as a string', { User: { fields: ['email'], migrating: 'yes' } }, ['User', 'migrating']],
    [
      'migrating on a model without a single-column primary key',
      { RowcryptTenantKey: { fields: ['kmsKeyId'], columns: { wrappedDek: 'wrappedKey' }, migrating: { legacyIds: () => true } } },
      ['RowcryptTenantKey', 'primary key'],
    ],
    ['a model without encrypted fields and without a tenant column', { Team: {} }, ['Team', 'tenantId']],
    ['settings that are not an object', { User: 'email' }, ['User']],
    ['a field listed twice', { User: { fields: ['email', 'email'] } }, ['User', 'email']],
  ]

  it.each(cases)('%s', (_name, models, mentions) => {
    const e = configError(() => build(models))
    for (const m of mentions) expect(e.message).toContain(m)
  })

  it.each<[string, Record<string, unknown>]>([
    ['an empty object', { schema: {} }],
    ['null', { schema: null }],
    ['undefined', { schema: undefined }],
    ['a string', { schema: 'prisma/schema.prisma' }],
    ['a future manifest version', { schema: { ...manifest, version: 2 } }],
    ['a manifest without models', { schema: { version: 1, provider: 'sqlite' } }],
    ['a Prisma DMMF datamodel', { schema: { models: [{ name: 'User', fields: [] }] } }],
  ])('rejects a schema that is %s', (_name, extra) => {
    configError(() => build(GOOD_MODELS, extra))
  })

  it.each<[string, Record<string, unknown>]>([
    ['missing', { keyProvider: undefined }],
    ['an empty object', { keyProvider: {} }],
    ['a string', { keyProvider: 'local' }],
  ])('rejects a keyProvider that is %s', (_name, extra) => {
    configError(() => build(GOOD_MODELS, extra))
  })

  it.each<[string, unknown]>([
    ['empty', {}],
    ['null', null],
    ['an array', []],
  ])('rejects models that are %s', (_name, models) => {
    configError(() => buildModelTable({ schema: manifest, keyProvider, models } as unknown as RowcryptOptions))
  })

  it('rejects missing options', () => {
    configError(() => buildModelTable(null as unknown as RowcryptOptions))
    configError(() => buildModelTable(undefined as unknown as RowcryptOptions))
  })

  it('never puts the key provider or key material into messages', () => {
    const e = configError(() => build({ Usr: { fields: ['email'] } }))
    expect(e.message).not.toContain(Buffer.alloc(32, 1).toString('base64'))
    expect(e.message).not.toContain(Buffer.alloc(32, 1).toString('hex'))
  })
})

describe('buildModelTable: searchable fields (blind indexes)', () => {
  const SEARCHABLE = { Customer: { fields: [{ name: 'email', searchable: true, normalize: 'lowercase-trim' }, { name: 'ssn', searchable: true, indexColumn: 'ssnIdx', indexBits: 12 }, 'phone'] } }
  const blindIndex = { keyVersion: 'v1' }

  it('records the index of each searchable field and which ones are unique per tenant', () => {
    const customer = build(SEARCHABLE, { blindIndex }).get('Customer')!
    const email = customer.spec!.fields.get('email')!
    expect(email.index).toMatchObject({ column: 'emailIndex', bits: 256 })
    expect(email.index!.normalize('  A@X.io ')).toBe('a@x.io')
    expect(customer.spec!.fields.get('ssn')!.index).toMatchObject({ column: 'ssnIdx', bits: 12 })
    expect(customer.spec!.fields.get('phone')!.index).toBeUndefined()
    expect(customer.spec!.indexed.map((f) => f.name)).toEqual(['email', 'ssn'])
    expect([...customer.indexUniques]).toEqual([['email', { key: 'tenantId_emailIndex', fields: ['tenantId', 'emailIndex'] }]])
  })

  it.each<[string, Record<string, unknown>, Record<string, unknown>, RegExp]>([
    ['no blindIndex.keyVersion', SEARCHABLE, {}, /blindIndex/],
    ['a missing index column', { Customer: { fields: [{ name: 'plan', searchable: true }] } }, { blindIndex }, /planIndex/],
    ['a truncated index with a unique constraint', { Customer: { fields: [{ name: 'email', searchable: true, indexBits: 64 }] } }, { blindIndex }, /truncated/],
    ['a searchable JSON field', { Customer: { fields: [{ name: 'email', type: 'json', searchable: true }] } }, { blindIndex }, /string/],
    ['indexBits out of range', { Customer: { fields: [{ name: 'email', searchable: true, indexBits: 4 }] } }, { blindIndex }, /indexBits/],
    ['an unknown normalizer', { Customer: { fields: [{ name: 'email', searchable: true, normalize: 'upper' }] } }, { blindIndex }, /normalize/],
    ['index options without searchable', { Customer: { fields: [{ name: 'email', indexColumn: 'emailIndex' }] } }, { blindIndex }, /searchable/],
    ['an index column that is encrypted', { Customer: { fields: [{ name: 'email', searchable: true, indexColumn: 'phone' }, 'phone'] } }, { blindIndex }, /index column/],
    ['blindIndex without a searchable field', GOOD_MODELS, { blindIndex }, /no field is searchable/],
    [
      'searchable fields in migrating mode (plaintext rows have no index)',
      { Customer: { fields: [{ name: 'email', searchable: true }], migrating: { legacyIds: () => true } } },
      { blindIndex },
      /migrating/,
    ],
  ])('refuses %s', (_name, models, extra, message) => {
    const build2 = () => (rowcrypt as unknown as (o: unknown) => unknown)({ schema: manifest, keyProvider, models, ...extra })
    expect(configError(build2).message).toMatch(message)
  })
})

describe('buildModelTable: migrating mode', () => {
  it('takes migrating: false and { legacyIds }, keeping the predicate on the spec', () => {
    expect(build({ User: { fields: ['email'], migrating: false } }).get('User')!.spec).toMatchObject({ migrating: false })
    const legacyIds = (id: string | number | bigint) => Number(id) <= 10
    const spec = build({ User: { fields: ['email'], migrating: { legacyIds } } }).get('User')!.spec!
    expect(spec).toMatchObject({ migrating: true, idField: 'id' })
    expect(spec.legacyIds).toBe(legacyIds)
  })
})

describe('buildModelTable: row binding (requireRowBinding)', () => {
  const ID_MODELS = Object.fromEntries(['IdCuid', 'IdCuid2', 'IdUlid', 'IdNanoid', 'IdNanoid10', 'IdUuid7'].map((m) => [m, { fields: ['secret', 'note'] }]))
  const field = (type: string, extra: Record<string, unknown> = {}) => ({ kind: 'scalar' as const, type, isList: false, isRequired: true, isId: false, ...extra })
  // One scoped model, its id as `id` (or a composite key), for the id kinds the test schema cannot hold on every database.
  const oneModel = (id: Record<string, unknown> | undefined, primaryKey = ['id']): Manifest => ({
    version: 1,
    provider: 'postgresql',
    models: {
      Thing: {
        primaryKey,
        fields: {
          ...(id === undefined ? { a: field('String'), b: field('Int') } : { id: field('String', { isId: true, ...id }) }),
          secret: field('String'),
          wrappedDek: field('Bytes', { isRequired: false }),
          keyVersion: field('String', { isRequired: false }),
          tenantId: field('String'),
        },
      },
    },
  })
  const thing = (schema: Manifest, extra: Record<string, unknown> = {}) => buildModelTable({ schema, keyProvider, models: { Thing: { fields: ['secret'] } }, ...extra } as unknown as RowcryptOptions)

  it('tells each model with encrypted fields how its rows are bound', () => {
    const t = build({ ...GOOD_MODELS, ...ID_MODELS, Team: undefined })
    expect(Object.fromEntries([...t.values()].filter((m) => m.spec !== undefined).map((m) => [m.name, m.rowBinding]))).toEqual({
      User: 'unbound', // autoincrement
      Post: 'generated',
      Document: 'supplied',
      IdCuid: 'generated',
      IdCuid2: 'generated',
      IdUlid: 'generated',
      IdNanoid: 'generated',
      IdNanoid10: 'generated',
      IdUuid7: 'generated',
    })
    expect(t.get('IdNanoid10')?.makeId?.()).toMatch(/^[A-Za-z0-9_-]{10}$/)
    expect(t.get('IdCuid2')?.makeId?.()).toMatch(/^[a-z][0-9a-z]{23}$/)
    expect(t.get('Team')?.rowBinding).toBeUndefined()
    expect(t.get('Post')?.requireRowBinding).toBe(false)
  })

  it('accepts every model whose rows are all bound: generated and supplied ids', () => {
    const t = build({ Post: { fields: ['title'] }, Document: { fields: ['body'], columns: { tenantId: 'orgId' } }, ...ID_MODELS, Team: undefined }, { requireRowBinding: true })
    expect([...t.values()].filter((m) => m.requireRowBinding).map((m) => m.name)).toEqual(['Post', 'Document', 'IdCuid', 'IdCuid2', 'IdUlid', 'IdNanoid', 'IdNanoid10', 'IdUuid7'])
    expect(thing(oneModel({}), { requireRowBinding: true }).get('Thing')?.rowBinding).toBe('supplied')
    expect(thing(oneModel({ default: 'uuid', defaultArgs: [] }), { requireRowBinding: true }).get('Thing')?.rowBinding).toBe('generated')
  })

  it('refuses an autoincrement id, naming the model and the fix', () => {
    const e = configError(() => build(GOOD_MODELS, { requireRowBinding: true }))
    expect(e.message).toContain('model User')
    expect(e.message).toContain('autoincrement')
    expect(e.message).toContain('@default(uuid(7))')
    expect(e.message).toContain('cuid(2)')
    expect(e.message).toContain('supply ids')
    // Per model, on its own or overriding the top-level option either way.
    expect(configError(() => build({ User: { fields: ['email'], requireRowBinding: true } })).message).toContain('model User')
    expect(build({ User: { fields: ['email'], requireRowBinding: false }, Post: { fields: ['title'] } }, { requireRowBinding: true }).get('User')?.requireRowBinding).toBe(false)
    expect(build({ User: { fields: ['email'] } }, { requireRowBinding: false }).get('User')?.rowBinding).toBe('unbound')
  })

  it.each([
    ['dbgenerated', { default: 'dbgenerated', defaultArgs: ['gen_random_uuid()'] }, 'dbgenerated'],
    ['sequence', { type: 'Int', default: 'sequence', defaultArgs: [] }, 'sequence'],
    ['an unknown uuid version', { default: 'uuid', defaultArgs: [5] }, 'uuid(5)'],
    ['a composite primary key', undefined, 'composite primary key (a, b)'],
  ])('refuses %s', (_what, id, said) => {
    const schema = oneModel(id, id === undefined ? ['a', 'b'] : ['id'])
    expect(thing(schema).get('Thing')?.rowBinding).toBe('unbound')
    const e = configError(() => thing(schema, { requireRowBinding: true }))
    expect(e.message).toContain('model Thing')
    expect(e.message).toContain(said)
  })

  it('takes only booleans, and only on models with encrypted fields', () => {
    configError(() => build(GOOD_MODELS, { requireRowBinding: 'yes' }))
    configError(() => build({ Post: { fields: ['title'], requireRowBinding: 1 } }))
    expect(configError(() => build({ Team: undefined, User: {}, Post: { fields: ['title'] }, Customer: { requireRowBinding: true } })).message).toContain('Customer')
    expect(build({ User: {}, Post: { fields: ['title'] } }, { requireRowBinding: true }).get('User')?.requireRowBinding).toBe(false)
  })
})

describe('buildModelTable: managed columns that are foreign keys', () => {
  const withTenantRelation = (fk: string): Manifest => ({
    version: 1,
    provider: 'sqlite',
    models: {
      Tenant: { primaryKey: ['id'], fields: { id: { kind: 'scalar', type: 'String', isList: false, isRequired: true, isId: true } } },
      Note: {
        primaryKey: ['id'],
        fields: {
          id: { kind: 'scalar', type: 'String', isList: false, isRequired: true, isId: true },
          body: { kind: 'scalar', type: 'String', isList: false, isRequired: true, isId: false },
          wrappedDek: { kind: 'scalar', type: 'Bytes', isList: false, isRequired: false, isId: false },
          keyVersion: { kind: 'scalar', type: 'String', isList: false, isRequired: false, isId: false },
          tenantId: { kind: 'scalar', type: 'String', isList: false, isRequired: true, isId: false },
          tenant: { kind: 'object', type: 'Tenant', isList: false, isRequired: true, isId: false, relationFromFields: [fk], relationToFields: ['id'] },
        },
      },
    },
  })

  it.each(['tenantId', 'id'])('refuses %s as the foreign key of a relation (it could be rewritten through it)', (fk) => {
    let caught: unknown
    try {
      buildModelTable({ schema: withTenantRelation(fk), keyProvider, models: { Note: { fields: ['body'] } } } as unknown as RowcryptOptions)
    } catch (e) {
      caught = e
    }
    expect(caught).toBeInstanceOf(ConfigError)
    expect((caught as ConfigError).message).toContain(fk)
  })
})

describe('buildModelTable: per-model plans (built once, looked up per call)', () => {
  const table = build(GOOD_MODELS)

  it('lists the columns a decryption needs, as a list and as frozen selects', () => {
    const user = table.get('User')!.plan
    expect(user.required).toEqual(['wrappedDek', 'keyVersion', 'tenantId', 'id'])
    expect(user.requiredSelect).toEqual({ wrappedDek: true, keyVersion: true, tenantId: true, id: true })
    expect(user.migratingSelect).toEqual({ wrappedDek: true, keyVersion: true, tenantId: true, id: true, email: true, ssn: true, notes: true, prefs: true, avatar: true })
    expect(table.get('Document')!.plan.required).toEqual(['wrappedDek', 'keyVersion', 'orgId', 'id'])
    expect(table.get('Team')!.plan.required).toEqual([])
    for (const o of [user, user.required, user.requiredSelect, user.migratingSelect, user.fields, user.foreignKeys, user.createManaged, user.updateManaged]) expect(Object.isFrozen(o)).toBe(true)
  })

  it('lists the managed columns a create or an update may not set', () => {
    const user = table.get('User')!.plan
    expect(user.createManaged).toEqual(['wrappedDek', 'keyVersion'])
    expect(user.updateManaged).toEqual(['wrappedDek', 'keyVersion', 'tenantId', 'id'])
    const customer = build({ Customer: { fields: [{ name: 'email', searchable: true }] } }, { blindIndex: { keyVersion: 'i1' } }).get('Customer')!.plan
    expect(customer.createManaged).toEqual(['wrappedDek', 'keyVersion', 'emailIndex'])
    expect(customer.updateManaged).toEqual(['wrappedDek', 'keyVersion', 'tenantId', 'emailIndex', 'id'])
  })

  it('lists the encrypted fields in order and the list relations', () => {
    expect(table.get('User')!.plan.fields.map((f) => f.name)).toEqual(['email', 'ssn', 'notes', 'prefs', 'avatar'])
    expect(table.get('User')!.plan.listRelations).toEqual(['posts'])
    expect(table.get('Team')!.plan.listRelations).toEqual(['members'])
  })

  it('lists the foreign keys that point at a scoped model, for scoped and unscoped models alike', () => {
    // Post -> User (scoped): checked; User -> Team (unscoped): not.
    expect(table.get('Post')!.plan.foreignKeys.map((f) => [f.name, f.target.name, f.relation.fromFields])).toEqual([['author', 'User', ['authorId']]])
    expect(table.get('User')!.plan.foreignKeys).toEqual([])
    // With Post left unscoped, its foreign key into the scoped User is still checked.
    const userOnly = build({ User: { fields: ['email'] } })
    expect(userOnly.get('Post')!.spec).toBeUndefined()
    expect(userOnly.get('Post')!.plan.foreignKeys.map((f) => f.name)).toEqual(['author'])
    // Invoice -> Customer: only when Customer is scoped.
    expect(table.get('Invoice')!.plan.foreignKeys).toEqual([])
  })
})

describe('rowcrypt() from the public entry point', () => {
  it('accepts a valid configuration without a client', () => {
    expect(() =>
      rowcrypt({ schema: manifest, keyProvider, models: { User: { fields: ['email', { name: 'prefs', type: 'json' }] }, Document: { fields: ['body'], columns: { tenantId: 'orgId' } } } }),
    ).not.toThrow()
  })

  it('takes a models map kept in its own constant through defineModels, checked against the schema', () => {
    const models = defineModels(manifest, {
      User: { fields: ['email', 'prefs', 'avatar', { name: 'ssn', searchable: false }] },
      Document: { fields: ['body'], columns: { tenantId: 'orgId' } },
      Customer: {},
    })
    expect(models.User.fields[1]).toBe('prefs')
    expect(() => rowcrypt({ schema: manifest, keyProvider, models })).not.toThrow()
    // @ts-expect-error emial is not a field of User
    expect(defineModels(manifest, { User: { fields: ['emial'] } })).toBeDefined()
    // @ts-expect-error Usr is not a model of the schema
    expect(defineModels(manifest, { Usr: {} })).toBeDefined()
    // Without it, a constant's field names widen to string[] and rowcrypt() refuses it.
    const loose = { User: { fields: ['email'] } }
    // @ts-expect-error string[] is not a list of User's fields
    expect(() => rowcrypt({ schema: manifest, keyProvider, models: loose })).not.toThrow()
  })

  it('throws ConfigError at construction for an unknown model (also a type error)', () => {
    configError(() =>
      rowcrypt({
        schema: manifest,
        keyProvider,
        // @ts-expect-error Usr is not a model of the schema
        models: { Usr: { fields: ['email'] } },
      }),
    )
  })

  it('throws ConfigError at construction for an unknown or non-String field (also a type error)', () => {
    // @ts-expect-error emial is not a field of User
    configError(() => rowcrypt({ schema: manifest, keyProvider, models: { User: { fields: ['emial'] } } }))
    // @ts-expect-error published is a Boolean, not a String column
    configError(() => rowcrypt({ schema: manifest, keyProvider, models: { Post: { fields: ['published'] } } }))
  })

  it('throws ConfigError at construction for a missing or mistyped sidecar column', () => {
    configError(() => rowcrypt({ schema: manifest, keyProvider, models: { Document: { fields: ['body'] } } }))
    // @ts-expect-error name is a String column, wrappedDek needs Bytes
    configError(() => rowcrypt({ schema: manifest, keyProvider, models: { User: { fields: ['email'], columns: { wrappedDek: 'name' } } } }))
  })

  it('throws ConfigError at construction without a keyProvider or a manifest', () => {
    configError(() => rowcrypt({ schema: manifest, models: { User: { fields: ['email'] } } } as never))
    configError(() => rowcrypt({ schema: { models: {} }, keyProvider, models: { User: { fields: ['email'] } } } as never))
  })
})

describe('manifestFromDatamodel / renderManifest', () => {
  const scalar = (name: string, type: string, extra: Partial<DmmfLikeDatamodel['models'][number]['fields'][number]> = {}) => ({
    name,
    kind: 'scalar',
    type,
    isList: false,
    isRequired: true,
    isId: false,
    ...extra,
  })

  const datamodel: DmmfLikeDatamodel = {
    models: [
      {
        name: 'Account',
        primaryKey: null,
        fields: [
          scalar('id', 'String', { isId: true, default: { name: 'uuid', args: [7] } }),
          scalar('email', 'String'),
          scalar('nickname', 'String', { isRequired: false, default: 'anon' }),
          scalar('tags', 'String', { isList: true }),
          scalar('seq', 'Int', { default: { name: 'autoincrement', args: [] } }),
          scalar('createdAt', 'DateTime', { default: { name: 'now' } }),
          scalar('active', 'Boolean', { default: false }),
          scalar('blob', 'Bytes', { isRequired: false }),
          { name: 'role', kind: 'enum', type: 'Role', isList: false, isRequired: true, isId: false, default: 'USER' },
          { name: 'memberships', kind: 'object', type: 'Membership', isList: true, isRequired: true, isId: false },
        ],
      },
      {
        name: 'Membership',
        primaryKey: { fields: ['accountId', 'groupId'] },
        fields: [scalar('accountId', 'String'), scalar('groupId', 'Int'), { name: 'account', kind: 'object', type: 'Account', isList: false, isRequired: true, isId: false }],
      },
      { name: 'Log', primaryKey: null, fields: [scalar('line', 'String', { default: null })] },
    ],
  }

  const m = manifestFromDatamodel(datamodel, 'postgresql')

  it('records version, provider, fields, defaults and primary keys', () => {
    expect(m.version).toBe(1)
    expect(m.provider).toBe('postgresql')
    expect(Object.keys(m.models)).toEqual(['Account', 'Membership', 'Log'])
    const a = m.models.Account
    expect(a?.primaryKey).toEqual(['id'])
    expect(a?.fields.id).toEqual({ kind: 'scalar', type: 'String', isList: false, isRequired: true, isId: true, default: 'uuid', defaultArgs: [7] })
    expect(a?.fields.email).toEqual({ kind: 'scalar', type: 'String', isList: false, isRequired: true, isId: false })
    expect(a?.fields.nickname).toEqual({ kind: 'scalar', type: 'String', isList: false, isRequired: false, isId: false })
    expect(a?.fields.tags?.isList).toBe(true)
    expect(a?.fields.seq).toMatchObject({ default: 'autoincrement', defaultArgs: [] })
    expect(a?.fields.createdAt).toMatchObject({ default: 'now', defaultArgs: [] })
    expect(a?.fields.active && 'default' in a.fields.active).toBe(false)
    expect(a?.fields.role).toEqual({ kind: 'enum', type: 'Role', isList: false, isRequired: true, isId: false })
    expect(a?.fields.memberships).toEqual({ kind: 'object', type: 'Membership', isList: true, isRequired: true, isId: false })
    expect(m.models.Membership?.primaryKey).toEqual(['accountId', 'groupId'])
    expect(m.models.Log?.primaryKey).toEqual([])
    expect(m.models.Log?.fields.line && 'default' in m.models.Log.fields.line).toBe(false)
  })

  it('drives buildModelTable: uuid(7) ids, compound keys without an id field', () => {
    const patched: Manifest = {
      ...m,
      models: {
        ...m.models,
        Account: {
          ...(m.models.Account as Manifest['models'][string]),
          fields: {
            ...(m.models.Account as Manifest['models'][string]).fields,
            wrappedDek: { kind: 'scalar', type: 'Bytes', isList: false, isRequired: false, isId: false },
            keyVersion: { kind: 'scalar', type: 'String', isList: false, isRequired: false, isId: false },
            tenantId: { kind: 'scalar', type: 'String', isList: false, isRequired: true, isId: false },
          },
        },
      },
    }
    const t = buildModelTable({ schema: patched, keyProvider, models: { Account: { fields: ['email'] } } } as unknown as RowcryptOptions)
    const id = t.get('Account')?.makeId?.()
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(t.get('Membership')?.reachesScoped).toBe(true)
    expect(t.get('Log')?.reachesScoped).toBe(false)
    // A tags list of String is not a String column.
    const e = configError(() => buildModelTable({ schema: patched, keyProvider, models: { Account: { fields: ['tags'] } } } as unknown as RowcryptOptions))
    expect(e.message).toContain('tags')
  })

  const CJS = { moduleFormat: 'cjs', extension: 'js' } as const
  const ESM = { moduleFormat: 'esm', extension: 'js' } as const

  it('renders a CommonJS module that evaluates to the manifest, typed as CommonJS by its package.json', () => {
    const files = renderManifest(m, CJS)
    expect(Object.keys(files).sort()).toEqual(['index.d.ts', 'index.js', 'package.json'])
    const sandbox = { exports: {} as Record<string, unknown> }
    runInNewContext(files['index.js']!, sandbox)
    expect(JSON.parse(JSON.stringify(sandbox.exports.manifest))).toEqual(m)
    expect(files['index.js']).toContain('"use strict"')
    expect(files['index.js']!.startsWith('// Generated by rowcrypt-generator')).toBe(true)
    expect(JSON.parse(files['package.json']!)).toEqual({ type: 'commonjs' })
  })

  it('renders an ES module with the same manifest, typed as ESM by its package.json', () => {
    const files = renderManifest(m, ESM)
    expect(Object.keys(files).sort()).toEqual(['index.d.ts', 'index.js', 'package.json'])
    const match = /^\/\/ Generated by rowcrypt-generator[^\n]*\nexport const manifest = ([\s\S]*);\n$/.exec(files['index.js']!)
    expect(JSON.parse(match![1]!)).toEqual(m)
    expect(files['index.js']).not.toMatch(/exports\.|"use strict"/)
    expect(JSON.parse(files['package.json']!)).toEqual({ type: 'module' })
    expect(files['index.d.ts']).toBe(renderManifest(m, CJS)['index.d.ts'])
  })

  it('renders one TypeScript module with a literal (as const) manifest for generatedFileExtension "ts"', () => {
    for (const moduleFormat of ['esm', 'cjs'] as const) {
      const files = renderManifest(m, { moduleFormat, extension: 'ts' })
      expect(Object.keys(files)).toEqual(['index.ts'])
      const match = /^\/\/ Generated by rowcrypt-generator[^\n]*\nexport const manifest = ([\s\S]*) as const\n$/.exec(files['index.ts']!)
      expect(JSON.parse(match![1]!)).toEqual(m)
    }
  })

  it('renders a literal-typed declaration', () => {
    const dts = renderManifest(m, ESM)['index.d.ts']!
    expect(dts.startsWith('// Generated by rowcrypt-generator')).toBe(true)
    const match = /export declare const manifest: ([\s\S]*);\n$/.exec(dts)
    expect(match).not.toBeNull()
    expect(JSON.parse(match?.[1] as string)).toEqual(m)
  })

  it('is what the generator wrote for the sqlite schema (CommonJS, as its prisma-client block asks)', () => {
    const dir = join(__dirname, '..', '..', '..', 'generated', 'sqlite', 'rowcrypt')
    const files = renderManifest(manifest as unknown as Manifest, CJS)
    for (const name of ['index.js', 'index.d.ts', 'package.json']) expect([name, readFileSync(join(dir, name), 'utf8')]).toEqual([name, files[name]])
    expect(manifest.provider).toBe('sqlite')
  })
})

describe('views', () => {
  const scalar = (type: string) => ({ kind: 'scalar' as const, type, isList: false, isRequired: false, isId: false })
  const viewFields = { id: scalar('Int'), name: scalar('String'), email: scalar('String'), wrappedDek: scalar('Bytes'), keyVersion: scalar('String'), tenantId: scalar('String') }
  const withViews: Manifest = {
    ...manifest,
    models: {
      ...manifest.models,
      UserView: { fields: viewFields, primaryKey: [], isView: true },
      Stats: { fields: { tenantId: scalar('String'), total: scalar('Int') }, primaryKey: [], isView: true },
      Totals: { fields: { total: scalar('Int') }, primaryKey: [], isView: true },
    },
  }
  const buildWith = (models: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    buildModelTable({ schema: withViews, keyProvider, models, unscopedViews: ['Stats'], ...extra } as unknown as RowcryptOptions)

  it('a declared view is confined and decrypted as its model, and read-only', () => {
    const t = buildWith({ User: { fields: ['email'] }, UserView: { viewOf: 'User' } })
    const view = t.get('UserView')!
    expect(view.viewOf).toBe('User')
    expect(view.spec).toBe(t.get('User')!.spec)
    expect(view.tenantColumn).toBe('tenantId')
    expect(view.plan.required).toEqual(['wrappedDek', 'keyVersion', 'tenantId', 'id'])
    expect(t.get('Totals')?.tenantColumn).toBeUndefined()
  })

  it.each([
    ['an undeclared view with a tenant column', { User: { fields: ['email'] } }, {}, ['UserView']],
    ['a view of a model that is not scoped', { User: { fields: ['email'] }, UserView: { viewOf: 'Team' } }, {}, ['UserView', 'Team']],
    ['viewOf on a table', { User: { fields: ['email'] }, Post: { viewOf: 'User' }, UserView: { viewOf: 'User' } }, {}, ['Post']],
    ['a view with settings of its own', { User: { fields: ['email'] }, UserView: { viewOf: 'User', fields: ['email'] } }, {}, ['UserView']],
    ['a view without a column its model needs', { Document: { fields: ['body'], columns: { tenantId: 'orgId' } }, UserView: { viewOf: 'Document' } }, {}, ['UserView', 'orgId']],
    ['Stats no longer listed as unscoped', { User: { fields: ['email'] }, UserView: { viewOf: 'User' } }, { unscopedViews: [] }, ['Stats']],
  ])('refuses %s', (_name, models, extra, mentions) => {
    const e = configError(() => buildWith(models, extra))
    for (const m of mentions) expect(e.message).toContain(m)
  })

  it('the generator tells views from tables by the schema text', () => {
    expect([...viewNames('model User {\n id Int @id\n}\nview UserView {\n  id Int @unique\n}\n// view Old {\n  view   Other{\n}')]).toEqual(['UserView', 'Other'])
    const dm: DmmfLikeDatamodel = { models: [{ name: 'V', primaryKey: null, fields: [{ name: 'id', kind: 'scalar', type: 'Int', isList: false, isRequired: true, isId: false }] }] }
    expect(manifestFromDatamodel(dm, 'sqlite', new Set(['V'])).models.V!.isView).toBe(true)
    expect(manifestFromDatamodel(dm, 'sqlite').models.V!.isView).toBeUndefined()
  })
})
