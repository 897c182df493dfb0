import { RecordNotFoundError } from '../../../../src/errors'
import { CasMissedError, update, upsert, withCondition } from '../../../../src/prisma/engine/cas'
import type { Engine, Obj } from '../../../../src/prisma/engine/context'
import type { QueryIO } from '../../../../src/prisma/query'
import { knownRow, rememberKey } from '../../../../src/prisma/engine/known-keys'
import { buildModelTable, type RowcryptOptions } from '../../../../src/prisma/config'
import { manifest } from '../walk/fixture'
import { engineOf, fakeIO, info, keyProvider, NOT_FOUND, rejectionCode, scopeAs, storedRow, TENANT_MISMATCH } from './fixture'

/** What Prisma rejects with when an update's where matches no row. */
const p2025 = () => Object.assign(new Error('An operation failed because it depends on one or more records that were required but not found.'), { code: 'P2025' })

/** Two stored versions of user 1: the same values under two keys (as after a rotation). */
async function userUnderTwoKeys(engine: Engine): Promise<[Obj, Obj]> {
  return [await storedRow(engine, 'User', { id: 1, name: 'n', email: 'old' }), await storedRow(engine, 'User', { id: 1, name: 'n', email: 'old' })]
}

/** User 1, whose key rotates right after its first read: the io reads k1 once, then k2. */
async function rotating(engine: Engine, inBatch = false) {
  const [k1, k2] = await userUnderTwoKeys(engine)
  const io = fakeIO({ readUnique: async () => (io.calls.length === 1 ? k1 : k2), inBatch: () => inBatch })
  return { k1, k2, io }
}

/** `update` of user 1's email as tenant A. */
const updateEmail = (engine: Engine, query: (args: Obj) => Promise<unknown>, io: QueryIO) => update(engine, info('User'), { where: { id: 1 }, data: { email: 'new' } }, query, io, scopeAs('A'))

/** The fixture's table with User's name encrypted too. */
const twoFieldUsers = buildModelTable({ schema: manifest, keyProvider, models: { User: { fields: ['email', 'name'] }, Post: { fields: ['title'] } } } as unknown as RowcryptOptions)

/** The row keys `engine` opens from now on (to count unwraps and check they were zeroed). */
function keysOpened(engine: Engine): Array<{ plaintextKey: Buffer }> {
  const opened: Array<{ plaintextKey: Buffer }> = []
  const open = engine.rle.openRowKeySync.bind(engine.rle)
  engine.rle.openRowKeySync = (...a: Parameters<typeof open>) => {
    const key = open(...a)
    if (key !== undefined) opened.push(key)
    return key
  }
  return opened
}

/** A fake `query` answering each call in turn (a function of the arguments, or an error to throw). */
function queryAnswering(...answers: Array<((args: Obj) => unknown) | Error>): ((args: Obj) => Promise<unknown>) & { args: Obj[] } {
  const args: Obj[] = []
  return Object.assign(
    async (a: Obj) => {
      const answer = answers[Math.min(args.length, answers.length - 1)]!
      args.push(a)
      if (answer instanceof Error) throw answer
      return answer(a)
    },
    { args },
  )
}

