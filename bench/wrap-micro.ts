// `npm run bench:wrap`: the cost of wrapping and unwrapping one row's data key, per provider and
// path, without Prisma or a database: LocalKeyProvider (master-derived key; per-tenant keys) and
// AwsKmsKeyProvider in hierarchical mode with a warm tenant key (against the in-process KMS dev
// server through the real SDK client), each through the synchronous fast path and the promise API,
// next to the constructions of earlier releases re-implemented inline (AES-256-GCM with a random
// 96-bit IV under one key; AES-256-GCM under HKDF-SHA256(tenant key, salt) per wrap). Medians of
// REPS repetitions of 1,000 operations.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { sortedSamples } from './timing'
import { KMSClient } from '@aws-sdk/client-kms'
import { AwsKmsKeyProvider, InMemoryTenantKeyStore, LocalKeyProvider, type BindingContext, type KeyProvider } from '../src'
import { encodeContext } from '../src/crypto/context'
import { KmsDevServer } from '../src/kms-dev-server'

const N = 1000
const REPS = Number(process.env.REPS ?? 25)
const MASTER = Buffer.alloc(32, 7)

async function time(label: string, fn: () => unknown): Promise<number> {
  const s = await sortedSamples(fn, REPS)
  const median = s[Math.floor(s.length / 2)]!
  console.log(`${label.padEnd(70)} ${((median * 1000) / N).toFixed(2).padStart(6)} µs/op   (min ${((s[0]! * 1000) / N).toFixed(2)})`)
  return median
}

const contexts: BindingContext[] = Array.from({ length: N }, (_, i) => ({ purpose: 'row-dek', model: 'Customer', tenantId: 'tenant-wrap', rowId: `row-${i}` }))

async function providerPaths(name: string, p: KeyProvider): Promise<void> {
  const made = await Promise.all(contexts.map((c) => p.generateDataKey(c)))
  await time(`${name}: generateDataKey (promise)`, () => Promise.all(contexts.map((c) => p.generateDataKey(c))))
  if (p.generateDataKeySync !== undefined) await time(`${name}: generateDataKeySync`, () => contexts.map((c) => p.generateDataKeySync!(c)))
  await time(`${name}: unwrapDataKey (promise)`, () => Promise.all(contexts.map((c, i) => p.unwrapDataKey(made[i]!.wrappedKey, 'v1', c))))
  if (p.unwrapDataKeySync !== undefined) {
    if (p.unwrapDataKeySync(made[0]!.wrappedKey, 'v1', contexts[0]!) === undefined) throw new Error(`${name}: the fast path did not answer`)
    await time(`${name}: unwrapDataKeySync`, () => contexts.map((c, i) => p.unwrapDataKeySync!(made[i]!.wrappedKey, 'v1', c)))
  }
}

async function main(): Promise<void> {
  console.log(`Node ${process.version}; ${N} operations per repetition, ${REPS} repetitions; µs per operation (median)\n`)
  // Earlier releases' constructions, inline.
  const kek = Buffer.from(hkdfSync('sha256', MASTER, Buffer.alloc(0), Buffer.from('legacy'), 32))
  const aads = contexts.map((c) => encodeContext({ ...c, keyVersion: 'v1' }))
  const dek = randomBytes(32)
  const gcmWrap = (key: Buffer, aad: Buffer) => {
    const iv = randomBytes(12)
    const c = createCipheriv('aes-256-gcm', key, iv).setAAD(aad)
    return Buffer.concat([iv, c.update(dek), c.final(), c.getAuthTag()])
  }
  const gcmUnwrap = (key: Buffer, blob: Buffer, aad: Buffer) => {
    const d = createDecipheriv('aes-256-gcm', key, blob.subarray(0, 12)).setAAD(aad)
    d.setAuthTag(blob.subarray(44))
    return Buffer.concat([d.update(blob.subarray(12, 44)), d.final()])
  }
  const legacy = aads.map((aad) => gcmWrap(kek, aad))
  await time('earlier LocalKeyProvider: AES-256-GCM wrap, one key, random 96-bit IV', () => aads.map((aad) => gcmWrap(kek, aad)))
  await time('earlier LocalKeyProvider: AES-256-GCM unwrap', () => aads.map((aad, i) => gcmUnwrap(kek, legacy[i]!, aad)))
  const hkdfWrap = (aad: Buffer) => {
    const salt = randomBytes(16)
    return [salt, gcmWrap(Buffer.from(hkdfSync('sha256', kek, salt, Buffer.from('legacy-row'), 32)), aad)] as const
  }
  const hk = aads.map(hkdfWrap)
  await time('earlier AWS hierarchical: HKDF-SHA256 + AES-256-GCM wrap', () => aads.map(hkdfWrap))
  await time('earlier AWS hierarchical: HKDF-SHA256 + AES-256-GCM unwrap', () =>
    aads.map((aad, i) => gcmUnwrap(Buffer.from(hkdfSync('sha256', kek, hk[i]![0], Buffer.from('legacy-row'), 32)), hk[i]![1], aad)),
  )
  console.log()

  await providerPaths('LocalKeyProvider', new LocalKeyProvider({ keys: { v1: MASTER }, activeVersion: 'v1' }))
  await providerPaths('LocalKeyProvider (tenant keys)', new LocalKeyProvider({ keys: { v1: MASTER }, activeVersion: 'v1', tenantKeyStore: new InMemoryTenantKeyStore() }))
  const server = await KmsDevServer.start({ port: 0 })
  server.createKey({ alias: 'alias/wrap-v1' })
  try {
    const client = new KMSClient({ endpoint: server.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } })
    await providerPaths('AwsKmsKeyProvider (hierarchical, warm)', new AwsKmsKeyProvider({ client, keys: { v1: 'alias/wrap-v1' }, activeVersion: 'v1', tenantKeyStore: new InMemoryTenantKeyStore() }))
  } finally {
    await server.stop()
  }
}

void main()
