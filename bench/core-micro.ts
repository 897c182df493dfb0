// `npm run bench:core`: rowcrypt's per-row crypto path without Prisma or a database, next to a
// throwaway sketch of the changes PROFILE.md suggests (cached field AADs, one-allocation context
// encoding, a synchronous unwrap, no concat/zero for field values, pooled randomness). The sketch
// is NOT library code: it re-implements LocalKeyProvider's unwrap inline (and checks it against
// the real one), only to show what the suggestions are worth. 1,000 rows of the bench data.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, randomFillSync } from 'node:crypto'
import { sortedSamples } from './timing'
import { LocalKeyProvider, RowLevelEncryption } from '../src'
import { encodeContext } from '../src/crypto/context'
import { parseCiphertext } from '../src/envelope/ciphertext'
import { BENCH_MASTER_KEY, ENCRYPTED_FIELDS } from './setup'
import { makeInputs } from './workloads'

const N = 1000
const REPS = Number(process.env.REPS ?? 30)
const TENANT = 'tenant-core'
const FIELDS = [...ENCRYPTED_FIELDS]

async function time(label: string, fn: () => unknown): Promise<void> {
  const s = await sortedSamples(fn, REPS)
  console.log(`${label.padEnd(64)} median ${s[Math.floor(s.length / 2)]!.toFixed(2).padStart(7)} ms   min ${s[0]!.toFixed(2).padStart(7)} ms`)
}

/** encodeContext with one allocation (same bytes). */
const DOMAIN = 'rowcrypt/context/v1'
function encodeContextOnce(c: Record<string, string>): Buffer {
  const keys = Object.keys(c).sort()
  let len = 4 + DOMAIN.length
  for (const k of keys) len += 8 + Buffer.byteLength(k) + Buffer.byteLength(c[k]!)
  const out = Buffer.allocUnsafe(len)
  let o = out.writeUInt32BE(DOMAIN.length, 0)
  o += out.write(DOMAIN, o, 'latin1')
  for (const k of keys) {
    const v = c[k]!
    o = out.writeUInt32BE(Buffer.byteLength(k), o)
    o += out.write(k, o)
    o = out.writeUInt32BE(Buffer.byteLength(v), o)
    o += out.write(v, o)
  }
  return out
}