describe('update', () => {
  it("writes under the row's key with a compare-and-swap on it, and decrypts what it wrote", async () => {
    const engine = engineOf()
    const [row] = await userUnderTwoKeys(engine)
    const io = fakeIO({ readUnique: async () => row })
    const query = queryAnswering((a) => ({ ...row, ...(a.data as Obj) }))
    const result = await updateEmail(engine, query, io)
    expect(query.args[0]!.where).toEqual({ id: 1, tenantId: 'A', wrappedDek: row.wrappedDek })
    expect(result).toMatchObject({ id: 1, email: 'new' })
  })

  it('retries a missed compare-and-swap once the key changed, on a fresh read, then surfaces P2025', async () => {
    const engine = engineOf()
    const { k1, k2, io } = await rotating(engine)
    const query = queryAnswering(p2025())
    expect(await rejectionCode(updateEmail(engine, query, io))).toBe('P2025')
    expect(query.args.map((a) => (a.where as Obj).wrappedDek)).toEqual([k1.wrappedDek, k2.wrappedDek])
    // Key, re-check (changed), key, re-check (unchanged: the row is gone or did not match).
    expect(io.calls).toHaveLength(4)
  })

  it('does not retry when the key did not change', async () => {
    const engine = engineOf()
    const [row] = await userUnderTwoKeys(engine)
    const query = queryAnswering(p2025())
    expect(await rejectionCode(updateEmail(engine, query, fakeIO({ readUnique: async () => row })))).toBe('P2025')
    expect(query.args).toHaveLength(1)
  })

  it('treats an update Prisma reports as done without applying it as missed, and surfaces it as RecordNotFoundError', async () => {
    const engine = engineOf()
    const { k1, io } = await rotating(engine)
    // MySQL: the row comes back as it was, with its old ciphertext.
    const query = queryAnswering(() => ({ ...k1 }))
    let error: unknown
    await updateEmail(engine, query, io).catch((e) => (error = e))
    expect((error as { code?: string }).code).toBe(NOT_FOUND)
    expect(error).toBeInstanceOf(RecordNotFoundError)
    expect(error).toBeInstanceOf(CasMissedError)
    expect(query.args).toHaveLength(2)
  })

  it('makes no second attempt inside a batch', async () => {
    const engine = engineOf()
    const { io } = await rotating(engine, true)
    const query = queryAnswering(p2025())
    expect(await rejectionCode(updateEmail(engine, query, io))).toBe('P2025')
    expect(query.args).toHaveLength(1)
    expect(io.calls).toHaveLength(1)
  })

  it('takes a remembered key instead of reading it, and forgets it when it proves stale', async () => {
    const engine = engineOf()
    const [stale, current] = await userUnderTwoKeys(engine)
    rememberKey(engine, info('User').spec!, 'A', stale)
    const io = fakeIO({ readUnique: async () => current })
    const query = queryAnswering(p2025(), (a) => ({ ...current, ...(a.data as Obj) }))
    const result = await updateEmail(engine, query, io)
    expect(result).toMatchObject({ email: 'new' })
    expect(query.args.map((a) => (a.where as Obj).wrappedDek)).toEqual([stale.wrappedDek, current.wrappedDek])
    expect(io.calls.map((c) => c[0])).toEqual(['readUnique'])
    // The key read and decrypted is the one remembered now.
    expect(knownRow(engine, info('User'), { id: 1 }, scopeAs('A'))?.wrappedDek).toBe(current.wrappedDek)
  })

  it.each([
    ['remembered', true],
    ['read first', false],
  ])("decrypts the written row's other fields with the key it wrote under (one unwrap; key %s), and zeroes that key", async (_, remembered) => {
    // User with two encrypted fields: the update writes email, the result's name needs the key.
    const engine = engineOf(twoFieldUsers)
    const user = twoFieldUsers.get('User')!
    const row = await storedRow(engine, 'User', { id: 1, name: 'n', email: 'old' })
    if (remembered) rememberKey(engine, user.spec!, 'A', row)
    const opened = keysOpened(engine)
    const io = fakeIO({ readUnique: async () => row })
    const query = queryAnswering((a) => ({ ...row, ...(a.data as Obj) }))
    const result = await update(engine, user, { where: { id: 1 }, data: { email: 'new' } }, query, io, scopeAs('A'))
    expect(result).toEqual({ id: 1, name: 'n', email: 'new', teamId: undefined })
    expect([opened.length, io.calls.length]).toEqual([1, remembered ? 0 : 1])
    expect(opened[0]!.plaintextKey.every((b) => b === 0)).toBe(true)
  })

  it('zeroes the key it wrote under when the update fails', async () => {
    const engine = engineOf(twoFieldUsers)
    const row = await storedRow(engine, 'User', { id: 1, name: 'n', email: 'old' })
    const opened = keysOpened(engine)
    const query = queryAnswering(new Error('connection lost'))
    await expect(update(engine, twoFieldUsers.get('User')!, { where: { id: 1 }, data: { email: 'new' } }, query, fakeIO({ readUnique: async () => row }), scopeAs('A'))).rejects.toThrow(
      'connection lost',
    )
    expect(opened).toHaveLength(1)
    expect(opened[0]!.plaintextKey.every((b) => b === 0)).toBe(true)
  })

  it('never decrypts another row with the key it wrote under: that row is unwrapped on its own binding', async () => {
    const engine = engineOf()
    const row = await storedRow(engine, 'User', { id: 1, name: 'n', email: 'old' })
    rememberKey(engine, info('User').spec!, 'A', row)
    // The database answers with user 2 holding user 1's key columns (copied): its own unwrap fails.
    const query = queryAnswering((a) => ({ ...row, ...(a.data as Obj), id: 2 }))
    expect(await rejectionCode(updateEmail(engine, query, fakeIO()))).toBe('ERR_ROWCRYPT_DECRYPTION_FAILED')
  })

  it('refuses writing a managed column before any read or query', async () => {
    const query = queryAnswering(() => null)
    const io = fakeIO()
    expect(await rejectionCode(update(engineOf(), info('User'), { where: { id: 1 }, data: { wrappedDek: new Uint8Array(1) } }, query, io, scopeAs('A')))).toBe('ERR_ROWCRYPT_UNSUPPORTED_QUERY')
    expect([query.args, io.calls]).toEqual([[], []])
  })
})

