// A small schema for the query walk's unit tests: a shared (unscoped) Team with a to-many of
// scoped members, a to-one owner and a one-to-one back relation to a scoped Profile.
import { buildModelTable, type ModelInfo, type RowcryptOptions } from '../../../../src/prisma/config'
import type { Manifest, ManifestField } from '../../../../src/prisma/manifest'
import { Scope } from '../../../../src/prisma/scope'
import { LocalKeyProvider } from '../../../../src'
import type { Walk } from '../../../../src/prisma/walk/where'

const scalar = (type: string, extra: Partial<ManifestField> = {}): ManifestField => ({ kind: 'scalar', type, isList: false, isRequired: true, isId: false, ...extra })
const object = (type: string, isList: boolean, from?: string[], to?: string[]): ManifestField => ({
  kind: 'object',
  type,
  isList,
  isRequired: false,
  isId: false,
  ...(from ? { relationFromFields: from, relationToFields: to } : {}),
})
const sidecars = { wrappedDek: scalar('Bytes', { isRequired: false }), keyVersion: scalar('String', { isRequired: false }), tenantId: scalar('String') }

export const manifest: Manifest = {
  version: 1,
  provider: 'sqlite',
  models: {
    Team: {
      primaryKey: ['id'],
      fields: {
        id: scalar('Int', { isId: true }),
        name: scalar('String'),
        meta: scalar('Json', { isRequired: false }),
        ownerId: scalar('Int', { isRequired: false }),
        owner: object('User', false, ['ownerId'], ['id']),
        members: object('User', true),
        profile: object('Profile', false),
      },
    },
    User: {
      primaryKey: ['id'],
      fields: {
        id: scalar('Int', { isId: true }),
        name: scalar('String'),
        email: scalar('String'),
        ...sidecars,
        teamId: scalar('Int', { isRequired: false }),
        team: object('Team', false, ['teamId'], ['id']),
        posts: object('Post', true),
        ownedTeams: object('Team', true),
      },
    },
    Post: {
      primaryKey: ['id'],
      uniques: [{ fields: ['authorId', 'slug'] }],
      fields: {
        id: scalar('String', { isId: true }),
        slug: scalar('String'),
        title: scalar('String'),
        ...sidecars,
        authorId: scalar('Int'),
        author: object('User', false, ['authorId'], ['id']),
      },
    },
    Profile: {
      primaryKey: ['id'],
      uniques: [{ fields: ['teamId'] }],
      fields: {
        id: scalar('Int', { isId: true }),
        bio: scalar('String'),
        ...sidecars,
        teamId: scalar('Int', { isRequired: false }),
        team: object('Team', false, ['teamId'], ['id']),
      },
    },
  },
}

export const table: ReadonlyMap<string, ModelInfo> = buildModelTable({
  schema: manifest,
  keyProvider: new LocalKeyProvider({ keys: { v1: Buffer.alloc(32, 7) }, activeVersion: 'v1' }),
  models: { User: { fields: ['email'] }, Post: { fields: ['title'] }, Profile: { fields: ['bio'] } },
} as unknown as RowcryptOptions)

/** A walk as tenant `A` (or inside a bypass). */
export function walkAs(tenantId: string | null = 'A', bypass = false): Walk {
  return { table, scope: new Scope(tenantId ?? undefined, bypass, { rowsEncrypted: 0, rowsDecrypted: 0, rowsPlaintext: 0 }, () => new Set<string>()) }
}

export const info = (model: string): ModelInfo => table.get(model)!

/** The code of what `fn` throws. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (e) {
    return (e as { code?: string }).code
  }
  return undefined
}
