// =================================================================================================
// HOOK: the AWS KMS hierarchical variant (issue 8 item 1; the provider and server are issue 4).
//
// `AwsKmsKeyProvider` (src/keys/aws-kms.ts) and the local KMS-compatible server
// (src/kms/dev-server.ts) are loaded here dynamically: a change of their API makes this variant
// report "not available: ..." instead of breaking the bench. The one place to adjust is
// `loadKmsVariant()`.
//
//   - variant `rowcrypt-kms`: rowcrypt with AwsKmsKeyProvider in hierarchical mode (the default),
//     a real @aws-sdk/client-kms KMSClient pointed at an in-process KmsDevServer, and an
//     in-memory tenant key store shared by every provider of the run;
//   - `calls()`: the server's request count; the bench records its difference over each
//     repetition ("KMS calls" per workload);
//   - `newProvider()`: a provider with a cold cache (same store), for the check
//     "cold findMany of 1,000 rows of one tenant: at most 1 KMS call".
// =================================================================================================
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { KeyProvider } from '../src'

export interface KmsVariant {
  readonly name: string
  /** A hierarchical-mode provider with a cold cache (the tenant key store is shared). */
  newProvider(): KeyProvider
  /** KMS requests the local server has received so far (all operations). */
  calls(): number
  /** Requests per operation so far. */
  callsByOperation(): Record<string, number>
  stop(): Promise<void>
}

export interface KmsLoad {
  /** `available: ...`, or why the variant is not run. */
  status: string
  variant?: KmsVariant
}

const SRC = join(__dirname, '..', 'src')

interface DevServer {
  endpoint: string
  createKey(o: { alias?: string; description?: string }): { keyId: string; arn: string }
  callCount(operation?: string): number
  calls(): Record<string, number>
  stop(): Promise<void>
}

/* eslint-disable @typescript-eslint/no-require-imports -- loaded dynamically, as the header says */
export async function loadKmsVariant(): Promise<KmsLoad> {
  const providerFile = join(SRC, 'keys', 'aws-kms.ts')
  const serverFile = join(SRC, 'kms', 'dev-server.ts')
  const missing = [providerFile, serverFile].filter((f) => !existsSync(f)).map((f) => f.slice(SRC.length - 3))
  if (missing.length > 0) return { status: `not available: ${missing.join(' and ')} do not exist yet` }
  let server: DevServer | undefined
  try {
    const { AwsKmsKeyProvider } = require('../src/keys/aws-kms') as { AwsKmsKeyProvider: new (o: Record<string, unknown>) => KeyProvider }
    const { InMemoryTenantKeyStore } = require('../src/keys/tenant-key-store') as { InMemoryTenantKeyStore: new () => unknown }
    const { KmsDevServer } = require('../src/kms-dev-server') as { KmsDevServer: { start(o: Record<string, unknown>): Promise<DevServer> } }
    const { KMSClient } = require('@aws-sdk/client-kms') as { KMSClient: new (o: Record<string, unknown>) => unknown }
    if (typeof AwsKmsKeyProvider !== 'function' || typeof KmsDevServer?.start !== 'function') throw new Error('unexpected exports')

    const s = await KmsDevServer.start({ port: 0 })
    server = s
    const alias = 'alias/rowcrypt-bench'
    s.createKey({ alias, description: 'rowcrypt bench' })
    const client = new KMSClient({ endpoint: s.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' }, maxAttempts: 3 })
    const store = new InMemoryTenantKeyStore()
    const newProvider = () => new AwsKmsKeyProvider({ client, keys: { v1: alias }, activeVersion: 'v1', mode: 'hierarchical', tenantKeyStore: store })
    // Fail here, not in the middle of the bench, if the wiring does not work.
    const probe = newProvider()
    const dk = await probe.generateDataKey({ purpose: 'row-dek', model: 'Customer', tenantId: 'kms-probe' })
    await probe.unwrapDataKey(dk.wrappedKey, dk.keyVersion, { purpose: 'row-dek', model: 'Customer', tenantId: 'kms-probe' })
    return {
      status: 'available: AwsKmsKeyProvider, hierarchical mode, against an in-process KmsDevServer (no added latency)',
      variant: {
        name: 'rowcrypt-kms',
        newProvider,
        calls: () => s.callCount(),
        callsByOperation: () => s.calls(),
        stop: () => s.stop(),
      },
    }
  } catch (e) {
    await server?.stop().catch(() => undefined)
    return { status: `not available: src/keys/aws-kms.ts and src/kms/dev-server.ts exist but could not be wired (${(e as Error).message})` }
  }
}
/* eslint-enable @typescript-eslint/no-require-imports */
