// The one place that builds the bench's variants (used by bench/run.ts and the bench smoke test).
//
//   plain         plain Prisma 7 on the table, the tenant filtered by hand
//   noop-ext      plain Prisma behind a pass-through query extension, inside withTenant
//   rowcrypt      rowcrypt with LocalKeyProvider
//   rowcrypt-rls  the same with `rls: true` and its driver adapter wrapped with withRlsPinning (so
//                 the tenant is pinned per connection), on a client connected as a restricted role
//                 (no SUPERUSER, no BYPASSRLS) after rowcrypt's policies are applied to the table
//   rowcrypt-rls-tx  the same with `rls: { pinning: 'transaction' }` (set_config in a transaction
//                 around each statement) on a plain adapter
//   rowcrypt-kms  rowcrypt with AwsKmsKeyProvider (hierarchical) against a local KMS server (bench/kms.ts)
//   bound         the least a per-row-key, per-field AES-256-GCM extension can cost (workloads.ts boundTarget)
//   bound-twin    a second, identical instance of the bound: an A/A control (its ratio to the bound
//                 is what the harness alone makes of two equal variants in the run)
//   bound-cas     the bound with rowcrypt's compare-and-swap condition on updates (the wrapped key in
//                 the update's where): update workloads only
//   rowcrypt-core rowcrypt's cryptography (RowLevelEncryption) in a bare query hook, without its query
//                 engine: findUnique and the update workloads (rows written through rowcrypt)
//   bound-row     the same for one GCM message per row (a format rowcrypt does not use; for comparison)
//   rowcrypt-kms-cold  rowcrypt-kms on a new provider and client per repetition: the repetition's
//                 first call loads the tenant key from the store through KMS Decrypt
//   pfe           prisma-field-encryption 1.6 (bench/pfe.ts): one static key, no tenant, no key per row
//
// `freshTarget` makes a new instance of a variant (empty caches, same database and keys): the cold
// workloads and rowcrypt-kms-cold run on one per repetition.
import { loadKmsVariant, type KmsLoad, type KmsVariant } from './kms'
import { RowLevelEncryption } from '../src/fields/row'
import { ENCRYPTED_FIELDS, extend, extendNoop, localKeyProvider, type BenchDatabase } from './setup'
import { boundRowTarget, boundTarget, noopExtensionTarget, pfeTarget, plainTarget, rowcryptCoreTarget, rowcryptTarget, type Target, type Workload } from './workloads'

export const VARIANT_NAMES = [
  'plain',
  'noop-ext',
  'bound',
  'bound-twin',
  'bound-cas',
  'bound-row',
  'rowcrypt',
  'rowcrypt-core',
  'rowcrypt-rls',
  'rowcrypt-rls-tx',
  'rowcrypt-kms',
  'rowcrypt-kms-cold',
  'pfe',
] as const
export type VariantName = (typeof VARIANT_NAMES)[number]

export interface BuiltVariant {
  /** Undefined when the variant cannot run here (`status` says why). */
  target?: Target
  /** The KMS handle of `rowcrypt-kms` (request counts, cold providers, the server to stop). */
  kms?: KmsVariant
  status?: string
  /** Runs every repetition on a new instance (`freshTarget`), not only the cold workloads. */
  freshEachRepetition?: boolean
  /** Makes the variant's new instances, where building it again would not do (`freshTarget`). */
  fresh?: () => Target
}

// Variants that differ from another only in some workloads run only those.
const UPDATES: ReadonlySet<Workload['name']> = new Set(['update', 'updateCold'])
const ONLY_WORKLOADS: Partial<Record<VariantName, ReadonlySet<Workload['name']>>> = { 'bound-cas': UPDATES, 'rowcrypt-core': new Set([...UPDATES, 'findUnique']) }

