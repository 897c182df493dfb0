// The one place that builds the bench's variants (used by bench/run.ts and the bench smoke test).
//
//   plain         plain Prisma 7 on the table, the tenant filtered by hand
//   noop-ext      plain Prisma behind a pass-through query extension, inside withTenant
//   rowcrypt      rowcrypt with LocalKeyProvider
//   rowcrypt-rls  the same with `rls: { pinning: 'adapter' }` and its driver adapter wrapped with
//                 withRlsPinning, on a client connected as a restricted role (no SUPERUSER, no
//                 BYPASSRLS) after rowcrypt's policies are applied to the table
//   rowcrypt-rls-tx  the same with `rls: true` (pinning 'transaction': set_config in a transaction
//                 around each statement) on a plain adapter
//   rowcrypt-kms  rowcrypt with AwsKmsKeyProvider (hierarchical) against a local KMS server (bench/kms.ts)
//   bound         the least a per-row-key, per-field AES-256-GCM extension can cost (workloads.ts boundTarget)
//   bound-row     the same for one GCM message per row (a format rowcrypt does not use; for comparison)
import { loadKmsVariant, type KmsVariant } from './kms'
import { extend, extendNoop, localKeyProvider, type BenchDatabase } from './setup'
import { boundRowTarget, boundTarget, noopExtensionTarget, plainTarget, rowcryptTarget, type Target } from './workloads'

export const VARIANT_NAMES = ['plain', 'noop-ext', 'bound', 'bound-row', 'rowcrypt', 'rowcrypt-rls', 'rowcrypt-rls-tx', 'rowcrypt-kms'] as const
export type VariantName = (typeof VARIANT_NAMES)[number]

export interface BuiltVariant {
  /** Undefined when the variant cannot run here (`status` says why). */
  target?: Target
  /** The KMS handle of `rowcrypt-kms` (request counts, cold providers, the server to stop). */
  kms?: KmsVariant
  status?: string
}

export function isVariantName(name: string): name is VariantName {
  return (VARIANT_NAMES as readonly string[]).includes(name)
}

/** Builds one variant on `db`. */
export async function buildVariant(db: BenchDatabase, name: VariantName): Promise<BuiltVariant> {
  switch (name) {
    case 'plain':
      return { target: plainTarget(db.base) }
    case 'noop-ext':
      return { target: noopExtensionTarget(extendNoop(db.base)) }
    case 'bound':
      return { target: boundTarget(extendNoop(db.base)) }
    case 'bound-row':
      return { target: boundRowTarget(extendNoop(db.base)) }
    case 'rowcrypt':
      return { target: rowcryptTarget(name, extend(db.base, localKeyProvider())) }
    case 'rowcrypt-rls':
      return {
        target: rowcryptTarget(name, extend(await db.rlsClient('adapter'), localKeyProvider(), { rls: { pinning: 'adapter' } })),
        status: "rls: { pinning: 'adapter' }, withRlsPinning, policies of rlsPolicySql, restricted role",
      }
    case 'rowcrypt-rls-tx':
      return { target: rowcryptTarget(name, extend(await db.rlsClient('transaction'), localKeyProvider(), { rls: true })), status: 'rls: true, policies of rlsPolicySql, restricted role' }
    case 'rowcrypt-kms': {
      const load = await loadKmsVariant()
      if (load.variant === undefined) return { status: load.status }
      return { target: rowcryptTarget(name, extend(db.base, load.variant.newProvider())), kms: load.variant, status: load.status }
    }
  }
}