describe('update and upsert with a selection rowcrypt refuses', () => {
  // Refused before the row's key is read: the same error whether or not the row exists, and in a
  // batch the same whatever the timing of the other items' reads.
  const include = { posts: { orderBy: { title: 'asc' } } }
  it.each([
    ['update', (engine: Engine, query: (args: Obj) => Promise<unknown>, io: QueryIO) => update(engine, info('User'), { where: { id: 1 }, data: { email: 'new' }, include }, query, io, scopeAs('A'))],
    [
      'upsert',
      (engine: Engine, query: (args: Obj) => Promise<unknown>, io: QueryIO) =>
        upsert(engine, info('User'), { where: { id: 1 }, create: { id: 1, name: 'n', email: 'e' }, update: { email: 'new' }, include }, query, io, scopeAs('A')),
    ],
  ])('%s: refused before any statement, row or no row', async (_name, call) => {
    const engine = engineOf()
    const row = await storedRow(engine, 'User', { id: 1, name: 'n', email: 'old' })
    for (const stored of [row, null]) {
      const io = fakeIO({ readUnique: async () => stored })
      const query = queryAnswering(() => row)
      expect(await rejectionCode(call(engine, query, io))).toBe('ERR_ROWCRYPT_UNSUPPORTED_QUERY')
      expect(io.calls).toEqual([])
      expect(query.args).toEqual([])
    }
  })
})

describe('upsert', () => {
  it('encrypts both branches: create under a fresh key, update under the existing one', async () => {
    const engine = engineOf()
    const [row] = await userUnderTwoKeys(engine)
    const query = queryAnswering((a) => ({ ...row, ...(a.update as Obj) }))
    await upsert(engine, info('User'), { where: { id: 1 }, create: { id: 1, name: 'n', email: 'c' }, update: { email: 'u' } }, query, fakeIO({ readUnique: async () => row }), scopeAs('A'))
    const args = query.args[0]!
    // The row is there: its update is a compare-and-swap on its key, and the create (the branch a
    // missed one falls through to) holds the row's id, so it can only collide.
    expect(args.where).toEqual({ id: 1, tenantId: 'A', wrappedDek: row!.wrappedDek })
    expect(args.create).toMatchObject({ id: 1, tenantId: 'A' })
    expect(await engine.rle.decryptRow({ ...row, ...(args.update as Obj) }, { model: 'User', tenantId: 'A' })).toMatchObject({ email: 'u' })
  })

  it('gives the create the id the where names, and goes without a compare-and-swap when the create names another', async () => {
    const engine = engineOf()
    const [row] = await userUnderTwoKeys(engine)
    const query = queryAnswering((a) => ({ ...row, ...(a.update as Obj) }))
    await upsert(engine, info('User'), { where: { id: 1 }, create: { name: 'n', email: 'c' }, update: { email: 'u' } }, query, fakeIO({ readUnique: async () => row }), scopeAs('A'))
    expect(query.args[0]!.create).toMatchObject({ id: 1 })
    expect((query.args[0]!.where as Obj).wrappedDek).toEqual(row!.wrappedDek)
    await upsert(engine, info('User'), { where: { id: 1 }, create: { id: 2, name: 'n', email: 'c' }, update: { email: 'u' } }, query, fakeIO({ readUnique: async () => row }), scopeAs('A'))
    expect(query.args[1]!.where).toEqual({ id: 1, tenantId: 'A' })
    expect(query.args[1]!.create).toMatchObject({ id: 2 })
  })

  it('guards the update branch when the tenant has no such row, and refuses a create that hit another row', async () => {
    const engine = engineOf()
    const query = queryAnswering(() => null)
    expect(await rejectionCode(upsert(engine, info('User'), { where: { id: 1 }, create: { id: 1, email: 'c' }, update: { email: 'u' } }, query, fakeIO(), scopeAs('A')))).toBe(TENANT_MISMATCH)
    const args = query.args[0]!
    expect(args.update).toEqual({})
    expect((args.where as Obj).wrappedDek).toBeInstanceOf(Uint8Array)
  })
})

describe('withCondition', () => {
  it('adds conditions as plain keys, or under AND when a key is taken or a value is null', () => {
    expect(withCondition({ id: 1 }, { wrappedDek: 'k' })).toEqual({ id: 1, wrappedDek: 'k' })
    expect(withCondition({ id: 1, wrappedDek: 'j' }, { wrappedDek: 'k' })).toEqual({ id: 1, wrappedDek: 'j', AND: [{ wrappedDek: 'k' }] })
    expect(withCondition({ id: 1, AND: [{ a: 1 }] }, { wrappedDek: null })).toEqual({ id: 1, AND: [{ a: 1 }, { wrappedDek: null }] })
  })
})