/** True when variant `name` runs workload `w`. */
export function runsWorkload(name: string, w: Workload): boolean {
  if (w.variants !== undefined && !w.variants.includes(name)) return false
  return ONLY_WORKLOADS[name as VariantName]?.has(w.name) ?? true
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
    case 'bound-twin':
      return { target: { ...boundTarget(extendNoop(db.base)), name } }
    case 'bound-cas':
      return { target: { ...boundTarget(extendNoop(db.base), undefined, { cas: true }), name } }
    case 'bound-row':
      return { target: boundRowTarget(extendNoop(db.base)) }
    case 'rowcrypt':
      return { target: rowcryptTarget(name, extend(db.base, localKeyProvider())) }
    case 'rowcrypt-core': {
      const provider = localKeyProvider()
      const rle = new RowLevelEncryption({ keyProvider: provider, models: { Customer: { fields: [...ENCRYPTED_FIELDS], idField: 'id' } } })
      return { target: rowcryptCoreTarget(rowcryptTarget(name, extend(db.base, provider)), db.base, rle) }
    }
    case 'rowcrypt-rls':
      return {
        target: rowcryptTarget(name, extend(await db.rlsClient('adapter'), localKeyProvider(), { rls: true })),
        status: 'rls: true on an adapter wrapped with withRlsPinning (adapter pinning), policies of rlsPolicySql, restricted role',
      }
    case 'rowcrypt-rls-tx':
      return {
        target: rowcryptTarget(name, extend(await db.rlsClient('transaction'), localKeyProvider(), { rls: { pinning: 'transaction' } })),
        status: "rls: { pinning: 'transaction' }, policies of rlsPolicySql, restricted role",
      }
    case 'rowcrypt-kms': {
      const load = await kmsFor(db)
      if (load.variant === undefined) return { status: load.status }
      // Warm: new instances keep the provider (its tenant key stays cached); only the client is new.
      const provider = load.variant.newProvider()
      const fresh = () => rowcryptTarget(name, extend(db.base, provider))
      return { target: fresh(), fresh, kms: load.variant, status: load.status }
    }
    case 'rowcrypt-kms-cold': {
      const load = await kmsFor(db)
      const kms = load.variant
      if (kms === undefined) return { status: load.status }
      const fresh = () => rowcryptTarget(name, extend(db.base, kms.newProvider()))
      return { target: fresh(), fresh, kms, status: `${load.status}; a new provider and client every repetition`, freshEachRepetition: true }
    }
    case 'pfe':
      return { target: pfeTarget(db.pfeClient()), status: 'prisma-field-encryption 1.6, dmmf from @prisma/get-dmmf, prisma-client-js client' }
  }
}

/**
 * A new instance of a built variant, on the same database with the same keys (it reads the rows
 * the first instance wrote): a new client extension (no known rows) and key provider. Except that
 * rowcrypt-kms keeps its provider, whose tenant key stays cached (its cold update is cold in rows,
 * warm in keys), and rowcrypt-kms-cold gets a new AwsKmsKeyProvider on the same KMS server and
 * tenant key store (cold in both). Variants without caches (plain, noop-ext, bound-row, pfe) are
 * built anew too.
 */
export async function freshTarget(db: BenchDatabase, name: VariantName, built: BuiltVariant): Promise<Target> {
  if (built.fresh !== undefined) return built.fresh()
  const again = await buildVariant(db, name)
  if (again.target === undefined) throw new Error(`variant ${name}: ${again.status}`)
  return again.target
}

// One KMS server and tenant key store per bench database, shared by the KMS variants (and stopped
// once, by whichever stops it first).
const kmsLoads = new WeakMap<BenchDatabase, Promise<KmsLoad>>()

function kmsFor(db: BenchDatabase): Promise<KmsLoad> {
  let load = kmsLoads.get(db)
  if (load === undefined) {
    load = loadKmsVariant().then((l) => {
      if (l.variant === undefined) return l
      let stopped: Promise<void> | undefined
      const v = l.variant
      return { ...l, variant: { ...v, stop: () => (stopped ??= v.stop()) } }
    })
    kmsLoads.set(db, load)
  }
  return load
}
