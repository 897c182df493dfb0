// The shared KeyProvider contract, against every provider rowcrypt ships.
import { InMemoryTenantKeyStore, LocalKeyProvider } from '../../../src'
import type { KmsDevServer } from '../../../src/kms-dev-server'
import { keyProviderConformance } from '../../support/key-provider-conformance'
import { awsProvider, startKms } from '../../support/kms'

const K1 = Buffer.alloc(32, 0x11)
const K2 = Buffer.alloc(32, 0x22)

keyProviderConformance('LocalKeyProvider', async () => ({
  provider: new LocalKeyProvider({ keys: { v1: K1, v2: K2, v1same: K1 }, activeVersion: 'v1' }),
}))

keyProviderConformance('LocalKeyProvider (tenant keys)', async () => {
  const tenantKeyStore = new InMemoryTenantKeyStore()
  const make = () => new LocalKeyProvider({ keys: { v1: K1, v2: K2, v1same: K1 }, activeVersion: 'v1', tenantKeyStore })
  const provider = make()
  return { provider, shredding: { shred: (t) => provider.shredTenant(t), anotherProcess: make } }
})

let kms: KmsDevServer
beforeAll(async () => {
  kms = (await startKms()).server
})
afterAll(() => kms.stop())

const awsKeys = { v1: 'alias/test-v1', v2: 'alias/test-v2', v1same: 'alias/test-v1' }

keyProviderConformance('AwsKmsKeyProvider (hierarchical)', async () => {
  const tenantKeyStore = new InMemoryTenantKeyStore()
  const make = () => awsProvider(kms, { mode: 'hierarchical', keys: awsKeys, tenantKeyStore })
  const provider = make()
  return { provider, shredding: { shred: (t) => provider.shredTenant(t), anotherProcess: make } }
})

keyProviderConformance('AwsKmsKeyProvider (direct)', async () => ({
  provider: awsProvider(kms, { mode: 'direct', keys: awsKeys }),
}))
