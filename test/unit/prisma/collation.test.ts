// The pure parts of the tenant-column collation check (src/prisma/collation.ts): the canonical
// tenant-id form, the tenant ids a call names, the per-database rules, SQLite's CREATE TABLE
// parsing, the check's handling of catalog rows (on stand-in query functions) and the gate that runs
// it once. The databases themselves: test/integration/tenant-collation.test.ts.
import { ConfigError, InvalidTenantError, TenantCollationError } from '../../../src/errors'
import {
  assertCanonicalTenantId,
  checkTenantCollations,
  CollationGate,
  detectProvider,
  isCanonicalTenantId,
  mysqlBinaryCollation,
  mysqlColumnRisk,
  mysqlFix,
  parseSqliteColumns,
  postgresColumnRisk,
  resolveTenantIdMode,
  sqliteAffinity,
  sqliteColumnRisk,
  sqliteTokens,
  tenantCollationError,
  tenantColumnsOf,
  tenantIdsInArgs,
  type RawQuery,
  type TenantColumn,
} from '../../../src/prisma/collation'
import type { Manifest, ManifestField } from '../../../src/prisma/manifest'

const scalar = (type: string, extra: Partial<ManifestField> = {}): ManifestField => ({ kind: 'scalar', type, isList: false, isRequired: true, isId: false, ...extra })
const relation = (type: string, isList: boolean, extra: Partial<ManifestField> = {}): ManifestField => ({ kind: 'object', type, isList, isRequired: false, isId: false, ...extra })

const manifest: Manifest = {
  version: 1,
  provider: 'mysql',
  models: {
    User: {
      primaryKey: ['id'],
      dbName: 'users',
      fields: {
        id: scalar('Int', { isId: true }),
        tenantId: scalar('String', { dbName: 'tenant_id' }),
        prefs: scalar('Json'),
        posts: relation('Post', true),
        team: relation('Team', false, { relationFromFields: ['teamId'], relationToFields: ['id'] }),
        teamId: scalar('Int'),
      },
    },
    Post: {
      primaryKey: ['id'],
      fields: {
        id: scalar('String', { isId: true }),
        tenantId: scalar('String'),
        author: relation('User', false, { relationFromFields: ['authorId'], relationToFields: ['id'] }),
        authorId: scalar('Int'),
      },
    },
    Document: { primaryKey: ['id'], schema: 'docs', fields: { id: scalar('String', { isId: true }), orgId: scalar('String') } },
    // Not scoped, with a column of its own that happens to be called tenantId.
    Team: { primaryKey: ['id'], fields: { id: scalar('Int', { isId: true }), tenantId: scalar('String'), members: relation('User', true) } },
  },
}
const tenantFields = new Map([
  ['User', 'tenantId'],
  ['Post', 'tenantId'],
  ['Document', 'orgId'],
])

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p
  } catch (e) {
    return e as Error & { code?: string }
  }
  throw new Error('expected a rejection')
}

describe('canonical tenant ids', () => {
  it.each(['a', '7', 'acme', 'acme-eu_1', 'a_b-c9', 'x'.repeat(128), '0123'])('%s is canonical', (id) => {
    expect(isCanonicalTenantId(id)).toBe(true)
    expect(() => assertCanonicalTenantId(id)).not.toThrow()
  })

  it.each([
    ['upper case', 'ACME'],
    ['mixed case', 'Acme'],
    ['a trailing space', 'acme '],
    ['a leading space', ' acme'],
    ['an accent', 'Acmé'],
    ['a combining accent', 'acme\u0301'],
    ['a zero-width space', 'ac\u200bme'],
    ['a NUL', 'acme\u0000'],
    ['full-width letters', 'ａｃｍｅ'],
    ['a leading hyphen', '-acme'],
    ['a trailing hyphen', 'acme-'],
    ['a trailing underscore', 'acme_'],
    ['a dot', 'ac.me'],
    ['a slash', 'ac/me'],
    ['nothing', ''],
    ['129 characters', 'x'.repeat(129)],
  ])('an id with %s is not canonical', (_why, id) => {
    expect(isCanonicalTenantId(id)).toBe(false)
    expect(() => assertCanonicalTenantId(id)).toThrow(InvalidTenantError)
    try {
      assertCanonicalTenantId(id)
    } catch (e) {
      expect((e as InvalidTenantError).code).toBe(InvalidTenantError.code)
    }
  })

  it('refuses values that are not strings', () => {
    for (const v of [undefined, null, 1, {}, ['acme']]) expect(isCanonicalTenantId(v)).toBe(false)
  })

  it('takes the tenantIds option as any (default) or canonical, and nothing else', () => {
    expect(resolveTenantIdMode(undefined, 'x')).toBe('any')
    expect(resolveTenantIdMode('any', 'x')).toBe('any')
    expect(resolveTenantIdMode('canonical', 'x')).toBe('canonical')
    for (const v of ['Canonical', 'strict', true, 1, null]) expect(() => resolveTenantIdMode(v, 'x')).toThrow(ConfigError)
  })
})

