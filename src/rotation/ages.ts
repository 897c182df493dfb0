// Key ages for rotation and status: the `--older-than` duration, the key versions (and tenant keys)
// a rotation by age moves rows off, computed once before the rotation starts, and the creation
// times `status` shows beside its row counts.
import { cacheKey } from '../crypto/cache-key'
import { ConfigError, KeyTooOldError, KeyVersionError, RowcryptError, type TooOldKey } from '../errors'
import type { KeyProvider } from '../keys/provider'
import { mapLimited } from './limits'
import { bypass, type ModelTarget, type RotationContext } from './target'

/** Milliseconds in a day. */
export const DAY_MS = 86_400_000
const HOUR_MS = 3_600_000
const AGE = /^([1-9][0-9]{0,5})([dh])$/
// Tenant-key look-ups (tenant key store reads) in flight at once.
const LOOKUPS = 8

/**
 * Parses a key age limit: `Nd` (days) or `Nh` (hours), N a positive integer; or a number of
 * milliseconds. Undefined for anything else.
 *
 * @example
 * ```ts
 * parseAge('90d') // 7_776_000_000
 * parseAge('12h') // 43_200_000
 * parseAge('3w') // undefined
 * ```
 */
export function parseAge(input: unknown): number | undefined {
  if (typeof input === 'number') return Number.isSafeInteger(input) && input > 0 ? input : undefined
  if (typeof input !== 'string') return undefined
  const m = AGE.exec(input)
  if (m === null) return undefined
  return Number(m[1]) * (m[2] === 'd' ? DAY_MS : HOUR_MS)
}

/** @internal The time `now` (default: the system clock) gives; `ConfigError` unless a valid Date. */
export function clock(now: unknown, caller: string): Date {
  if (now !== undefined && typeof now !== 'function') throw new ConfigError(`${caller}: now must be a function returning a Date`)
  const d: unknown = now === undefined ? new Date() : (now as () => unknown)()
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new ConfigError(`${caller}: now() must return a valid Date`)
  return d
}

/** Whole days from `from` to `to` (0 when `from` is later). */
export const ageDays = (from: Date, to: Date): number => Math.max(0, Math.floor((to.getTime() - from.getTime()) / DAY_MS))

/** Whole seconds from `from` to `to` (0 when `from` is later). */
export const ageSeconds = (from: Date, to: Date): number => Math.max(0, Math.floor((to.getTime() - from.getTime()) / 1000))

/** @internal What a rotation by age moves: whole key versions, and tenants' keys under other versions. */
export interface AgeSelection {
  readonly versions: string[]
  readonly tenantVersions: Array<{ readonly tenantId: string; readonly keyVersion: string }>
}

/** @internal The key versions in use across `targets` and, per version, the tenants with rows under it. */
async function versionsInUse(ctx: RotationContext, targets: readonly ModelTarget[], tenantId: string | undefined, withTenants: boolean): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>()
  for (const t of targets) {
    const cols = withTenants ? `${t.keyVersion} AS v, ${t.tenantId} AS t` : `${t.keyVersion} AS v`
    const group = withTenants ? `${t.keyVersion}, ${t.tenantId}` : t.keyVersion
    const where = `${t.keyVersion} IS NOT NULL AND ${t.wrappedDek} IS NOT NULL AND ${t.tenantId} <> ''${tenantId === undefined ? '' : ` AND ${t.tenantId} = ${t.param(1)}`}`
    const params = tenantId === undefined ? [] : [tenantId]
    const rows = (await bypass(`rowcrypt rotate: key ages of ${t.model}`, () => ctx.client.$queryRawUnsafe(`SELECT ${cols} FROM ${t.table} WHERE ${where} GROUP BY ${group}`, ...params))) as Array<{
      v: unknown
      t?: unknown
    }>
    for (const r of rows) {
      if (typeof r.v !== 'string') continue
      let tenants = out.get(r.v)
      if (tenants === undefined) out.set(r.v, (tenants = new Set()))
      if (typeof r.t === 'string') tenants.add(r.t)
    }
  }
  return out
}

/**
 * @internal The selection of a rotation by age (`olderThan`): every key version in use created
 * before `now - olderThanMs`, and (providers with tenant keys) every tenant whose key under another
 * version in use is that old. Fails closed: a version in use (or the target) of unknown age is a
 * `ConfigError`; a target version or target tenant key that is itself too old is a `KeyTooOldError`,
 * since moving rows onto it cannot make them younger.
 */
