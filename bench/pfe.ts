// prisma-field-encryption 1.6 (npm `prisma-field-encryption`), the bench's `pfe` variant: the most
// used field-encryption extension for Prisma, set up as its README says for a client without
// `Prisma.dmmf`: the `dmmf` option, read from the schema with @prisma/get-dmmf.
//
// Its client is generated from bench/prisma/pfe/schema.prisma (the `prisma-client-js` generator,
// the same "Customer" table as the other variants, `/// @encrypted` on email, name, ssn and notes)
// and connected through @prisma/adapter-pg to the bench's PostgreSQL schema. It stores its
// ciphertext (`v1.aesgcm256.<fingerprint>.<iv>.<ciphertext>`) in the same string columns, under one
// static key: no tenant, no key per row, rowcrypt's sidecar columns left null.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { PrismaPg } from '@prisma/adapter-pg'
import { getDMMF } from '@prisma/get-dmmf'
import { fieldEncryptionExtension } from 'prisma-field-encryption'
import { PrismaClient } from './generated/pfe-client'

/** The schema the `pfe` client is generated from (read again for its DMMF). */
export const PFE_SCHEMA = join(__dirname, 'prisma', 'pfe', 'schema.prisma')

/** A fixed key in its format (`k1.aesgcm256.` and 32 bytes in base64url): the bench measures speed, not secrecy. */
export const PFE_KEY = `k1.aesgcm256.${Buffer.alloc(32, 9).toString('base64url')}`

/** The base client of the `pfe` variant (no extension), on `schema` of the database at `url`. */
export function pfeBaseClient(url: string, schema: string): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: url }, { schema }) })
}

/** `base` with prisma-field-encryption, configured from the DMMF of bench/prisma/pfe/schema.prisma. */
export function extendPfe(base: PrismaClient) {
  const dmmf = getDMMF({ datamodel: readFileSync(PFE_SCHEMA, 'utf8') })
  if ('error' in dmmf) throw new Error(`reading ${PFE_SCHEMA}: ${dmmf.reason}`, { cause: dmmf.error })
  return base.$extends(fieldEncryptionExtension({ encryptionKey: PFE_KEY, dmmf }))
}

export type PfeClient = ReturnType<typeof extendPfe>
export type { PrismaClient as PfeBaseClient }
