import { KMSClient } from '@aws-sdk/client-kms'
import { AwsKmsKeyProvider, InMemoryTenantKeyStore, LocalKeyProvider, RowLevelEncryption } from './src'
import { KmsDevServer } from './src/kms-dev-server'
import { performance } from 'node:perf_hooks'
async function main() {
  const server = await KmsDevServer.start({ port: 0 })
  server.createKey({ alias: 'alias/m' })
  const client = new KMSClient({ endpoint: server.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'b', secretAccessKey: 'b' } })
  const aws = new AwsKmsKeyProvider({ client, keys: { v1: 'alias/m' }, activeVersion: 'v1', tenantKeyStore: new InMemoryTenantKeyStore() })
  const local = new LocalKeyProvider({ keys: { v1: Buffer.alloc(32, 3) }, activeVersion: 'v1' })
  const fields = ['email', 'name', 'ssn', 'notes']
  const mk = (p: any) => new RowLevelEncryption({ keyProvider: p, models: { C: { fields, idField: 'id' } } })
  const sets: Record<string, { rle: RowLevelEncryption; rows: any[] }> = {}
  for (const [n, p] of [
    ['local', local],
    ['aws', aws],
  ] as const) {
    const rle = mk(p)
    const rows = []
    for (let i = 0; i < 1000; i++)
      rows.push(await rle.encryptRow({ model: 'C', tenantId: 't', data: { id: `id-${i}`, email: `e${i}@x.io`, name: 'Name Name', ssn: '123-45-6789', notes: 'x'.repeat(1024) } }))
    sets[n] = { rle, rows }
  }
  const res: Record<string, number[]> = { local: [], aws: [] }
  for (let r = 0; r < 30; r++)
    for (const n of ['local', 'aws']) {
      const { rle, rows } = sets[n]!
      global.gc?.()
      const t = performance.now()
      await Promise.all(rows.map((row) => rle.decryptRow(row, { model: 'C', tenantId: 't' })))
      res[n]!.push(performance.now() - t)
    }
  for (const n of ['local', 'aws']) {
    const s = res[n]!.sort((a, b) => a - b)
    console.log(n, 'median', s[15]!.toFixed(2), 'min', s[0]!.toFixed(2))
  }
  await server.stop()
}
void main()
