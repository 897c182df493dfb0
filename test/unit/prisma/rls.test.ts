// RLS options and the policy SQL of `rowcrypt rls sql`: pure, checked without a database (the
// policies are applied and exercised on PostgreSQL in test/integration/rls.test.ts).
import { manifest as postgresManifest } from '../../../generated/postgres/rowcrypt'
import { manifest as sqliteManifest } from '../../../generated/sqlite/rowcrypt'
import { manifest as mysqlManifest } from '../../../generated/mysql/rowcrypt'
import { LocalKeyProvider, rlsPolicySql, rowcrypt, type RowcryptOptions } from '../../../src'
import { manifestFromDatamodel, type Manifest } from '../../../src/prisma/manifest'
import { pinRequestSql, resolveRls, sessionPinSql, settingStatement, settingValues } from '../../../src/prisma/rls'

const keyProvider = new LocalKeyProvider({ keys: { v1: Buffer.alloc(32, 1) }, activeVersion: 'v1' })
const MODELS = { User: {}, Post: {}, Document: { columns: { tenantId: 'orgId' } } }

function code(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (e) {
    return (e as { code?: string }).code
  }
  return undefined
}

describe('rowcrypt({ rls })', () => {
  it.each([
    ['sqlite', sqliteManifest],
    ['mysql', mysqlManifest],
  ] as const)('is refused on %s with ERR_ROWCRYPT_CONFIG; rls: false is accepted there', (_, manifest) => {
    expect(code(() => rowcrypt({ schema: manifest, keyProvider, models: { User: { fields: ['email'] } }, rls: true }))).toBe('ERR_ROWCRYPT_CONFIG')
    expect(code(() => rowcrypt({ schema: manifest, keyProvider, models: { User: { fields: ['email'] } }, rls: false }))).toBeUndefined()
  })

  it('is accepted on PostgreSQL, with defaults or named settings', () => {
    expect(code(() => rowcrypt({ schema: postgresManifest, keyProvider, models: { User: { fields: ['email'] } }, rls: true }))).toBeUndefined()
    const noLimit = { maxWait: 2_147_483_647, timeout: 2_147_483_647 }
    expect(resolveRls(true, postgresManifest)).toEqual({ tenantSetting: 'app.tenant_id', adminSetting: 'app.rowcrypt_admin', transactionOptions: noLimit, pinning: 'auto' })
    // Without pinning, the adapter decides (adapter pinning when it is wrapped); given, it stays.
    expect(resolveRls({ pinning: 'transaction' }, postgresManifest)?.pinning).toBe('transaction')
    expect(resolveRls({ tenantSetting: 'acme.org', adminSetting: false, transactionOptions: { timeout: 30_000 }, pinning: 'adapter' }, postgresManifest)).toEqual({
      tenantSetting: 'acme.org',
      adminSetting: undefined,
      transactionOptions: { maxWait: 2_147_483_647, timeout: 30_000 },
      pinning: 'adapter',
    })
    expect(resolveRls(undefined, sqliteManifest)).toBeUndefined()
  })

  it.each([
    ['a string', 'yes'],
    ['a setting without a dot', { tenantSetting: 'tenant' }],
    ['a setting with a quote', { tenantSetting: "app.x'; DROP TABLE x; --" }],
    ['an upper-case setting', { adminSetting: 'App.Admin' }],
    ['the same name twice', { tenantSetting: 'app.t', adminSetting: 'app.t' }],
    ['a zero timeout', { transactionOptions: { timeout: 0 } }],
    ['an endless maxWait', { transactionOptions: { maxWait: Infinity } }],
    ['an unknown pinning', { pinning: 'session' }],
    ["the internal 'auto' pinning", { pinning: 'auto' }],
  ])('refuses %s with ERR_ROWCRYPT_CONFIG', (_, rls) => {
    expect(code(() => resolveRls(rls, postgresManifest))).toBe('ERR_ROWCRYPT_CONFIG')
    expect(code(() => rowcrypt({ schema: postgresManifest, keyProvider, models: { User: { fields: ['email'] } }, rls: rls as never }))).toBe('ERR_ROWCRYPT_CONFIG')
  })

  it('pins the tenant, nothing outside a tenant, and the admin setting only inside the bypass', () => {
    const s = resolveRls(true, postgresManifest)!
    expect(settingStatement(s, 'acme', false)).toEqual({ sql: 'SELECT set_config($1, $2, true), set_config($3, $4, true)', values: ['app.tenant_id', 'acme', 'app.rowcrypt_admin', ''], key: 't:acme' })
    expect(settingStatement(s, undefined, false).values).toEqual(['app.tenant_id', '', 'app.rowcrypt_admin', ''])
    expect(settingStatement(s, undefined, true).values).toEqual(['app.tenant_id', '', 'app.rowcrypt_admin', 'on'])
    expect(settingStatement(s, undefined, true).key).not.toBe(settingStatement(s, undefined, false).key)
    const noAdmin = resolveRls({ adminSetting: false }, postgresManifest)!
    expect(settingStatement(noAdmin, undefined, true)).toEqual({ sql: 'SELECT set_config($1, $2, true)', values: ['app.tenant_id', ''], key: 't:' })
  })

  it('pins for the session what a transaction pin sets for the transaction; pin requests differ per mode and from every other statement', () => {
    const s = resolveRls({ pinning: 'adapter' }, postgresManifest)!
    expect(settingValues(s, 'acme', false)).toEqual({ values: settingStatement(s, 'acme', false).values, key: 't:acme' })
    expect(sessionPinSql(s)).toBe('SELECT set_config($1, $2, false), set_config($3, $4, false)')
    expect(sessionPinSql(resolveRls({ adminSetting: false }, postgresManifest)!)).toBe('SELECT set_config($1, $2, false)')
    const requests = (['statement', 'raw', 'batch'] as const).map((m) => pinRequestSql(s, m))
    expect(new Set(requests).size).toBe(3)
    for (const r of requests) {
      expect(r.startsWith(sessionPinSql(s))).toBe(true)
      expect(r).not.toBe(sessionPinSql(s))
    }
  })
})

