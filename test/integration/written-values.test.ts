// The result of a create or update is not decrypted again: values the call just encrypted come
// back as the caller's plaintext. Only when the row came back exactly as written (same ciphertext,
// wrapped key, key version and tenant); anything changed on the way (here a database trigger) is
// decrypted as usual and fails closed when it cannot be. On PostgreSQL and MariaDB, whose BEFORE
// triggers can change the row being written (SQLite's cannot, and its RETURNING does not see what
// AFTER triggers change).
import { withTenant } from '../../src'
import { openDatabase, type DatabaseKind, type TestDatabase } from '../support/db'
import { extend, type Extended } from '../support/setup'

/** SQL that installs a BEFORE INSERT OR UPDATE trigger on User running `set` (assignments to NEW), and SQL that drops it. */
type TriggerSql = (db: TestDatabase, name: string, set: string) => { create: string[]; drop: string[] }

const TRIGGERS: Array<[DatabaseKind, TriggerSql, { keyVersion: string; flipBody: string }]> = [
  [
    'postgres',
    (db, name, set) => ({
      create: [
        `CREATE FUNCTION ${db.table(name)}() RETURNS trigger AS $$ BEGIN ${set}; RETURN NEW; END $$ LANGUAGE plpgsql`,
        `CREATE TRIGGER ${name} BEFORE INSERT OR UPDATE ON ${db.table('User')} FOR EACH ROW EXECUTE FUNCTION ${db.table(name)}()`,
      ],
      drop: [`DROP TRIGGER ${name} ON ${db.table('User')}`],
    }),
    {
      keyVersion: `NEW."keyVersion" := 'v2'`,
      // One character of the email's ciphertext body (after the 14-character header and the 16-character IV) changes.
      flipBody: `NEW.email := overlay(NEW.email placing (CASE WHEN substr(NEW.email, 40, 1) = 'A' THEN 'B' ELSE 'A' END) from 40 for 1)`,
    },
  ],
  [
    'mysql',
    // MariaDB: one trigger per event.
    (db, name, set) => ({
      create: ['INSERT', 'UPDATE'].map((event) => `CREATE TRIGGER ${name}_${event} BEFORE ${event} ON ${db.table('User')} FOR EACH ROW SET ${set}`),
      drop: ['INSERT', 'UPDATE'].map((event) => `DROP TRIGGER ${name}_${event}`),
    }),
    {
      keyVersion: `NEW.keyVersion = 'v2'`,
      flipBody: `NEW.email = INSERT(NEW.email, 40, 1, IF(SUBSTRING(NEW.email, 40, 1) = 'A', 'B', 'A'))`,
    },
  ],
]

describe.each(TRIGGERS)('results of writes on %s', (kind, trigger, sets) => {
  let db: TestDatabase
  let prisma: Extended
  beforeAll(async () => {
    db = await openDatabase(kind, 'written')
    prisma = extend(db)
  })
  afterAll(() => db.close())

  const codeOf = async (p: PromiseLike<unknown>) => {
    try {
      await p
    } catch (e) {
      return (e as { code?: unknown }).code
    }
    return 'no error'
  }

  /** Runs `fn` with a trigger running `set` on every write of User. */
  async function withTrigger<T>(name: string, set: string, fn: () => Promise<T>): Promise<T> {
    const sql = trigger(db, name, set)
    for (const q of sql.create) await db.raw(q)
    try {
      return await fn()
    } finally {
      for (const q of sql.drop) await db.raw(q)
    }
  }

  it('come back as written when the row is stored as written', async () => {
    const u = await withTenant('w', () => prisma.user.create({ data: { name: 'n', email: 'plain@x', notes: 'n1' }, omit: { keyVersion: false } }))
    expect(u).toMatchObject({ email: 'plain@x', notes: 'n1', keyVersion: 'v1' })
    const v = await withTenant('w', () => prisma.user.update({ where: { id: u.id }, data: { notes: 'n2' } }))
    expect(v).toMatchObject({ email: 'plain@x', notes: 'n2' })
    const w = await withTenant('w', () => prisma.user.create({ data: { name: 'n', email: 'plain2@x' } }))
    expect(w).toMatchObject({ name: 'n', email: 'plain2@x', notes: null })
  })

  it('fail closed when the stored key version differs from the one written (a trigger changed it)', async () => {
    const plain = await withTenant('w', () => prisma.user.create({ data: { name: 'kv0', email: 'kv0@x' } }))
    await withTrigger('rc_force_v2', sets.keyVersion, async () => {
      expect(await withTenant('w', () => codeOf(prisma.user.create({ data: { name: 'kv', email: 'kv@x' } })))).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
      expect(await withTenant('w', () => codeOf(prisma.user.create({ data: { name: 'kv', email: 'kv@x', notes: 'n' }, select: { id: true, email: true } })))).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
      expect(await withTenant('w', () => codeOf(prisma.user.update({ where: { id: plain.id }, data: { email: 'kv1@x' } })))).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    })
  })

  it('fail closed when a value keeps its header and IV but its body changed on the way (looked up by IV, compared in full)', async () => {
    await withTrigger('rc_flip_body', sets.flipBody, async () => {
      expect(await withTenant('w', () => codeOf(prisma.user.create({ data: { name: 'fb', email: 'flip-body@example.com' } })))).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
      expect(await withTenant('w', () => codeOf(prisma.user.create({ data: { name: 'fb', email: 'flip-body@example.com' }, select: { email: true } })))).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    })
    // Without the trigger the same write comes back as written.
    expect(await withTenant('w', () => prisma.user.create({ data: { name: 'fb2', email: 'flip-body2@example.com' } }))).toMatchObject({ email: 'flip-body2@example.com' })
  })
})