describe('the tenant ids a call names (inside unsafeBypassTenantScope)', () => {
  const ids = (model: string, args: unknown) => tenantIdsInArgs(manifest, tenantFields, model, args)

  it('takes data.tenantId of creates, top-level and in createMany', () => {
    expect(ids('User', { data: { tenantId: 'ACME', prefs: {} } })).toEqual(['ACME'])
    expect(ids('User', { data: [{ tenantId: 'a' }, { tenantId: 'B' }] })).toEqual(['a', 'B'])
    expect(ids('Document', { data: { orgId: 'Org ' } })).toEqual(['Org '])
  })

  it('follows relations into nested creates, connectOrCreate and upsert', () => {
    const args = {
      data: {
        tenantId: 't1',
        posts: {
          create: [{ tenantId: 't2' }],
          createMany: { data: [{ tenantId: 't3' }] },
          connectOrCreate: { where: { id: 'p' }, create: { tenantId: 't4' } },
          upsert: [{ where: { id: 'q' }, create: { tenantId: 't5' }, update: {} }],
        },
      },
    }
    expect(ids('User', args)).toEqual(['t1', 't2', 't3', 't4', 't5'])
    expect(ids('Post', { data: { tenantId: 'p1', author: { create: { tenantId: 'u1' } } } })).toEqual(['p1', 'u1'])
  })

  it('takes equality filters on the tenant column: plain, equals, in, notIn, not, and in relation filters', () => {
    expect(ids('User', { where: { tenantId: 'A' } })).toEqual(['A'])
    expect(ids('User', { where: { OR: [{ tenantId: { equals: 'B' } }, { tenantId: { in: ['C', 'd'] } }, { tenantId: { not: { notIn: ['E'] } } }] } })).toEqual(['B', 'C', 'd', 'E'])
    expect(ids('User', { where: { posts: { some: { tenantId: 'F' } } } })).toEqual(['F'])
    expect(ids('Team', { where: { members: { every: { tenantId: 'G' } } }, include: { members: { where: { tenantId: 'H' } } } })).toEqual(['G', 'H'])
  })

  it("ignores values that are not a scoped model's tenant column: an unscoped model's own tenantId, a Json value, other fields", () => {
    expect(ids('Team', { data: { tenantId: 'TEAM', name: 'x' } })).toEqual([])
    expect(ids('User', { data: { tenantId: 'u', prefs: { tenantId: 'IN-JSON' }, team: { create: { tenantId: 'TEAM' } } } })).toEqual(['u'])
    expect(ids('User', { where: { tenantId: { contains: 'AC' } } })).toEqual([])
    expect(ids('Post', { data: { title: 'tenantId' } })).toEqual([])
  })

  it('survives odd arguments: null, dates, bytes, deep nesting, unknown models', () => {
    expect(ids('User', null)).toEqual([])
    expect(ids('User', { data: { tenantId: 'a', createdAt: new Date(), avatar: new Uint8Array(2) } })).toEqual(['a'])
    let deep: Record<string, unknown> = { tenantId: 'deep' }
    for (let i = 0; i < 200; i++) deep = { AND: deep }
    expect(ids('User', { where: deep })).toEqual(['deep'])
    expect(ids('Nope', { data: { tenantId: 'x' } })).toEqual([])
  })

  it('refuses arguments too deep to walk instead of passing them unchecked', () => {
    let deep: Record<string, unknown> = { tenantId: 'DEEP' }
    for (let i = 0; i < 2000; i++) deep = { AND: deep }
    expect(() => ids('User', { where: deep })).toThrow(expect.objectContaining({ code: 'ERR_ROWCRYPT_UNSUPPORTED_QUERY' }))
  })
})