describe('rlsPolicySql', () => {
  it('enables, forces and writes one policy per scoped model on its tenant column', () => {
    const sql = rlsPolicySql({ schema: postgresManifest, models: MODELS, rls: true })
    const check = (col: string) => `current_setting('app.rowcrypt_admin', true) = 'on' OR "${col}" = NULLIF(current_setting('app.tenant_id', true), '')`
    expect(sql).toContain(
      [
        'ALTER TABLE "Document" ENABLE ROW LEVEL SECURITY;',
        'ALTER TABLE "Document" FORCE ROW LEVEL SECURITY;',
        'DROP POLICY IF EXISTS rowcrypt_tenant_isolation ON "Document";',
        'CREATE POLICY rowcrypt_tenant_isolation ON "Document"',
        `  USING (${check('orgId')})`,
        `  WITH CHECK (${check('orgId')});`,
      ].join('\n'),
    )
    for (const table of ['User', 'Post']) {
      expect(sql).toContain(`ALTER TABLE "${table}" FORCE ROW LEVEL SECURITY;`)
      expect(sql).toContain(`CREATE POLICY rowcrypt_tenant_isolation ON "${table}"\n  USING (${check('tenantId')})\n  WITH CHECK (${check('tenantId')});`)
    }
    expect(sql).not.toMatch(/"Team"|RowcryptTenantKey/)
    expect(sql.match(/CREATE POLICY/g)).toHaveLength(3)
    expect(rlsPolicySql({ schema: postgresManifest, models: MODELS })).toBe(sql)
  })

  it('uses table and column names of @@map / @map, @@schema, and qualifies with dbSchema', () => {
    const m = manifestFromDatamodel(
      {
        models: [
          {
            name: 'Account',
            dbName: 'accounts',
            schema: null,
            primaryKey: null,
            fields: [
              { name: 'id', kind: 'scalar', type: 'String', isList: false, isRequired: true, isId: true },
              { name: 'orgId', dbName: 'org_id', kind: 'scalar', type: 'String', isList: false, isRequired: true, isId: false },
            ],
          },
          { name: 'Invoice', dbName: null, schema: 'billing', primaryKey: null, fields: [{ name: 'tenantId', kind: 'scalar', type: 'String', isList: false, isRequired: true, isId: false }] },
        ],
      },
      'postgresql',
    )
    expect(m.models.Account).toMatchObject({ dbName: 'accounts', fields: { orgId: { dbName: 'org_id' } } })
    expect(m.models.Account && 'schema' in m.models.Account).toBe(false)
    expect(m.models.Invoice).toMatchObject({ schema: 'billing' })
    const sql = rlsPolicySql({ schema: m, models: { Account: { columns: { tenantId: 'orgId' } }, Invoice: {} } }, { dbSchema: 'app"s' })
    expect(sql).toContain('ALTER TABLE "app""s"."accounts" ENABLE ROW LEVEL SECURITY;')
    expect(sql).toContain(`"org_id" = NULLIF(current_setting('app.tenant_id', true), '')`)
    expect(sql).toContain('ALTER TABLE "billing"."Invoice" FORCE ROW LEVEL SECURITY;')
  })

  it('takes the very options object passed to rowcrypt()', () => {
    const options: RowcryptOptions<typeof postgresManifest> = {
      schema: postgresManifest,
      keyProvider,
      models: { User: { fields: ['email'] }, Document: { fields: ['body'], columns: { tenantId: 'orgId' } } },
      rls: { tenantSetting: 'app.org' },
    }
    const sql = rlsPolicySql(options)
    expect(sql).toContain(`"orgId" = NULLIF(current_setting('app.org', true), '')`)
    expect(sql.match(/CREATE POLICY/g)).toHaveLength(2)
  })

  it('with named settings, and without an admin clause when adminSetting is false', () => {
    const sql = rlsPolicySql({ schema: postgresManifest, models: { User: {} }, rls: { tenantSetting: 'acme.org_id', adminSetting: false } })
    expect(sql).toContain(`USING ("tenantId" = NULLIF(current_setting('acme.org_id', true), ''))`)
    expect(sql).not.toContain('rowcrypt_admin')
  })

  it.each([
    ['a SQLite schema', { schema: sqliteManifest, models: MODELS }],
    ['an unknown model', { schema: postgresManifest, models: { Usr: {} } }],
    ['a tenant column that does not exist', { schema: postgresManifest, models: { User: { columns: { tenantId: 'orgId' } } } }],
    ['a tenant column that is not a String', { schema: postgresManifest, models: { User: { columns: { tenantId: 'wrappedDek' } } } }],
    ['no models', { schema: postgresManifest, models: {} }],
    ['no manifest', { schema: { models: {} } as unknown as Manifest, models: MODELS }],
  ])('refuses %s with ERR_ROWCRYPT_CONFIG', (_, source) => {
    expect(code(() => rlsPolicySql(source))).toBe('ERR_ROWCRYPT_CONFIG')
  })
})
