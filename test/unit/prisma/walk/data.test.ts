import { checkData } from '../../../../src/prisma/walk/data'
import { OPERATION_KEYS } from '../../../../src/prisma/walk/grammar'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { codeOf, info, walkAs } from './fixture'

const UNSUPPORTED = 'ERR_ROWCRYPT_UNSUPPORTED_QUERY'

describe('checkData', () => {
  it('accepts columns, update operations and every nested write Prisma defines', () => {
    const w = walkAs('A')
    expect(codeOf(() => checkData(w, info('Team'), { name: 'x', meta: { any: { json: 1 } }, members: { create: [{ name: 'n', email: 'e' }], connect: { id: 1 } } }, 'create', 'data'))).toBeUndefined()
    const update = {
      name: { set: 'y' },
      ownerId: { increment: 1 },
      owner: { update: { name: 'o' } },
      members: { updateMany: { where: {}, data: { name: 'm' } }, deleteMany: {}, upsert: [{ where: { id: 1 }, create: { name: 'a', email: 'b' }, update: { name: 'c' } }] },
      profile: { disconnect: true },
    }
    expect(codeOf(() => checkData(w, info('Team'), update, 'update', 'data'))).toBeUndefined()
  })

  it('refuses unknown columns, unknown operations and nested writes a create cannot hold, naming the path', () => {
    const w = walkAs('A')
    const cases: Array<[string, unknown, 'create' | 'update', string]> = [
      ['Team', { nope: 1 }, 'create', 'data.nope'],
      ['Team', { members: { create: { name: 'n', email: 'e', shoe: 1 } } }, 'create', 'data.members.create.shoe'],
      ['Team', { members: { set: [] } }, 'create', 'data.members.set'],
      ['Team', { members: { frobnicate: {} } }, 'update', 'data.members.frobnicate'],
      ['Team', { owner: { updateMany: {} } }, 'update', 'data.owner.updateMany'],
      ['Team', { name: { append: 'x' } }, 'update', 'data.name.append'],
      ['Team', { members: { disconnect: true } }, 'update', 'data.members.disconnect'],
      ['Team', { members: { upsert: { where: { id: 1 }, create: {}, update: {}, extra: 1 } } }, 'update', 'data.members.upsert.extra'],
    ]
    for (const [model, data, kind, path] of cases) {
      let error: unknown
      try {
        checkData(w, info(model), data, kind, 'data')
      } catch (e) {
        error = e
      }
      expect([path, (error as { code?: string } | undefined)?.code]).toEqual([path, UNSUPPORTED])
      expect((error as Error).message).toContain(path)
    }
  })
})

describe('the README supported-operations table and the walk', () => {
  it('name the same top-level operations', () => {
    const readme = readFileSync(join(__dirname, '../../../../README.md'), 'utf8')
    const section = readme.slice(readme.indexOf('## Supported operations'), readme.indexOf('\n## ', readme.indexOf('## Supported operations') + 5))
    const rows = section.split('\n').filter((l) => l.startsWith('| `'))
    const named = new Set(rows.flatMap((r) => [...r.split('|')[1]!.matchAll(/`([a-zA-Z]+)`/g)].map((m) => m[1]!)))
    for (const op of OPERATION_KEYS.keys()) expect([op, named.has(op)]).toEqual([op, true])
  })
})