describe('tenant columns by their database names', () => {
  it('uses the model dbName, the field dbName and the schema', () => {
    expect(
      tenantColumnsOf(manifest, [
        { model: 'User', field: 'tenantId' },
        { model: 'Document', field: 'orgId' },
        { model: 'Post', field: 'tenantId' },
      ]),
    ).toEqual([
      { model: 'User', field: 'tenantId', table: 'users', column: 'tenant_id' },
      { model: 'Document', field: 'orgId', table: 'Document', column: 'orgId', schema: 'docs' },
      { model: 'Post', field: 'tenantId', table: 'Post', column: 'tenantId' },
    ])
  })
})

describe('MySQL/MariaDB rule: only a NO PAD binary utf8mb4 collation or a binary string type', () => {
  const text = (collation: string | null, dataType = 'varchar', characterSet: string | null = 'utf8mb4') => mysqlColumnRisk({ dataType, characterSet, collation })

  it.each([
    ['utf8mb4_nopad_bin (MariaDB)', text('utf8mb4_nopad_bin')],
    ['utf8mb4_0900_bin (MySQL 8)', text('utf8mb4_0900_bin')],
    ['a text column with utf8mb4_nopad_bin', text('utf8mb4_nopad_bin', 'longtext')],
    ['VARBINARY', text(null, 'varbinary', null)],
    ['a BLOB', text(null, 'blob', null)],
    ['the binary collation', text('binary', 'varchar', 'binary')],
  ])('accepts %s', (_what, risk) => {
    expect(risk).toBeUndefined()
  })

  it.each([
    ['utf8mb4_unicode_ci', text('utf8mb4_unicode_ci')],
    ['utf8mb4_general_ci', text('utf8mb4_general_ci')],
    ['utf8mb4_0900_ai_ci', text('utf8mb4_0900_ai_ci')],
    ['utf8mb4_0900_as_cs (accent and case sensitive, still not binary)', text('utf8mb4_0900_as_cs')],
    ['utf8mb4_bin (PAD SPACE)', text('utf8mb4_bin')],
    ['latin1_bin (another character set)', text('latin1_bin', 'varchar', 'latin1')],
    ['utf8mb3_nopad_bin (no 4-byte characters)', text('utf8mb3_nopad_bin', 'varchar', 'utf8mb3')],
    ['a text column without a collation', text(null, 'varchar')],
    ['CHAR (drops trailing spaces)', text('utf8mb4_nopad_bin', 'char')],
    ['BINARY (pads with zero bytes)', text(null, 'binary', null)],
    ['an INT column', text(null, 'int', null)],
  ])('refuses %s', (_what, risk) => {
    expect(typeof risk).toBe('string')
  })

  it('suggests the byte-exact collation of the server', () => {
    expect(mysqlBinaryCollation('10.11.19-MariaDB-0+deb12u1')).toBe('utf8mb4_nopad_bin')
    expect(mysqlBinaryCollation('8.0.36')).toBe('utf8mb4_0900_bin')
  })

  it('writes a MODIFY that keeps type, nullability and default', () => {
    const base = { table: 'User', column: 'tenantId', columnType: 'varchar(191)', dataType: 'varchar', nullable: false }
    expect(mysqlFix({ ...base, columnDefault: "''" }, '10.11.19-MariaDB')).toBe("ALTER TABLE `User` MODIFY `tenantId` VARCHAR(191) NOT NULL DEFAULT '' COLLATE utf8mb4_nopad_bin")
    expect(mysqlFix({ ...base, columnDefault: '' }, '8.0.36')).toBe("ALTER TABLE `User` MODIFY `tenantId` VARCHAR(191) NOT NULL DEFAULT '' COLLATE utf8mb4_0900_bin")
    expect(mysqlFix({ ...base, columnDefault: "o'k" }, '8.0.36')).toBe("ALTER TABLE `User` MODIFY `tenantId` VARCHAR(191) NOT NULL DEFAULT 'o''k' COLLATE utf8mb4_0900_bin")
    expect(mysqlFix({ ...base, columnType: 'varchar(256)', nullable: true, columnDefault: 'NULL' }, '10.11.19-MariaDB')).toBe(
      'ALTER TABLE `User` MODIFY `tenantId` VARCHAR(256) NULL COLLATE utf8mb4_nopad_bin',
    )
    expect(mysqlFix({ ...base, table: 'a`b', columnType: 'char(36)', dataType: 'char', columnDefault: null }, '10.11.19-MariaDB')).toBe(
      'ALTER TABLE `a``b` MODIFY `tenantId` VARCHAR(36) NOT NULL COLLATE utf8mb4_nopad_bin',
    )
  })
})

