// The local KMS-compatible server and real SDK clients for tests. Every AwsKmsKeyProvider test goes
// through @aws-sdk/client-kms to KmsDevServer over HTTP; nothing is mocked.
import { KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms'
import { ConfiguredRetryStrategy } from '@smithy/core/retry'
import { AwsKmsKeyProvider, InMemoryTenantKeyStore, type AwsKmsKeyProviderOptions, type KeyProviderEvent } from '../../src'
import { KmsDevServer } from '../../src/kms-dev-server'

/**
 * A client on the dev server. Retries are the SDK's own strategy with the SDK's default of 3
 * attempts unless `maxAttempts` is given, and a short jittered backoff so tests stay fast.
 */
export function kmsClient(server: KmsDevServer, options: { maxAttempts?: number; requestTimeoutMs?: number } & Partial<KMSClientConfig> = {}): KMSClient {
  const { maxAttempts = 3, requestTimeoutMs = 5_000, ...rest } = options
  return new KMSClient({
    endpoint: server.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    retryStrategy: new ConfiguredRetryStrategy(maxAttempts, (attempt) => 5 + Math.floor(Math.random() * 10 * attempt)),
    requestHandler: { requestTimeout: requestTimeoutMs, connectionTimeout: 1_000, throwOnRequestTimeout: true },
    ...rest,
  })
}

/** A running dev server with two keys (`alias/v1`, `alias/v2`). */
export async function startKms(): Promise<{ server: KmsDevServer; v1: string; v2: string }> {
  const server = await KmsDevServer.start({ port: 0 })
  const v1 = server.createKey({ alias: 'alias/test-v1' }).arn
  const v2 = server.createKey({ alias: 'alias/test-v2' }).arn
  return { server, v1, v2 }
}

/** An AwsKmsKeyProvider on the dev server; hierarchical with an in-memory store unless told otherwise. */
export function awsProvider(server: KmsDevServer, options: Partial<AwsKmsKeyProviderOptions> & { maxAttempts?: number; requestTimeoutMs?: number } = {}): AwsKmsKeyProvider {
  const { maxAttempts, requestTimeoutMs, ...rest } = options
  const mode = rest.mode ?? 'hierarchical'
  return new AwsKmsKeyProvider({
    client: rest.client ?? kmsClient(server, { ...(maxAttempts !== undefined ? { maxAttempts } : {}), ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}) }),
    keys: { v1: 'alias/test-v1', v2: 'alias/test-v2' },
    activeVersion: 'v1',
    ...(mode === 'hierarchical' && rest.tenantKeyStore === undefined ? { tenantKeyStore: new InMemoryTenantKeyStore() } : {}),
    ...rest,
  })
}

/** Collects key-provider events. */
export function eventLog(): { events: KeyProviderEvent[]; observer: { keyProvider: (e: KeyProviderEvent) => void } } {
  const events: KeyProviderEvent[] = []
  return { events, observer: { keyProvider: (e) => events.push(e) } }
}
