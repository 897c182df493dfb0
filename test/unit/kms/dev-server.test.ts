// The local KMS-compatible server, spoken to through the real AWS SDK.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  ReEncryptCommand,
  ScheduleKeyDeletionCommand,
  type KMSClient,
} from '@aws-sdk/client-kms'
import { KmsDevServer } from '../../../src/kms-dev-server'
import { kmsClient } from '../../support/kms'

async function failure(p: Promise<unknown>): Promise<{ name: string; status?: number; attempts?: number }> {
  try {
    await p
  } catch (e) {
    const err = e as { name: string; $metadata?: { httpStatusCode?: number; attempts?: number } }
    return { name: err.name, status: err.$metadata?.httpStatusCode, attempts: err.$metadata?.attempts }
  }
  throw new Error('expected a failure')
}

type RawReply = { status: number; body: { __type?: string; message?: string; KeyMetadata?: { KeyId?: string; KeyState?: string } } }

/**
 * A signed-looking JSON 1.1 request over plain node:http to 127.0.0.1, with the `Host` header
 * given (none when undefined), as a web page reaching the server through DNS rebinding sends it.
 */
function raw(port: number, host: string | undefined, operation: string, body: Record<string, unknown>): Promise<RawReply> {
  const headers: Record<string, string> = {
    'content-type': 'application/x-amz-json-1.1',
    'x-amz-target': `TrentService.${operation}`,
    authorization: 'AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00',
  }
  if (host !== undefined) headers.host = host
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers, setHost: false, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as RawReply['body'] }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(JSON.stringify(body))
  })
}