describe('PostgreSQL rule: text or varchar under a deterministic collation', () => {
  it('accepts the default collation, C and a deterministic ICU collation', () => {
    expect(postgresColumnRisk({ baseType: 'text', collation: 'default', deterministic: true }, false)).toBeUndefined()
    expect(postgresColumnRisk({ baseType: 'varchar', collation: 'C', deterministic: true }, false)).toBeUndefined()
    expect(postgresColumnRisk({ baseType: 'text', collation: 'und-x-icu', deterministic: true }, false)).toBeUndefined()
  })

  it('refuses a non-deterministic collation, a conflating database default, citext, char(n) and normalizing types', () => {
    expect(postgresColumnRisk({ baseType: 'text', collation: 'ci', deterministic: false }, false)).toEqual(expect.any(String))
    expect(postgresColumnRisk({ baseType: 'text', collation: 'default', deterministic: true }, true)).toEqual(expect.any(String))
    expect(postgresColumnRisk({ baseType: 'citext', collation: 'default', deterministic: true }, false)).toEqual(expect.any(String))
    expect(postgresColumnRisk({ baseType: 'bpchar', collation: 'C', deterministic: true }, false)).toEqual(expect.any(String))
    expect(postgresColumnRisk({ baseType: 'uuid', collation: null, deterministic: null }, false)).toEqual(expect.any(String))
  })

  it('a deterministic explicit collation is safe whatever the database default does', () => {
    expect(postgresColumnRisk({ baseType: 'text', collation: 'C', deterministic: true }, true)).toBeUndefined()
  })
})

