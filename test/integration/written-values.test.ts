// The result of a create or update is not decrypted again: values the call just encrypted come
// back as the caller's plaintext. Only when the row came back exactly as written (same ciphertext,
// wrapped key, key version and tenant); anything changed on the way (here a database trigger) is
// decrypted as usual and fails closed when it cannot be.
import { withTenant } from '../../src'
import { openDatabase, type TestDatabase } from '../support/db'
import { extend, type Extended } from '../support/setup'

describe('results of writes on PostgreSQL', () => {
  let db: TestDatabase
  let prisma: Extended
  beforeAll(async () => {
    db = await openDatabase('postgres', 'written')
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

  it('come back as written when the row is stored as written', async () => {
    const u = await withTenant('w', () => prisma.user.create({ data: { name: 'n', email: 'plain@x', notes: 'n1' }, omit: { keyVersion: false } }))
    expect(u).toMatchObject({ email: 'plain@x', notes: 'n1', keyVersion: 'v1' })
    const v = await withTenant('w', () => prisma.user.update({ where: { id: u.id }, data: { notes: 'n2' } }))
    expect(v).toMatchObject({ email: 'plain@x', notes: 'n2' })
  })

  it('fail closed when the stored key version differs from the one written (a trigger changed it)', async () => {
    const fn = `${db.table('rc_force_v2')}`
    await db.raw(`CREATE FUNCTION ${fn}() RETURNS trigger AS $$ BEGIN NEW."keyVersion" := 'v2'; RETURN NEW; END $$ LANGUAGE plpgsql`)
    await db.raw(`CREATE TRIGGER rc_force_v2 BEFORE INSERT OR UPDATE ON ${db.table('User')} FOR EACH ROW EXECUTE FUNCTION ${fn}()`)
    try {
      expect(await withTenant('w', () => codeOf(prisma.user.create({ data: { name: 'kv', email: 'kv@x' } })))).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    } finally {
      await db.raw(`DROP TRIGGER rc_force_v2 ON ${db.table('User')}`)
    }
  })

  it('fail closed when a value keeps its header and IV but its body changed on the way (looked up by IV, compared in full)', async () => {
    const fn = `${db.table('rc_flip_body')}`
    // One character of the email's ciphertext body (after the 14-character header and the 16-character IV) changes.
    await db.raw(
      `CREATE FUNCTION ${fn}() RETURNS trigger AS $$ BEGIN NEW.email := overlay(NEW.email placing (CASE WHEN substr(NEW.email, 40, 1) = 'A' THEN 'B' ELSE 'A' END) from 40 for 1); RETURN NEW; END $$ LANGUAGE plpgsql`,
    )
    await db.raw(`CREATE TRIGGER rc_flip_body BEFORE INSERT OR UPDATE ON ${db.table('User')} FOR EACH ROW EXECUTE FUNCTION ${fn}()`)
    try {
      expect(await withTenant('w', () => codeOf(prisma.user.create({ data: { name: 'fb', email: 'flip-body@example.com' } })))).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
    } finally {
      await db.raw(`DROP TRIGGER rc_flip_body ON ${db.table('User')}`)
    }
    // Without the trigger the same write comes back as written.
    expect(await withTenant('w', () => prisma.user.create({ data: { name: 'fb2', email: 'flip-body2@example.com' } }))).toMatchObject({ email: 'flip-body2@example.com' })
  })
})