describe('KmsDevServer', () => {
  let dir: string
  let server: KmsDevServer
  let kms: KMSClient
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rowcrypt-kms-'))
    server = await KmsDevServer.start({ port: 0, file: join(dir, 'keys.json') })
    kms = kmsClient(server)
  })
  afterAll(async () => {
    kms.destroy()
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  beforeEach(() => {
    server.clearFaults()
    server.latencyMs = 0
  })

  it('listens on 127.0.0.1 on a free port', () => {
    expect(server.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(server.port).toBeGreaterThan(0)
  })

  it('CreateKey and DescribeKey return KMS-shaped metadata; keys resolve by id, ARN, alias and alias ARN', async () => {
    const created = await kms.send(new CreateKeyCommand({ Description: 'test key' }))
    const m = created.KeyMetadata!
    expect(m).toMatchObject({ AWSAccountId: '111122223333', Enabled: true, KeyState: 'Enabled', KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT', Description: 'test key', Origin: 'AWS_KMS' })
    expect(m.Arn).toBe(`arn:aws:kms:us-east-1:111122223333:key/${m.KeyId}`)
    expect(m.CreationDate).toBeInstanceOf(Date)
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/describe-me', TargetKeyId: m.KeyId }))
    for (const ref of [m.KeyId!, m.Arn!, 'alias/describe-me', 'arn:aws:kms:us-east-1:111122223333:alias/describe-me']) {
      expect((await kms.send(new DescribeKeyCommand({ KeyId: ref }))).KeyMetadata!.KeyId).toBe(m.KeyId)
    }
    expect((await failure(kms.send(new DescribeKeyCommand({ KeyId: 'alias/nope' })))).name).toBe('NotFoundException')
    expect((await failure(kms.send(new DescribeKeyCommand({ KeyId: 'arn:aws:kms:eu-west-1:111122223333:key/' + m.KeyId })))).name).toBe('NotFoundException')
    expect((await failure(kms.send(new CreateAliasCommand({ AliasName: 'alias/describe-me', TargetKeyId: m.KeyId })))).name).toBe('AlreadyExistsException')
    expect((await failure(kms.send(new CreateAliasCommand({ AliasName: 'alias/aws/reserved', TargetKeyId: m.KeyId })))).name).toBe('InvalidAliasNameException')
    expect((await failure(kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048' })))).name).toBe('UnsupportedOperationException')
  })

  it('GenerateDataKey / Decrypt round-trip, bound to the encryption context (as KMS does)', async () => {
    const { arn } = server.createKey({ alias: 'alias/gdk' })
    const EncryptionContext = { tenantId: 't1', purpose: 'row-dek' }
    const g = await kms.send(new GenerateDataKeyCommand({ KeyId: 'alias/gdk', KeySpec: 'AES_256', EncryptionContext }))
    expect(g.KeyId).toBe(arn)
    expect(g.Plaintext).toHaveLength(32)
    const d = await kms.send(new DecryptCommand({ CiphertextBlob: g.CiphertextBlob, EncryptionContext: { purpose: 'row-dek', tenantId: 't1' } }))
    expect(Buffer.from(d.Plaintext!).equals(Buffer.from(g.Plaintext!))).toBe(true)
    expect(d.KeyId).toBe(arn)
    for (const wrong of [{ tenantId: 't2', purpose: 'row-dek' }, { tenantId: 't1' }, { ...EncryptionContext, extra: 'x' }, undefined] as Array<Record<string, string> | undefined>) {
      expect((await failure(kms.send(new DecryptCommand({ CiphertextBlob: g.CiphertextBlob, ...(wrong ? { EncryptionContext: wrong } : {}) })))).name).toBe('InvalidCiphertextException')
    }
    const tampered = Uint8Array.from(g.CiphertextBlob!)
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1
    expect((await failure(kms.send(new DecryptCommand({ CiphertextBlob: tampered, EncryptionContext })))).name).toBe('InvalidCiphertextException')
    expect((await failure(kms.send(new DecryptCommand({ CiphertextBlob: Buffer.from('not a blob at all, no, not at all'), EncryptionContext })))).name).toBe('InvalidCiphertextException')
    // Naming another key than the one that encrypted the blob.
    server.createKey({ alias: 'alias/other' })
    expect((await failure(kms.send(new DecryptCommand({ CiphertextBlob: g.CiphertextBlob, EncryptionContext, KeyId: 'alias/other' })))).name).toBe('IncorrectKeyException')
    const n = await kms.send(new GenerateDataKeyCommand({ KeyId: 'alias/gdk', NumberOfBytes: 64 }))
    expect(n.Plaintext).toHaveLength(64)
    expect((await failure(kms.send(new GenerateDataKeyCommand({ KeyId: 'alias/gdk' })))).name).toBe('ValidationException')
  })

  it('GenerateDataKeyWithoutPlaintext returns no plaintext; Encrypt, Decrypt and ReEncrypt move data between keys and contexts', async () => {
    server.createKey({ alias: 'alias/src' })
    server.createKey({ alias: 'alias/dst' })
    const w = await kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: 'alias/src', KeySpec: 'AES_256', EncryptionContext: { a: '1' } }))
    expect((w as { Plaintext?: unknown }).Plaintext).toBeUndefined()
    expect((await kms.send(new DecryptCommand({ CiphertextBlob: w.CiphertextBlob, EncryptionContext: { a: '1' } }))).Plaintext).toHaveLength(32)
    const secret = Buffer.from('a secret of 24 bytes....')
    const e = await kms.send(new EncryptCommand({ KeyId: 'alias/src', Plaintext: secret, EncryptionContext: { a: '1' } }))
    const r = await kms.send(new ReEncryptCommand({ CiphertextBlob: e.CiphertextBlob, SourceEncryptionContext: { a: '1' }, DestinationKeyId: 'alias/dst', DestinationEncryptionContext: { b: '2' } }))
    expect(r.KeyId).toContain(server.aliasTarget('alias/dst')!)
    expect(r.SourceKeyId).toContain(server.aliasTarget('alias/src')!)
    const back = await kms.send(new DecryptCommand({ CiphertextBlob: r.CiphertextBlob, EncryptionContext: { b: '2' } }))
    expect(Buffer.from(back.Plaintext!).equals(secret)).toBe(true)
    expect((await failure(kms.send(new ReEncryptCommand({ CiphertextBlob: e.CiphertextBlob, SourceEncryptionContext: { a: 'x' }, DestinationKeyId: 'alias/dst' })))).name).toBe(
      'InvalidCiphertextException',
    )
    expect((await failure(kms.send(new EncryptCommand({ KeyId: 'alias/src', Plaintext: Buffer.alloc(4097) })))).name).toBe('ValidationException')
  })

  it('enforces key state: disabled, re-enabled, pending deletion, cancelled', async () => {
    const { keyId, arn } = server.createKey({ alias: 'alias/stateful' })
    const blob = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.alloc(32, 1) }))).CiphertextBlob
    // KMS takes only key ids and key ARNs here, not aliases.
    expect((await failure(kms.send(new DisableKeyCommand({ KeyId: 'alias/stateful' })))).name).toBe('NotFoundException')
    await kms.send(new DisableKeyCommand({ KeyId: arn }))
    expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata).toMatchObject({ KeyState: 'Disabled', Enabled: false })
    expect((await failure(kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' })))).name).toBe('DisabledException')
    expect((await failure(kms.send(new DecryptCommand({ CiphertextBlob: blob })))).name).toBe('DisabledException')
    await kms.send(new EnableKeyCommand({ KeyId: keyId }))
    expect((await kms.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext).toHaveLength(32)
    expect((await failure(kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 3 })))).name).toBe('ValidationException')
    const s = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }))
    expect(s).toMatchObject({ KeyId: arn, KeyState: 'PendingDeletion', PendingWindowInDays: 7 })
    expect(s.DeletionDate!.getTime() - Date.now()).toBeGreaterThan(6.9 * 86_400_000)
    for (const p of [
      kms.send(new DecryptCommand({ CiphertextBlob: blob })),
      kms.send(new EnableKeyCommand({ KeyId: keyId })),
      kms.send(new DisableKeyCommand({ KeyId: keyId })),
      kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId })),
    ]) {
      expect((await failure(p)).name).toBe('KMSInvalidStateException')
    }
    await kms.send(new CancelKeyDeletionCommand({ KeyId: keyId }))
    expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState).toBe('Disabled')
  })

  it('keeps keys and aliases in its file (mode 0600) and survives a restart', async () => {
    const file = join(dir, 'restart.json')
    const first = await KmsDevServer.start({ file })
    first.createKey({ alias: 'alias/persistent' })
    const c1 = kmsClient(first)
    const g = await c1.send(new GenerateDataKeyCommand({ KeyId: 'alias/persistent', KeySpec: 'AES_256', EncryptionContext: { t: '1' } }))
    c1.destroy()
    await first.stop()
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const second = await KmsDevServer.start({ file })
    const c2 = kmsClient(second)
    try {
      const d = await c2.send(new DecryptCommand({ CiphertextBlob: g.CiphertextBlob, EncryptionContext: { t: '1' }, KeyId: 'alias/persistent' }))
      expect(Buffer.from(d.Plaintext!).equals(Buffer.from(g.Plaintext!))).toBe(true)
    } finally {
      c2.destroy()
      await second.stop()
    }
    writeFileSync(join(dir, 'broken.json'), '{"version": 2}')
    await expect(KmsDevServer.start({ file: join(dir, 'broken.json') })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
  })

  it('refuses a port in use with ConfigError', async () => {
    await expect(KmsDevServer.start({ port: server.port })).rejects.toMatchObject({ code: 'ERR_ROWCRYPT_CONFIG' })
  })

  it('counts calls per operation and logs requests without plaintext', async () => {
    server.createKey({ alias: 'alias/counted' })
    server.resetStats()
    const g = await kms.send(new GenerateDataKeyCommand({ KeyId: 'alias/counted', KeySpec: 'AES_256', EncryptionContext: { tenantId: 'x' } }))
    await kms.send(new DecryptCommand({ CiphertextBlob: g.CiphertextBlob, EncryptionContext: { tenantId: 'x' } }))
    await kms.send(new DecryptCommand({ CiphertextBlob: g.CiphertextBlob, EncryptionContext: { tenantId: 'x' } }))
    expect(server.calls()).toEqual({ GenerateDataKey: 1, Decrypt: 2 })
    expect(server.callCount()).toBe(3)
    expect(server.callCount('Decrypt')).toBe(2)
    expect(server.requests()[0]).toEqual({ operation: 'GenerateDataKey', keyId: 'alias/counted', encryptionContext: { tenantId: 'x' }, status: 200 })
    const log = JSON.stringify(server.requests())
    for (const secret of [Buffer.from(g.Plaintext!).toString('base64'), Buffer.from(g.CiphertextBlob!).toString('base64')]) expect(log).not.toContain(secret)
    server.resetStats()
    expect(server.calls()).toEqual({})
  })

  it('injects throttling: the SDK retries it and succeeds on the fourth attempt', async () => {
    server.createKey({ alias: 'alias/throttled' })
    const c = kmsClient(server, { maxAttempts: 4 })
    try {
      server.resetStats()
      server.inject({ error: 'ThrottlingException', times: 3, operations: ['GenerateDataKey'] })
      const g = await c.send(new GenerateDataKeyCommand({ KeyId: 'alias/throttled', KeySpec: 'AES_256' }))
      expect(g.$metadata.attempts).toBe(4)
      expect(server.callCount('GenerateDataKey')).toBe(4)
      expect(server.requests().map((r) => r.errorType ?? 'ok')).toEqual(['ThrottlingException', 'ThrottlingException', 'ThrottlingException', 'ok'])
    } finally {
      c.destroy()
    }
  })

  it('injects errors with their status, only for the named operations, and latency', async () => {
    server.createKey({ alias: 'alias/faulty' })
    server.inject({ error: 'KMSInternalException', times: Infinity, operations: ['Encrypt'] })
    const f = await failure(kms.send(new EncryptCommand({ KeyId: 'alias/faulty', Plaintext: Buffer.alloc(8) })))
    expect(f).toEqual({ name: 'KMSInternalException', status: 500, attempts: 3 })
    expect((await kms.send(new DescribeKeyCommand({ KeyId: 'alias/faulty' }))).KeyMetadata).toBeDefined()
    server.clearFaults()
    server.inject({ error: 'AccessDeniedException', message: 'not authorized' })
    expect(await failure(kms.send(new DescribeKeyCommand({ KeyId: 'alias/faulty' })))).toMatchObject({ name: 'AccessDeniedException', status: 400, attempts: 1 })
    server.latencyMs = 60
    const t0 = Date.now()
    await kms.send(new DescribeKeyCommand({ KeyId: 'alias/faulty' }))
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55)
  })

  it('injects dropped connections and slow answers that the SDK sees as network errors and timeouts', async () => {
    server.createKey({ alias: 'alias/flaky' })
    const c = kmsClient(server, { maxAttempts: 1, requestTimeoutMs: 100 })
    try {
      server.inject({ drop: true })
      const dropped = await failure(c.send(new DescribeKeyCommand({ KeyId: 'alias/flaky' })))
      expect(dropped.name).toMatch(/Error|ECONNRESET|socket hang up/i)
      server.inject({ latencyMs: 400 })
      expect((await failure(c.send(new DescribeKeyCommand({ KeyId: 'alias/flaky' })))).name).toBe('TimeoutError')
    } finally {
      c.destroy()
    }
  })

  it('tracks the most requests answered at once', async () => {
    server.createKey({ alias: 'alias/parallel' })
    server.resetStats()
    server.latencyMs = 250
    await Promise.all(Array.from({ length: 6 }, () => kms.send(new DescribeKeyCommand({ KeyId: 'alias/parallel' }))))
    expect(server.maxInFlight).toBe(6)
  })

  it('refuses a Host header that is not a loopback name (DNS rebinding) with 403 AccessDeniedException, touching no key', async () => {
    const { keyId } = server.createKey({ alias: 'alias/rebind-target' })
    const file = join(dir, 'keys.json')
    const before = readFileSync(file, 'utf8')
    server.resetStats()
    // An injected fault is not used up by a refused request.
    server.inject({ error: 'ThrottlingException', operations: ['DescribeKey'] })
    const hosts = [
      'evil.example',
      `evil.example:${server.port}`,
      `127.0.0.1.evil.example:${server.port}`,
      'localhost.evil.example',
      '127.0.0.1@evil.example',
      '128.0.0.1',
      '127.0.0.256',
      '127.1',
      '[::2]',
      '[::ffff:127.0.0.1]',
      '0.0.0.0',
      '',
      undefined,
    ]
    const requests: Array<[string, Record<string, unknown>]> = [
      ['CreateKey', {}],
      ['CreateAlias', { AliasName: 'alias/rebound', TargetKeyId: keyId }],
      ['DisableKey', { KeyId: keyId }],
      ['ScheduleKeyDeletion', { KeyId: keyId, PendingWindowInDays: 7 }],
      ['GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_256' }],
      ['DescribeKey', { KeyId: keyId }],
    ]
    for (const host of hosts) {
      for (const [operation, body] of requests) {
        const r = await raw(server.port, host, operation, body)
        expect({ host, operation, status: r.status, type: r.body.__type }).toEqual({ host, operation, status: 403, type: 'AccessDeniedException' })
        expect(typeof r.body.message).toBe('string')
        expect(Object.keys(r.body).sort()).toEqual(['__type', 'message'])
      }
    }
    // Counted and logged like any request, with nothing of their bodies.
    expect(server.callCount('CreateKey')).toBe(hosts.length)
    expect(server.callCount()).toBe(hosts.length * requests.length)
    expect(server.requests().every((r) => r.status === 403 && r.errorType === 'AccessDeniedException' && r.keyId === undefined && r.encryptionContext === undefined)).toBe(true)
    // The key store is unchanged: same file, no new alias, the key still enabled.
    expect(readFileSync(file, 'utf8')).toBe(before)
    expect(server.aliasTarget('alias/rebound')).toBeUndefined()
    const once = kmsClient(server, { maxAttempts: 1 })
    try {
      expect(await failure(once.send(new DescribeKeyCommand({ KeyId: keyId })))).toMatchObject({ name: 'ThrottlingException' })
      expect((await once.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata).toMatchObject({ KeyId: keyId, KeyState: 'Enabled', Enabled: true })
    } finally {
      once.destroy()
    }
  })

  it('answers loopback Host headers: 127.0.0.1:<port>, localhost:<port>, any 127.x.y.z, [::1], with or without port', async () => {
    const { keyId } = server.createKey({ alias: 'alias/loopback-host' })
    const port = server.port
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'localhost', `LocalHost:${port}`, '127.0.0.1', '127.1.2.3:80', '127.255.255.255', `[::1]:${port}`, '[::1]']) {
      const r = await raw(port, host, 'DescribeKey', { KeyId: 'alias/loopback-host' })
      expect({ host, status: r.status, keyId: r.body.KeyMetadata?.KeyId }).toEqual({ host, status: 200, keyId })
    }
    const g = await raw(port, `localhost:${port}`, 'CreateAlias', { AliasName: 'alias/made-through-localhost', TargetKeyId: keyId })
    expect(g.status).toBe(200)
    expect(server.aliasTarget('alias/made-through-localhost')).toBe(keyId)
  })

  it('the real KMSClient works through 127.0.0.1 and localhost endpoints', async () => {
    const { keyId } = server.createKey({ alias: 'alias/sdk-host' })
    const viaLocalhost = kmsClient({ endpoint: `http://localhost:${server.port}` } as KmsDevServer)
    try {
      for (const c of [kms, viaLocalhost]) {
        const g = await c.send(new GenerateDataKeyCommand({ KeyId: 'alias/sdk-host', KeySpec: 'AES_256', EncryptionContext: { tenantId: 'h' } }))
        const d = await c.send(new DecryptCommand({ CiphertextBlob: g.CiphertextBlob, EncryptionContext: { tenantId: 'h' } }))
        expect(Buffer.from(d.Plaintext!).equals(Buffer.from(g.Plaintext!))).toBe(true)
        expect(d.KeyId).toContain(keyId)
      }
    } finally {
      viaLocalhost.destroy()
    }
  })

  it('speaks only the signed JSON 1.1 protocol', async () => {
    const post = (headers: Record<string, string>, body = '{}') =>
      fetch(server.endpoint, { method: 'POST', headers, body }).then(async (r) => ({ status: r.status, body: (await r.json()) as { __type: string } }))
    const json = { 'content-type': 'application/x-amz-json-1.1', authorization: 'AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00' }
    expect((await post({ ...json, 'x-amz-target': 'TrentService.ListKeys' })).body.__type).toBe('UnknownOperationException')
    expect((await post({ 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.DescribeKey' })).body.__type).toBe('MissingAuthenticationTokenException')
    expect((await post({ ...json, 'content-type': 'application/json', 'x-amz-target': 'TrentService.DescribeKey' })).body.__type).toBe('SerializationException')
    expect((await post({ ...json, 'x-amz-target': 'TrentService.DescribeKey' }, '{not json')).body.__type).toBe('SerializationException')
    expect((await post({ ...json, 'x-amz-target': 'TrentService.DescribeKey' })).body.__type).toBe('ValidationException')
    const get = await fetch(server.endpoint)
    expect(get.status).toBe(404)
    expect(readFileSync(join(dir, 'keys.json'), 'utf8')).toContain('"version": 1')
  })
})

describe('KmsDevServer started on an explicit host that is not loopback', () => {
  let server: KmsDevServer
  beforeAll(async () => {
    // The wildcard address is the one non-loopback address every test machine can listen on; the
    // keys are in memory and only this describe's requests reach them.
    server = await KmsDevServer.start({ port: 0, host: '0.0.0.0' })
  })
  afterAll(async () => server.stop())

  it('also answers Host headers naming that host, with or without port, and still refuses other names', async () => {
    const { keyId } = server.createKey({ alias: 'alias/explicit-host' })
    const port = server.port
    for (const host of [`0.0.0.0:${port}`, '0.0.0.0', `127.0.0.1:${port}`, `localhost:${port}`]) {
      const r = await raw(port, host, 'DescribeKey', { KeyId: 'alias/explicit-host' })
      expect({ host, status: r.status, keyId: r.body.KeyMetadata?.KeyId }).toEqual({ host, status: 200, keyId })
    }
    for (const host of ['evil.example', `evil.example:${port}`, '10.0.0.1', `0.0.0.0.evil.example:${port}`, undefined]) {
      const r = await raw(port, host, 'DescribeKey', { KeyId: 'alias/explicit-host' })
      expect({ host, status: r.status, type: r.body.__type }).toEqual({ host, status: 403, type: 'AccessDeniedException' })
    }
    const c = kmsClient(server)
    try {
      expect(server.endpoint).toBe(`http://0.0.0.0:${port}`)
      expect((await c.send(new DescribeKeyCommand({ KeyId: 'alias/explicit-host' }))).KeyMetadata!.KeyId).toBe(keyId)
    } finally {
      c.destroy()
    }
  })

  it('an explicit IPv6 host is matched in brackets, as a Host header writes it', async () => {
    let v6: KmsDevServer
    try {
      v6 = await KmsDevServer.start({ port: 0, host: '::' })
    } catch {
      return // no IPv6 on this machine
    }
    try {
      const ok = await raw(v6.port, `[::]:${v6.port}`, 'DescribeKey', { KeyId: 'alias/none' })
      expect(ok.body.__type).toBe('NotFoundException')
      const refused = await raw(v6.port, `::`, 'DescribeKey', { KeyId: 'alias/none' })
      expect(refused).toMatchObject({ status: 403, body: { __type: 'AccessDeniedException' } })
    } finally {
      await v6.stop()
    }
  })
})