describe('SQLite: CREATE TABLE parsing and the rule', () => {
  const prismaTable = `CREATE TABLE "User" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL DEFAULT '',
    "teamId" INTEGER,
    CONSTRAINT "User_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "Team" ("id") ON DELETE SET NULL ON UPDATE CASCADE
)`

  it('reads a Prisma table: names, types, no collations; the table constraint is not a column', () => {
    expect(parseSqliteColumns(prismaTable)).toEqual([
      { name: 'id', type: 'INTEGER', collations: [] },
      { name: 'name', type: 'TEXT', collations: [] },
      { name: 'tenantId', type: 'TEXT', collations: [] },
      { name: 'teamId', type: 'INTEGER', collations: [] },
    ])
  })

  it('finds COLLATE clauses of a column, wherever they stand in its definition', () => {
    const cols = parseSqliteColumns(`CREATE TABLE t (a TEXT COLLATE NOCASE NOT NULL, b VARCHAR(191) NOT NULL DEFAULT '' COLLATE "RTRIM", c TEXT COLLATE binary, d)`)
    expect(cols).toEqual([
      { name: 'a', type: 'TEXT', collations: ['NOCASE'] },
      { name: 'b', type: 'VARCHAR(191)', collations: ['RTRIM'] },
      { name: 'c', type: 'TEXT', collations: ['binary'] },
      { name: 'd', type: '', collations: [] },
    ])
  })

  it('is not fooled by COLLATE inside parentheses, string literals or comments', () => {
    const sql = `CREATE TABLE t (
      -- "tenantId" TEXT COLLATE NOCASE
      "tenantId" TEXT NOT NULL DEFAULT 'x COLLATE NOCASE' CHECK ("tenantId" COLLATE NOCASE <> 'ADMIN'), /* COLLATE NOCASE */
      other TEXT,
      CHECK (other COLLATE NOCASE = other)
    )`
    expect(parseSqliteColumns(sql)).toEqual([
      { name: 'tenantId', type: 'TEXT', collations: [] },
      { name: 'other', type: 'TEXT', collations: [] },
    ])
  })

  it('reads quoted names: doubled quotes, backticks, brackets, and keywords used as names', () => {
    const cols = parseSqliteColumns('CREATE TABLE [t] ("te""nant" TEXT COLLATE NOCASE, `back``tick` TEXT, [br ack] TEXT, "primary" TEXT COLLATE NOCASE, UNIQUE ("primary"))')
    expect(cols.map((c) => [c.name, c.collations])).toEqual([
      ['te"nant', ['NOCASE']],
      ['back`tick', []],
      ['br ack', []],
      ['primary', ['NOCASE']],
    ])
  })

  it('splits tokens and drops comments', () => {
    expect(sqliteTokens(`a 'it''s' "q" /* c */ -- d\n(`).map((t) => `${t.kind}:${t.text}`)).toEqual(['word:a', "string:it's", 'quoted:q', 'punct:('])
  })

  it('refuses any collation but BINARY, and numeric affinity', () => {
    expect(sqliteColumnRisk({ type: 'TEXT', collations: [] })).toBeUndefined()
    expect(sqliteColumnRisk({ type: 'TEXT', collations: ['BINARY'] })).toBeUndefined()
    expect(sqliteColumnRisk({ type: '', collations: [] })).toBeUndefined()
    expect(sqliteColumnRisk({ type: 'TEXT', collations: ['NOCASE'] })).toEqual(expect.any(String))
    expect(sqliteColumnRisk({ type: 'TEXT', collations: ['RTRIM'] })).toEqual(expect.any(String))
    expect(sqliteColumnRisk({ type: 'TEXT', collations: ['BINARY', 'nocase'] })).toEqual(expect.any(String))
    expect(sqliteColumnRisk({ type: 'INTEGER', collations: [] })).toEqual(expect.any(String))
    expect(sqliteColumnRisk({ type: 'NUMERIC', collations: [] })).toEqual(expect.any(String))
  })

  it("follows SQLite's affinity rules", () => {
    expect([
      sqliteAffinity('BIGINT'),
      sqliteAffinity('VARCHAR(191)'),
      sqliteAffinity('CLOB'),
      sqliteAffinity('BLOB'),
      sqliteAffinity(''),
      sqliteAffinity('DOUBLE'),
      sqliteAffinity('DECIMAL(10,2)'),
    ]).toEqual(['INTEGER', 'TEXT', 'TEXT', 'BLOB', 'BLOB', 'REAL', 'NUMERIC'])
  })
})