async function main(): Promise<void> {
  const keyProvider = new LocalKeyProvider({ keys: { v1: BENCH_MASTER_KEY }, activeVersion: 'v1' })
  const rle = new RowLevelEncryption({ keyProvider, models: { Customer: { fields: FIELDS, idField: 'id' } } })
  const spec = rle.spec('Customer')
  const inputs = makeInputs(N, 1)
  const ids = inputs.map((_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`)
  const stored = await Promise.all(inputs.map((d, i) => rle.encryptRow({ model: 'Customer', data: { ...d, id: ids[i] }, tenantId: TENANT })))
  const fieldCtx = (f: string) => ({ purpose: 'field', format: 'rc1', alg: 'A256GCM', model: 'Customer', tenantId: TENANT, field: f, type: 's' })
  if (!encodeContextOnce(fieldCtx('notes')).equals(encodeContext(fieldCtx('notes')))) throw new Error('encodeContextOnce differs from src/crypto/context.ts')

  console.log(`rowcrypt core, ${N} rows of 4 fields (email, name, ssn, 1 KB notes), LocalKeyProvider; ${REPS} repetitions`)
  console.log('--- as it is (src/) ---')
  await time('decryptRow × N (Promise.all, as the query path does)', () => Promise.all(stored.map((r) => rle.decryptRow(r, { model: 'Customer', tenantId: TENANT }))))
  await time('decryptRow × N, synchronous path (openRowKeySync, as the query path does)', () => {
    for (const r of stored) {
      const k = rle.openRowKeySync(spec, r, TENANT)!
      try {
        k.decryptInto({ ...r }, r)
      } finally {
        k.dispose()
      }
    }
  })
  await time('encrypt × N, synchronous path (newRowKeySync + encryptInto, as create does)', () => {
    inputs.forEach((d, i) => {
      const k = rle.newRowKeySync(spec, TENANT, ids[i])!
      try {
        k.encryptInto({ ...d }, d as unknown as Record<string, unknown>, true)
      } finally {
        k.dispose()
      }
    })
  })
  await time('openRowKey × N (unwrap only)', async () => {
    for (const r of stored) (await rle.openRowKey(spec, r, TENANT)).dispose()
  })
  await time('encodeContext(field context) × 4N', () => {
    for (let i = 0; i < 4 * N; i++) encodeContext(fieldCtx('notes'))
  })
  await time('parseCiphertext × 4N', () => {
    for (const r of stored) for (const f of FIELDS) parseCiphertext(r[f])
  })
  await time('encryptRow × N', () => Promise.all(inputs.map((d, i) => rle.encryptRow({ model: 'Customer', data: { ...d, id: ids[i] }, tenantId: TENANT }))))
  await time('randomBytes: 5N × 12 B + N × 32 B (IVs and keys of N creates)', () => {
    for (let i = 0; i < 5 * N; i++) randomBytes(12)
    for (let i = 0; i < N; i++) randomBytes(32)
  })

  console.log('--- sketch of the suggestions (bench/PROFILE.md) ---')
  await time('encodeContext in one allocation × 4N', () => {
    for (let i = 0; i < 4 * N; i++) encodeContextOnce(fieldCtx('notes'))
  })
  const aadCache = new Map<string, Buffer>()
  const fieldAad = (f: string) => {
    const k = `Customer\u0000${TENANT}\u0000${f}`
    let a = aadCache.get(k)
    if (a === undefined) aadCache.set(k, (a = encodeContext(fieldCtx(f))))
    return a
  }
  await time('field AAD from a per-(model, tenant, field) cache × 4N', () => {
    for (let i = 0; i < 4 * N; i++) fieldAad('notes')
  })

  // LocalKeyProvider's wrapping key, derived as src/keys/local.ts does (checked below).
  const wrappingKey = Buffer.from(hkdfSync('sha256', Buffer.from(BENCH_MASTER_KEY, 'base64'), Buffer.alloc(0), Buffer.from('rowcrypt/local-key-provider/wrap/v1'), 32))
  const b64 = (t: string): Buffer => {
    const b = Buffer.from(t, 'base64url')
    // Canonical spelling only (this also rejects any character outside the alphabet).
    if (b.toString('base64url') !== t) throw new Error('not canonical base64url')
    return b
  }
  const leanDecrypt = (r: Record<string, unknown>): Record<string, unknown> => {
    const blob = (r.wrappedDek as Buffer).subarray(2)
    const d = createDecipheriv('aes-256-gcm', wrappingKey, blob.subarray(0, 12), { authTagLength: 16 })
    d.setAAD(encodeContextOnce({ purpose: 'row-dek', model: 'Customer', tenantId: TENANT, rowId: r.id as string, keyVersion: 'v1' }))
    d.setAuthTag(blob.subarray(44))
    const key = d.update(blob.subarray(12, 44))
    d.final()
    for (const f of FIELDS) {
      const v = r[f] as string
      const a = v.indexOf('.', 14)
      const iv = b64(v.slice(14, a))
      const body = b64(v.slice(a + 1))
      const dd = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
      dd.setAAD(fieldAad(f))
      dd.setAuthTag(body.subarray(body.length - 16))
      const pt = dd.update(body.subarray(0, body.length - 16))
      dd.final()
      r[f] = pt.toString('utf8')
    }
    key.fill(0)
    return r
  }
  const probe = leanDecrypt({ ...stored[5]! })
  if (probe.notes !== inputs[5]!.notes || probe.email !== inputs[5]!.email) throw new Error('the sketch no longer matches src/: update it')
  await time('sketch: decryptRow × N (sync, cached AADs, no concat/zero)', () => {
    for (const r of stored) leanDecrypt({ ...r })
  })

  const pool = Buffer.allocUnsafe(8192)
  let offset = pool.length
  const take = (n: number): Buffer => {
    if (offset + n > pool.length) {
      randomFillSync(pool)
      offset = 0
    }
    const b = Buffer.from(pool.subarray(offset, offset + n))
    pool.fill(0, offset, offset + n)
    offset += n
    return b
  }
  await time('sketch: pooled randomness, 5N × 12 B + N × 32 B', () => {
    for (let i = 0; i < 5 * N; i++) take(12)
    for (let i = 0; i < N; i++) take(32)
  })
  const leanEncrypt = (d: Record<string, unknown>, id: string): Record<string, unknown> => {
    const key = take(32)
    const iv = take(12)
    const c = createCipheriv('aes-256-gcm', wrappingKey, iv, { authTagLength: 16 })
    c.setAAD(encodeContextOnce({ purpose: 'row-dek', model: 'Customer', tenantId: TENANT, rowId: id, keyVersion: 'v1' }))
    const ct = c.update(key)
    c.final()
    const out: Record<string, unknown> = { ...d, id, wrappedDek: Buffer.concat([Buffer.from([1, 1]), iv, ct, c.getAuthTag()]), keyVersion: 'v1', tenantId: TENANT }
    for (const f of FIELDS) {
      const fiv = take(12)
      const cc = createCipheriv('aes-256-gcm', key, fiv, { authTagLength: 16 })
      cc.setAAD(fieldAad(f))
      const fct = cc.update(d[f] as string, 'utf8')
      cc.final()
      out[f] = `rc1.A256GCM.s.${fiv.toString('base64url')}.${Buffer.concat([fct, cc.getAuthTag()]).toString('base64url')}`
    }
    key.fill(0)
    return out
  }
  const check = leanEncrypt(inputs[3] as unknown as Record<string, unknown>, ids[3]!)
  const back = await rle.decryptRow(check, { model: 'Customer', tenantId: TENANT })
  if (back.notes !== inputs[3]!.notes) throw new Error('the encryption sketch no longer matches src/: update it')
  await time('sketch: encryptRow × N (pooled randomness, cached AADs, no concat)', () => {
    inputs.forEach((d, i) => leanEncrypt(d as unknown as Record<string, unknown>, ids[i]!))
  })
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