export async function selectByAge(
  ctx: RotationContext,
  targets: readonly ModelTarget[],
  o: { olderThanMs: number; label: string; now: Date; toVersion: string; tenantId: string | undefined },
  caller: string,
): Promise<AgeSelection> {
  const provider = ctx.core.keyProvider
  if (typeof provider.keyCreatedAt !== 'function') {
    throw new ConfigError(`${caller}: olderThan needs a key provider that reports when its keys were created (keyCreatedAt; LocalKeyProvider and AwsKmsKeyProvider take a createdAt option)`)
  }
  const tenantAge = typeof provider.tenantKeyCreatedAt === 'function' ? provider.tenantKeyCreatedAt.bind(provider) : undefined
  const cutoff = o.now.getTime() - o.olderThanMs
  const inUse = await versionsInUse(ctx, targets, o.tenantId, tenantAge !== undefined)
  const versions = [...new Set([...inUse.keys(), o.toVersion])].sort()
  const created = await creationTimes(provider, versions)
  const unknown = versions.filter((v) => created.get(v) === undefined)
  if (unknown.length > 0) {
    throw new ConfigError(
      `${caller}: the creation time of key version ${unknown.join(', ')} is unknown, so its age cannot be compared with olderThan; give the key provider createdAt for ${unknown.length === 1 ? 'it' : 'them'}`,
    )
  }
  const old = (d: Date | undefined) => d !== undefined && d.getTime() < cutoff
  const tooOld: TooOldKey[] = []
  if (old(created.get(o.toVersion))) tooOld.push({ keyVersion: o.toVersion, createdAt: created.get(o.toVersion)! })
  const tenants = [...new Set([...inUse.values()].flatMap((s) => [...s]))].sort()
  if (tenantAge !== undefined) {
    // Rows of every tenant end up under its key of the target version.
    const times = await mapLimited(tenants, LOOKUPS, (t) => tenantAge(t, o.toVersion))
    tenants.forEach((tenantId, i) => {
      if (old(times[i])) tooOld.push({ keyVersion: o.toVersion, tenantId, createdAt: times[i]! })
    })
  }
  if (tooOld.length > 0) {
    const what = tooOld.map(
      (k) => `${k.tenantId !== undefined ? `tenant ${k.tenantId}'s key under ` : ''}${k.keyVersion} (created ${k.createdAt.toISOString()}, ${ageDays(k.createdAt, o.now)} days ago)`,
    )
    throw new KeyTooOldError(
      `${caller}: the target key is older than ${o.label}: ${what.join('; ')}. Rotating onto it cannot make rows younger: add a new key version, make it active, then rotate again`,
      tooOld,
    )
  }
  const stale = versions.filter((v) => v !== o.toVersion && old(created.get(v)))
  const tenantVersions: AgeSelection['tenantVersions'] = []
  if (tenantAge !== undefined) {
    const pairs = [...inUse.entries()].filter(([v]) => v !== o.toVersion && !stale.includes(v)).flatMap(([v, ts]) => [...ts].sort().map((tenantId) => ({ tenantId, keyVersion: v })))
    const times = await mapLimited(pairs, LOOKUPS, (p) => tenantAge(p.tenantId, p.keyVersion))
    pairs.forEach((p, i) => {
      if (old(times[i])) tenantVersions.push(p)
    })
  }
  return { versions: stale, tenantVersions }
}

/**
 * @internal Creation times of `versions`: undefined where the provider does not know one, or does
 * not have the version (rows left under a retired version). With `onError`, a failed look-up (KMS
 * unreachable or refusing `DescribeKey`) is reported there and counts as unknown; without, it throws.
 */
export async function creationTimes(provider: KeyProvider, versions: readonly string[], onError?: (keyVersion: string, e: RowcryptError) => void): Promise<Map<string, Date | undefined>> {
  const out = new Map<string, Date | undefined>()
  for (const v of versions) {
    let d: Date | undefined
    try {
      d = typeof provider.keyCreatedAt === 'function' ? await provider.keyCreatedAt(v) : undefined
    } catch (e) {
      if (!(e instanceof KeyVersionError) && (onError === undefined || !(e instanceof RowcryptError))) throw e
      if (!(e instanceof KeyVersionError)) onError!(v, e)
    }
    out.set(v, d instanceof Date ? d : undefined)
  }
  return out
}

/** @internal Creation times of tenants' keys, for the `(tenantId, keyVersion)` pairs given; only those known. */
export async function tenantCreationTimes(provider: KeyProvider, pairs: ReadonlyArray<{ tenantId: string; keyVersion: string }>): Promise<Map<string, Date>> {
  const out = new Map<string, Date>()
  const tenantAge = provider.tenantKeyCreatedAt
  if (typeof tenantAge !== 'function') return out
  const times = await mapLimited(pairs, LOOKUPS, (p) => tenantAge.call(provider, p.tenantId, p.keyVersion))
  pairs.forEach((p, i) => {
    const d = times[i]
    if (d !== undefined) out.set(cacheKey(p.tenantId, p.keyVersion), d)
  })
  return out
}