describe('checkTenantCollations on stand-in catalogs', () => {
  const users: TenantColumn = { model: 'User', field: 'tenantId', table: 'User', column: 'tenantId' }
  const docs: TenantColumn = { model: 'Document', field: 'orgId', table: 'Document', column: 'orgId' }

  function recording(answer: (sql: string, values: unknown[]) => Array<Record<string, unknown>>): { query: RawQuery; calls: Array<{ sql: string; values: unknown[] }> } {
    const calls: Array<{ sql: string; values: unknown[] }> = []
    return {
      calls,
      query: async (sql, ...values) => {
        calls.push({ sql, values })
        return answer(sql, values)
      },
    }
  }

  it('MySQL: one query for all columns; names matched case-insensitively; an unsafe column is returned with a fix', async () => {
    const row = (table: string, column: string, collation: string) => ({
      table_name: table,
      column_name: column,
      data_type: 'varchar',
      column_type: 'varchar(191)',
      character_set: 'utf8mb4',
      collation_name: collation,
      is_nullable: 'NO',
      column_default: "''",
      server_version: '10.11.19-MariaDB',
    })
    const { query, calls } = recording(() => [row('user', 'TENANTID', 'utf8mb4_nopad_bin'), row('Document', 'orgId', 'utf8mb4_unicode_ci')])
    const unsafe = await checkTenantCollations('mysql', query, [users, docs])
    expect(calls).toHaveLength(1)
    expect(calls[0]!.values).toEqual(['User', 'tenantId', 'Document', 'orgId'])
    expect(calls[0]!.sql).toContain('DATABASE()')
    expect(unsafe).toEqual([
      {
        ...docs,
        collation: 'collation utf8mb4_unicode_ci (varchar(191))',
        reason: expect.any(String),
        fix: "ALTER TABLE `Document` MODIFY `orgId` VARCHAR(191) NOT NULL DEFAULT '' COLLATE utf8mb4_nopad_bin",
      },
    ])
  })

  it('MySQL: a table or column that does not exist is not an error of the check', async () => {
    const { query } = recording(() => [])
    expect(await checkTenantCollations('mysql', query, [users])).toEqual([])
  })

  it('PostgreSQL: the table in every schema that has it; one unsafe schema is enough', async () => {
    const row = (schema: string, deterministic: boolean, collation: string) => ({
      schema_name: schema,
      table_name: 'User',
      column_name: 'tenantId',
      type_text: 'text',
      base_type: 'text',
      collation_name: collation,
      deterministic,
      encoding: 'UTF8',
    })
    const { query, calls } = recording((sql) => (sql.includes('convert_from') ? [{ conflates: false }] : [row('a', true, 'default'), row('b', false, 'ci')]))
    const unsafe = await checkTenantCollations('postgresql', query, [users])
    expect(calls[0]!.values).toEqual(['User', 'tenantId'])
    expect(unsafe).toEqual([{ ...users, schema: 'b', collation: 'collation ci (text)', reason: expect.any(String), fix: 'ALTER TABLE "b"."User" ALTER COLUMN "tenantId" TYPE text COLLATE "C"' }])
  })

  it("PostgreSQL: the manifest's schema narrows the look-up", async () => {
    const { query, calls } = recording(() => [])
    await checkTenantCollations('postgresql', query, [{ ...docs, schema: 'docs' }])
    expect(calls[0]!.values).toEqual(['Document', 'orgId', 'docs'])
    expect(calls[0]!.sql).toContain('n.nspname = $3')
  })

  it('PostgreSQL: the database default is asked whether it conflates canonically equivalent strings', async () => {
    const row = { schema_name: 'public', table_name: 'User', column_name: 'tenantId', type_text: 'text', base_type: 'text', collation_name: 'default', deterministic: true, encoding: 'UTF8' }
    const conflating = recording((sql) => (sql.includes('convert_from') ? [{ conflates: true }] : [row]))
    expect(await checkTenantCollations('postgresql', conflating.query, [users])).toHaveLength(1)
    expect(conflating.calls).toHaveLength(2)
    const exact = recording((sql) => (sql.includes('convert_from') ? [{ conflates: false }] : [row]))
    expect(await checkTenantCollations('postgresql', exact.query, [users])).toEqual([])
    // Not asked when no column uses the default, nor on a database that is not UTF-8.
    const explicit = recording(() => [{ ...row, collation_name: 'C' }])
    await checkTenantCollations('postgresql', explicit.query, [users])
    expect(explicit.calls).toHaveLength(1)
    const latin1 = recording(() => [{ ...row, encoding: 'LATIN1' }])
    await checkTenantCollations('postgresql', latin1.query, [users])
    expect(latin1.calls).toHaveLength(1)
  })

  it("SQLite: reads each table's CREATE TABLE once, and flags COLLATE NOCASE", async () => {
    const { query, calls } = recording((sql) => (sql.includes('sqlite_master') ? [{ sql: 'CREATE TABLE "User" ("id" INTEGER, "tenantId" TEXT NOT NULL COLLATE NOCASE, "orgId" TEXT)' }] : []))
    const unsafe = await checkTenantCollations('sqlite', query, [users, { ...users, model: 'Other', field: 'orgId', column: 'ORGID' }])
    expect(calls).toHaveLength(1)
    expect(unsafe).toEqual([{ ...users, collation: 'COLLATE NOCASE', reason: expect.any(String), fix: expect.any(String) }])
  })

  it('SQLite: a missing table passes; a column whose definition cannot be read fails closed', async () => {
    expect(await checkTenantCollations('sqlite', recording(() => []).query, [users])).toEqual([])
    const asSelect = recording((sql) => (sql.includes('sqlite_master') ? [{ sql: 'CREATE TABLE "User" AS SELECT 1' }] : [{ name: 'tenantId' }]))
    expect(await checkTenantCollations('sqlite', asSelect.query, [users])).toHaveLength(1)
  })

  it('a provider whose collations cannot be read fails closed', async () => {
    const { query, calls } = recording(() => [])
    expect(await checkTenantCollations('sqlserver', query, [users, docs])).toHaveLength(2)
    expect(calls).toHaveLength(0)
  })

  it('a failing catalog query rejects (nothing is decided)', async () => {
    const lost = Object.assign(new Error('connection lost'), { code: 'P1001' })
    await expect(checkTenantCollations('mysql', () => Promise.reject(lost), [users])).rejects.toBe(lost)
  })

  it("detects the provider from the server's version function", async () => {
    expect(await detectProvider(async () => [{ v: 'PostgreSQL 15.20 (Debian)' }])).toBe('postgresql')
    expect(await detectProvider(async () => [{ v: '10.11.19-MariaDB-0+deb12u1' }])).toBe('mysql')
    expect(await detectProvider(async () => [{ v: '8.0.36' }])).toBe('mysql')
    expect(await detectProvider(async () => [{ v: 'CockroachDB CCL v23.1' }])).toBeUndefined()
    expect(await detectProvider(async (sql) => (sql.includes('sqlite_version') ? [{ v: '3.45.0' }] : Promise.reject(new Error('no such function: version'))))).toBe('sqlite')
    const lost = new Error('connection lost')
    await expect(detectProvider(() => Promise.reject(lost))).rejects.toBe(lost)
  })

  it('the refusal is a ConfigError listing each column', () => {
    const e = tenantCollationError([{ ...users, collation: 'collation utf8mb4_unicode_ci (varchar(191))', reason: 'r', fix: 'f' }], 'rowcrypt()', 'set tenantIds')
    expect(e).toBeInstanceOf(ConfigError)
    expect(e).toBeInstanceOf(TenantCollationError)
    expect(e.code).toBe('ERR_ROWCRYPT_CONFIG')
    expect(e.name).toBe('TenantCollationError')
    expect(e.columns).toEqual([{ model: 'User', field: 'tenantId', table: 'User', column: 'tenantId', collation: 'collation utf8mb4_unicode_ci (varchar(191))' }])
  })
})

describe('CollationGate: the check once per client', () => {
  it('runs the check once when it passes, also for concurrent callers', async () => {
    let runs = 0
    const gate = new CollationGate(async () => {
      runs++
      return undefined
    })
    expect(gate.passed).toBe(false)
    await Promise.all([gate.ready(), gate.ready(), gate.ready()])
    await gate.ready()
    expect(runs).toBe(1)
    expect(gate.passed).toBe(true)
  })

  it('keeps a refusal: every later call rejects with the same error, without checking again', async () => {
    let runs = 0
    const refusal = new ConfigError('unsafe')
    const gate = new CollationGate(async () => {
      runs++
      return refusal
    })
    const [a, b] = await Promise.all([rejection(gate.ready()), rejection(gate.ready())])
    const c = await rejection(gate.ready())
    expect([a, b, c]).toEqual([refusal, refusal, refusal])
    expect(c).toBe(refusal)
    expect(runs).toBe(1)
    expect(gate.passed).toBe(false)
  })

  it('does not remember a check that could not run: the next call checks again', async () => {
    let runs = 0
    const lost = Object.assign(new Error('connection lost'), { code: 'P1001' })
    const gate = new CollationGate(async () => {
      runs++
      if (runs === 1) throw lost
      return undefined
    })
    expect(await rejection(gate.ready())).toBe(lost)
    expect(gate.passed).toBe(false)
    await gate.ready()
    expect(runs).toBe(2)
    expect(gate.passed).toBe(true)
  })
})
