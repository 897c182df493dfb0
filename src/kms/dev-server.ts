// A local server that speaks the AWS KMS JSON 1.1 protocol, for development and tests. It keeps
// symmetric keys in a JSON file (in plaintext: never put real data behind it), enforces encryption
// context binding and key state as KMS does, counts calls per operation, and can inject latency,
// throttling and errors. node:http only; nothing starts until `KmsDevServer.start()`.
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto'
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ConfigError } from '../errors'

/**
 * Options of {@link KmsDevServer.start}.
 *
 * @example
 * ```ts
 * const options: KmsDevServerOptions = { port: 4599, file: '.rowcrypt-kms-dev.json', latencyMs: 5 }
 * ```
 */
export interface KmsDevServerOptions {
  /** TCP port; `0` (the default) picks a free one. */
  port?: number
  /**
   * Interface to listen on. Default `127.0.0.1`; anything else exposes unprotected keys. Requests
   * are answered only when their `Host` header is a loopback name or, when this is given and is not
   * a loopback address, this host (see {@link KmsDevServer}).
   */
  host?: string
  /** JSON file holding keys and aliases; the server survives restarts with it. Default: memory only. */
  file?: string
  /** Region in ARNs. Default `us-east-1`. */
  region?: string
  /** Account id in ARNs. Default `111122223333`. */
  accountId?: string
  /** Delay added to every response, in milliseconds. Default 0. */
  latencyMs?: number
}

/**
 * A fault to inject. Matching requests (every operation unless `operations` is given) are
 * answered with `error` (or dropped, or only delayed), `times` times.
 *
 * @example
 * ```ts
 * kms.inject({ error: 'ThrottlingException', times: 3 })                      // throttle, then recover
 * kms.inject({ error: 'ServiceUnavailableException', status: 503, times: Infinity }) // KMS down
 * kms.inject({ operations: ['Decrypt'], latencyMs: 500 })                      // one slow Decrypt
 * ```
 */
export interface KmsFault {
  /** Operations it applies to (`Decrypt`, `GenerateDataKey`, ...). Default: all. */
  operations?: readonly string[]
  /** The error type (`__type`), e.g. `ThrottlingException`, `KMSInternalException`, `AccessDeniedException`. */
  error?: string
  /** HTTP status of the error. Default: 500 for `KMSInternalException`, 503 for `ServiceUnavailableException`, else 400. */
  status?: number
  message?: string
  /** Delay before answering, in milliseconds. */
  latencyMs?: number
  /** Close the connection without answering. */
  drop?: boolean
  /** How many requests it applies to. Default 1; `Infinity` for all. */
  times?: number
}

/**
 * One request as the server saw it. Never holds plaintext or ciphertext.
 *
 * @example
 * ```ts
 * expect(kms.requests().at(-1)).toMatchObject({ operation: 'Decrypt', encryptionContext: { tenantId: 'acme' } })
 * ```
 */
export interface KmsRequestRecord {
  readonly operation: string
  /** The `KeyId` (or `DestinationKeyId`) the request named, if any. */
  readonly keyId?: string
  /** The encryption context sent (`DestinationEncryptionContext` for ReEncrypt). */
  readonly encryptionContext?: Readonly<Record<string, string>>
  readonly status: number
  /** The error type for failed requests. */
  readonly errorType?: string
}

type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion'

interface StoredKey {
  keyId: string
  material: string
  state: KeyState
  description: string
  creationDate: number
  deletionDate?: number
  pendingWindowInDays?: number
}

interface StoredState {
  version: 1
  keys: StoredKey[]
  aliases: Record<string, string>
}

class KmsFailure extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message)
  }
}

const BLOB_MAGIC = Buffer.from('RKD1')
const AAD_DOMAIN = 'rowcrypt/kms-dev-server/v1'
const MAX_BODY = 1 << 20
const MAX_LOG = 10_000
/** The operations `#dispatch` answers; any other is UnknownOperationException. */
type Operation =
  | 'CreateKey'
  | 'CreateAlias'
  | 'DescribeKey'
  | 'GenerateDataKey'
  | 'GenerateDataKeyWithoutPlaintext'
  | 'Encrypt'
  | 'Decrypt'
  | 'ReEncrypt'
  | 'DisableKey'
  | 'EnableKey'
  | 'ScheduleKeyDeletion'
  | 'CancelKeyDeletion'

/**
 * A local, AWS KMS-compatible server (JSON 1.1 protocol) for development and tests. Point a real
 * `KMSClient` at `endpoint`. It supports CreateKey, CreateAlias, DescribeKey, GenerateDataKey,
 * GenerateDataKeyWithoutPlaintext, Encrypt, Decrypt, ReEncrypt, DisableKey, EnableKey,
 * ScheduleKeyDeletion and CancelKeyDeletion on symmetric keys; binds ciphertexts to their encryption
 * context; refuses disabled and pending-deletion keys; counts calls; and injects faults.
 *
 * Not a security boundary: key material sits in plaintext in memory and in `file`, and request
 * signatures are not verified (only required to be present).
 *
 * Host check, against DNS rebinding: a web page can have a browser send requests to a loopback
 * server through a name the page controls, and the browser then sends that name as `Host`. So a
 * request is answered only when its `Host` header is a loopback name, `localhost`, `127.x.y.z` or
 * `[::1]`, each with an optional `:port`; when the server was started with an explicit `host` that
 * is not a loopback address, `Host` may also be that host (with an optional port; an IPv6 address in
 * brackets). Every other request, and one without a `Host` header, is answered 403 with
 * `{"__type":"AccessDeniedException","message":...}`, before any injected fault or latency and
 * without touching keys; it is counted in `calls()` and logged in `requests()` like any other.
 * So a server listening on a wildcard address (`0.0.0.0`, `::`) refuses clients that reach it by
 * the machine's name or address: start it on the address or name those clients use instead.
 *
 * @example
 * ```ts
 * const kms = await KmsDevServer.start({ port: 0, file: '.rowcrypt-kms-dev.json' })
 * const { arn } = kms.createKey({ alias: 'alias/rowcrypt-dev' })
 * const client = new KMSClient({ endpoint: kms.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'dev', secretAccessKey: 'dev' } })
 * kms.inject({ error: 'ThrottlingException', times: 3 })
 * log.info(kms.calls()) // { GenerateDataKey: 4, ... }
 * await kms.stop()
 * ```
 */
export class KmsDevServer {
  /** Delay added to every response, in milliseconds. */
  latencyMs: number
  readonly region: string
  readonly accountId: string
  readonly #server: Server
  readonly #file: string | undefined
  readonly #keys = new Map<string, StoredKey>()
  readonly #aliases = new Map<string, string>()
  #faults: Array<KmsFault & { remaining: number }> = []
  #calls: Record<string, number> = {}
  #log: KmsRequestRecord[] = []
  #inFlight = 0
  #maxInFlight = 0
  readonly #timers = new Set<NodeJS.Timeout>()
  #port = 0
  #host: string
  // The `Host` name accepted besides loopback names: the explicit `host` option when it is not
  // loopback, lower-cased, an IPv6 address in brackets as it appears in a `Host` header.
  readonly #extraHostName: string | undefined

  private constructor(options: KmsDevServerOptions) {
    this.latencyMs = options.latencyMs ?? 0
    this.region = options.region ?? 'us-east-1'
    this.accountId = options.accountId ?? '111122223333'
    this.#file = options.file
    this.#host = options.host ?? '127.0.0.1'
    const name = options.host === undefined ? undefined : hostHeaderName(options.host)
    this.#extraHostName = name === undefined || isLoopbackName(name) ? undefined : name
    if (this.#file !== undefined) this.#loadFile(this.#file)
    // A request without `Host` is refused by #handle (403, KMS-shaped) rather than by node (400).
    this.#server = createServer({ requireHostHeader: false }, (req, res) => this.#handle(req, res))
  }

  /**
   * Starts a server and resolves once it listens.
   *
   * @example
   * ```ts
   * const kms = await KmsDevServer.start({ port: 4599, file: '.rowcrypt-kms-dev.json' })
   * ```
   */
  static async start(options: KmsDevServerOptions = {}): Promise<KmsDevServer> {
    const s = new KmsDevServer(options)
    await new Promise<void>((resolve, reject) => {
      s.#server.once('error', (cause: NodeJS.ErrnoException) => reject(new ConfigError(`kms-dev-server: cannot listen on ${s.#host}:${options.port ?? 0} (${cause.code ?? cause.message})`, { cause })))
      s.#server.listen(options.port ?? 0, s.#host, () => {
        s.#server.removeAllListeners('error')
        s.#server.on('error', () => undefined)
        resolve()
      })
    })
    s.#port = (s.#server.address() as AddressInfo).port
    return s
  }

  /** The port it listens on. */
  get port(): number {
    return this.#port
  }

  /** `http://host:port`, for `new KMSClient({ endpoint })`. */
  get endpoint(): string {
    const host = this.#host.includes(':') ? `[${this.#host}]` : this.#host
    return `http://${host}:${this.#port}`
  }

  /** Stops listening and closes open connections. */
  async stop(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
  }

  /**
   * Creates a symmetric key without going through the protocol (for set-up scripts and the CLI),
   * optionally with an alias. Returns its key id and ARN.
   */
  createKey(options: { description?: string; alias?: string } = {}): { keyId: string; arn: string } {
    if (options.alias !== undefined && (!validAlias(options.alias) || this.#aliases.has(options.alias))) {
      throw new ConfigError(`kms-dev-server: alias ${options.alias} is invalid or exists already`)
    }
    const key = this.#newKey(options.description ?? '')
    if (options.alias !== undefined) this.#createAlias(options.alias, key.keyId)
    this.#save()
    return { keyId: key.keyId, arn: this.#arn(key) }
  }

  /** The key id an alias points to, or undefined. */
  aliasTarget(alias: string): string | undefined {
    return this.#aliases.get(alias)
  }

  /** Adds a fault; faults are consulted in the order they were added. */
  inject(fault: KmsFault): void {
    this.#faults.push({ ...fault, remaining: fault.times ?? 1 })
  }

  /** Removes every fault. */
  clearFaults(): void {
    this.#faults = []
  }

  /** Requests received per operation (faulted ones included) since start or `resetStats()`. */
  calls(): Record<string, number> {
    return { ...this.#calls }
  }

  /** Total requests, or requests of one operation. */
  callCount(operation?: string): number {
    if (operation !== undefined) return this.#calls[operation] ?? 0
    return Object.values(this.#calls).reduce((a, b) => a + b, 0)
  }

  /** The last requests (up to 10,000), oldest first. */
  requests(): readonly KmsRequestRecord[] {
    return [...this.#log]
  }

  /** The most requests that were being answered at the same time. */
  get maxInFlight(): number {
    return this.#maxInFlight
  }

  /** Clears call counts, the request log and `maxInFlight`. */
  resetStats(): void {
    this.#calls = {}
    this.#log = []
    this.#maxInFlight = this.#inFlight
  }

  // --- HTTP ---------------------------------------------------------------------------------

  #handle(req: IncomingMessage, res: ServerResponse): void {
    this.#inFlight++
    this.#maxInFlight = Math.max(this.#maxInFlight, this.#inFlight)
    let done = false
    const finish = () => {
      if (!done) {
        done = true
        this.#inFlight--
      }
    }
    res.on('close', finish)
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size <= MAX_BODY) chunks.push(c)
    })
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '')
      const operation = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : target || 'Unknown'
      this.#calls[operation] = (this.#calls[operation] ?? 0) + 1
      if (!this.#hostAllowed(req.headers.host)) {
        // Before faults, latency and keys: nothing of the request is looked at beyond its headers.
        this.#record({ operation, status: 403, errorType: 'AccessDeniedException' })
        this.#send(res, 403, {
          __type: 'AccessDeniedException',
          message: 'the KMS dev server answers only requests whose Host header is a loopback name (localhost, 127.x.y.z, [::1]) or the host it was started on',
        })
        return
      }
      const fault = this.#takeFault(operation)
      const delay = this.latencyMs + (fault?.latencyMs ?? 0)
      const respond = () => {
        if (res.destroyed) return
        if (fault?.drop) {
          this.#record({ operation, status: 0, errorType: 'Dropped' })
          req.socket.destroy()
          return
        }
        let body: Record<string, unknown> = {}
        try {
          if (fault?.error !== undefined) throw new KmsFailure(fault.error, fault.message ?? `${fault.error} (injected)`, fault.status ?? defaultStatus(fault.error))
          if (req.method !== 'POST') throw new KmsFailure('UnknownOperationException', 'only POST is supported', 404)
          if (size > MAX_BODY) throw new KmsFailure('SerializationException', 'request body too large')
          if (!String(req.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.1')) throw new KmsFailure('SerializationException', 'content type must be application/x-amz-json-1.1')
          if (!String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 ')) throw new KmsFailure('MissingAuthenticationTokenException', 'request is missing a SigV4 signature', 400)
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>
          } catch {
            throw new KmsFailure('SerializationException', 'body is not JSON')
          }
          if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new KmsFailure('SerializationException', 'body must be a JSON object')
          const output = this.#dispatch(operation, body)
          this.#record({ operation, ...requestFacts(operation, body), status: 200 })
          this.#send(res, 200, output)
        } catch (e) {
          const f = e instanceof KmsFailure ? e : new KmsFailure('KMSInternalException', 'internal error', 500)
          this.#record({ operation, ...requestFacts(operation, body), status: f.status, errorType: f.type })
          this.#send(res, f.status, { __type: f.type, message: f.message })
        }
      }
      if (delay > 0) {
        const t = setTimeout(() => {
          this.#timers.delete(t)
          respond()
        }, delay)
        this.#timers.add(t)
      } else respond()
    })
  }

  #hostAllowed(header: string | undefined): boolean {
    if (header === undefined) return false
    const name = hostNameOf(header)
    if (name === undefined) return false
    return isLoopbackName(name) || (this.#extraHostName !== undefined && name === this.#extraHostName)
  }

  #send(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body)
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text), 'x-amzn-requestid': randomUUID() })
    res.end(text)
  }

  #takeFault(operation: string): KmsFault | undefined {
    const f = this.#faults.find((x) => x.remaining > 0 && (x.operations === undefined || x.operations.includes(operation)))
    if (f === undefined) return undefined
    f.remaining--
    if (f.remaining <= 0) this.#faults = this.#faults.filter((x) => x !== f)
    return f
  }

  #record(r: KmsRequestRecord): void {
    this.#log.push(r)
    if (this.#log.length > MAX_LOG) this.#log.shift()
  }

  // --- Operations ---------------------------------------------------------------------------

  #dispatch(operation: string, b: Record<string, unknown>): Record<string, unknown> {
    switch (operation as Operation) {
      case 'CreateKey': {
        for (const [field, allowed] of [
          ['KeyUsage', 'ENCRYPT_DECRYPT'],
          ['KeySpec', 'SYMMETRIC_DEFAULT'],
          ['CustomerMasterKeySpec', 'SYMMETRIC_DEFAULT'],
        ] as const) {
          if (b[field] !== undefined && b[field] !== allowed) throw new KmsFailure('UnsupportedOperationException', `the dev server supports only ${field} ${allowed}`)
        }
        const key = this.#newKey(optionalString(b, 'Description') ?? '')
        this.#save()
        return { KeyMetadata: this.#metadata(key) }
      }
      case 'CreateAlias': {
        const target = this.#resolve(requiredString(b, 'TargetKeyId'), false)
        this.#createAlias(requiredString(b, 'AliasName'), target.keyId)
        this.#save()
        return {}
      }
      case 'DescribeKey':
        return { KeyMetadata: this.#metadata(this.#resolve(requiredString(b, 'KeyId'), true)) }
      case 'GenerateDataKey':
      case 'GenerateDataKeyWithoutPlaintext': {
        const key = this.#usable(this.#resolve(requiredString(b, 'KeyId'), true))
        const context = encryptionContext(b, 'EncryptionContext')
        const plaintext = randomBytes(dataKeyLength(b))
        const blob = this.#seal(key, plaintext, context)
        const out: Record<string, unknown> = { CiphertextBlob: blob.toString('base64'), KeyId: this.#arn(key) }
        if (operation === 'GenerateDataKey') out.Plaintext = plaintext.toString('base64')
        plaintext.fill(0)
        return out
      }
      case 'Encrypt': {
        const key = this.#usable(this.#resolve(requiredString(b, 'KeyId'), true))
        const plaintext = blobField(b, 'Plaintext')
        if (plaintext.length < 1 || plaintext.length > 4096) throw new KmsFailure('ValidationException', 'Plaintext must be 1 to 4096 bytes')
        algorithm(b, 'EncryptionAlgorithm')
        const blob = this.#seal(key, plaintext, encryptionContext(b, 'EncryptionContext'))
        plaintext.fill(0)
        return { CiphertextBlob: blob.toString('base64'), KeyId: this.#arn(key), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }
      }
      case 'Decrypt': {
        algorithm(b, 'EncryptionAlgorithm')
        const { key, plaintext } = this.#open(blobField(b, 'CiphertextBlob'), optionalString(b, 'KeyId'), encryptionContext(b, 'EncryptionContext'))
        const out = { KeyId: this.#arn(key), Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }
        plaintext.fill(0)
        return out
      }
      case 'ReEncrypt': {
        algorithm(b, 'SourceEncryptionAlgorithm')
        algorithm(b, 'DestinationEncryptionAlgorithm')
        const { key: source, plaintext } = this.#open(blobField(b, 'CiphertextBlob'), optionalString(b, 'SourceKeyId'), encryptionContext(b, 'SourceEncryptionContext'))
        try {
          const dest = this.#usable(this.#resolve(requiredString(b, 'DestinationKeyId'), true))
          const blob = this.#seal(dest, plaintext, encryptionContext(b, 'DestinationEncryptionContext'))
          return {
            CiphertextBlob: blob.toString('base64'),
            SourceKeyId: this.#arn(source),
            KeyId: this.#arn(dest),
            SourceEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
            DestinationEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
          }
        } finally {
          plaintext.fill(0)
        }
      }
      case 'DisableKey':
      case 'EnableKey': {
        const key = this.#resolve(requiredString(b, 'KeyId'), false)
        if (key.state === 'PendingDeletion') throw new KmsFailure('KMSInvalidStateException', `${this.#arn(key)} is pending deletion.`)
        key.state = operation === 'EnableKey' ? 'Enabled' : 'Disabled'
        this.#save()
        return {}
      }
      case 'ScheduleKeyDeletion': {
        const key = this.#resolve(requiredString(b, 'KeyId'), false)
        if (key.state === 'PendingDeletion') throw new KmsFailure('KMSInvalidStateException', `${this.#arn(key)} is pending deletion.`)
        const days = b.PendingWindowInDays ?? 30
        if (typeof days !== 'number' || !Number.isInteger(days) || days < 7 || days > 30) throw new KmsFailure('ValidationException', 'PendingWindowInDays must be an integer from 7 to 30')
        key.state = 'PendingDeletion'
        key.deletionDate = Date.now() + days * 86_400_000
        key.pendingWindowInDays = days
        this.#save()
        return { KeyId: this.#arn(key), DeletionDate: key.deletionDate / 1000, KeyState: 'PendingDeletion', PendingWindowInDays: days }
      }
      case 'CancelKeyDeletion': {
        const key = this.#resolve(requiredString(b, 'KeyId'), false)
        if (key.state !== 'PendingDeletion') throw new KmsFailure('KMSInvalidStateException', `${this.#arn(key)} is not pending deletion.`)
        key.state = 'Disabled'
        delete key.deletionDate
        delete key.pendingWindowInDays
        this.#save()
        return { KeyId: this.#arn(key) }
      }
      default:
        throw new KmsFailure('UnknownOperationException', `operation ${operation} is not supported by the dev server`)
    }
  }

  #newKey(description: string): StoredKey {
    const key: StoredKey = { keyId: randomUUID(), material: randomBytes(32).toString('base64'), state: 'Enabled', description, creationDate: Date.now() }
    this.#keys.set(key.keyId, key)
    return key
  }

  #createAlias(name: string, keyId: string): void {
    if (!validAlias(name)) throw new KmsFailure('InvalidAliasNameException', `invalid alias name ${name}`)
    if (this.#aliases.has(name)) throw new KmsFailure('AlreadyExistsException', `alias ${name} already exists`)
    this.#aliases.set(name, keyId)
  }

  // Resolves a key id, key ARN, alias name or alias ARN (aliases only where KMS accepts them).
  #resolve(ref: string, allowAlias: boolean): StoredKey {
    this.#purgeDeleted()
    const arnPrefix = `arn:aws:kms:${this.region}:${this.accountId}:`
    let id = ref
    if (ref.startsWith('arn:')) {
      if (!ref.startsWith(arnPrefix)) throw new KmsFailure('NotFoundException', `Invalid arn ${ref}`)
      id = ref.slice(arnPrefix.length)
      if (id.startsWith('key/')) id = id.slice(4)
    }
    if (id.startsWith('alias/')) {
      const target = allowAlias ? this.#aliases.get(id) : undefined
      if (target === undefined) throw new KmsFailure('NotFoundException', `Alias ${arnPrefix}${id} is not found.`)
      id = target
    }
    const key = this.#keys.get(id)
    if (key === undefined) throw new KmsFailure('NotFoundException', `Key '${arnPrefix}key/${id}' does not exist`)
    return key
  }

  #usable(key: StoredKey): StoredKey {
    if (key.state === 'Disabled') throw new KmsFailure('DisabledException', `${this.#arn(key)} is disabled.`)
    if (key.state === 'PendingDeletion') throw new KmsFailure('KMSInvalidStateException', `${this.#arn(key)} is pending deletion.`)
    return key
  }

  #purgeDeleted(): void {
    const now = Date.now()
    let changed = false
    for (const [id, k] of this.#keys) {
      if (k.deletionDate !== undefined && k.deletionDate <= now) {
        this.#keys.delete(id)
        for (const [a, t] of this.#aliases) if (t === id) this.#aliases.delete(a)
        changed = true
      }
    }
    if (changed) this.#save()
  }

  #arn(key: StoredKey): string {
    return `arn:aws:kms:${this.region}:${this.accountId}:key/${key.keyId}`
  }

  #metadata(key: StoredKey): Record<string, unknown> {
    return {
      AWSAccountId: this.accountId,
      KeyId: key.keyId,
      Arn: this.#arn(key),
      CreationDate: key.creationDate / 1000,
      Enabled: key.state === 'Enabled',
      Description: key.description,
      KeyUsage: 'ENCRYPT_DECRYPT',
      KeyState: key.state,
      ...(key.deletionDate !== undefined ? { DeletionDate: key.deletionDate / 1000, PendingDeletionWindowInDays: key.pendingWindowInDays } : {}),
      Origin: 'AWS_KMS',
      KeyManager: 'CUSTOMER',
      CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
      KeySpec: 'SYMMETRIC_DEFAULT',
      EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
      MultiRegion: false,
    }
  }

  // Blob: "RKD1" | key id length (1 byte) | key id | IV (12) | ciphertext | tag (16).
  // The AAD binds the key id and the encryption context, so either changing fails the decrypt.
  #seal(key: StoredKey, plaintext: Buffer, context: Record<string, string>): Buffer {
    const id = Buffer.from(key.keyId, 'utf8')
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', Buffer.from(key.material, 'base64'), iv)
    cipher.setAAD(aad(key.keyId, context))
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()])
    return Buffer.concat([BLOB_MAGIC, Buffer.from([id.length]), id, iv, ct, cipher.getAuthTag()])
  }

  #open(blob: Buffer, keyRef: string | undefined, context: Record<string, string>): { key: StoredKey; plaintext: Buffer } {
    const invalid = () => new KmsFailure('InvalidCiphertextException', '')
    if (blob.length < BLOB_MAGIC.length + 1 + 12 + 16 || !blob.subarray(0, 4).equals(BLOB_MAGIC)) throw invalid()
    const idLength = blob[4] as number
    const ivAt = 5 + idLength
    if (blob.length < ivAt + 12 + 16) throw invalid()
    this.#purgeDeleted()
    const key = this.#keys.get(blob.subarray(5, ivAt).toString('utf8'))
    if (key === undefined) throw invalid()
    if (keyRef !== undefined && this.#resolve(keyRef, true) !== key) {
      throw new KmsFailure('IncorrectKeyException', 'The key ID in the request does not identify a KMS key that can perform this operation.')
    }
    this.#usable(key)
    try {
      const decipher = createDecipheriv('aes-256-gcm', Buffer.from(key.material, 'base64'), blob.subarray(ivAt, ivAt + 12))
      decipher.setAAD(aad(key.keyId, context))
      decipher.setAuthTag(blob.subarray(blob.length - 16))
      return { key, plaintext: Buffer.concat([decipher.update(blob.subarray(ivAt + 12, blob.length - 16)), decipher.final()]) }
    } catch {
      throw invalid()
    }
  }

  // --- Persistence --------------------------------------------------------------------------

  #loadFile(file: string): void {
    if (!existsSync(file)) return
    let state: StoredState
    try {
      state = JSON.parse(readFileSync(file, 'utf8')) as StoredState
      if (state.version !== 1 || !Array.isArray(state.keys) || typeof state.aliases !== 'object') throw new Error('shape')
    } catch {
      throw new ConfigError(`kms-dev-server: ${file} is not a key file written by the dev server`)
    }
    for (const k of state.keys) this.#keys.set(k.keyId, { ...k })
    for (const [a, t] of Object.entries(state.aliases)) this.#aliases.set(a, t)
  }

  #save(): void {
    if (this.#file === undefined) return
    const state: StoredState = { version: 1, keys: [...this.#keys.values()], aliases: Object.fromEntries(this.#aliases) }
    const tmp = `${this.#file}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify(state, null, 2), { mode: 0o600 })
    renameSync(tmp, this.#file)
  }
}

// 127.0.0.0/8 in dotted-decimal form, each part 0 to 255 without leading zeros.
const LOOPBACK_V4 = /^127(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/

/** True for a loopback name as a `Host` header carries it (lower-cased, without port). */
function isLoopbackName(name: string): boolean {
  return name === 'localhost' || name === '[::1]' || LOOPBACK_V4.test(name)
}

/**
 * The name of a `Host` header value (`name`, `name:port`, `[v6]`, `[v6]:port`), lower-cased,
 * without its port; undefined when it has none of these forms.
 */
function hostNameOf(header: string): string | undefined {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]/@]+)(?::[0-9]{1,5})?$/.exec(header)
  return m === null ? undefined : (m[1] as string).toLowerCase()
}

/** How a `host` option appears as the name of a `Host` header: lower-cased, IPv6 in brackets. */
function hostHeaderName(host: string): string {
  const h = host.toLowerCase()
  return h.includes(':') && !h.startsWith('[') ? `[${h}]` : h
}

function validAlias(name: string): boolean {
  return /^alias\/[a-zA-Z0-9/_-]{1,250}$/.test(name) && !name.startsWith('alias/aws/')
}

function defaultStatus(type: string): number {
  if (type === 'KMSInternalException' || type === 'KeyUnavailableException') return 500
  if (type === 'ServiceUnavailableException' || type === 'DependencyTimeoutException') return 503
  return 400
}

function aad(keyId: string, context: Record<string, string>): Buffer {
  const entries = Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return Buffer.from(JSON.stringify([AAD_DOMAIN, keyId, entries]), 'utf8')
}

function requestFacts(operation: string, b: Record<string, unknown>): { keyId?: string; encryptionContext?: Record<string, string> } {
  const keyField = operation === 'ReEncrypt' ? 'DestinationKeyId' : operation === 'CreateAlias' ? 'TargetKeyId' : 'KeyId'
  const ctxField = operation === 'ReEncrypt' ? 'DestinationEncryptionContext' : 'EncryptionContext'
  const out: { keyId?: string; encryptionContext?: Record<string, string> } = {}
  if (typeof b[keyField] === 'string') out.keyId = b[keyField] as string
  const c = b[ctxField]
  if (c !== null && typeof c === 'object' && !Array.isArray(c) && Object.values(c).every((v) => typeof v === 'string')) out.encryptionContext = { ...(c as Record<string, string>) }
  return out
}

function requiredString(b: Record<string, unknown>, field: string): string {
  const v = b[field]
  if (typeof v !== 'string' || v.length === 0) throw new KmsFailure('ValidationException', `${field} is required`)
  return v
}

function optionalString(b: Record<string, unknown>, field: string): string | undefined {
  const v = b[field]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string' || v.length === 0) throw new KmsFailure('ValidationException', `${field} must be a string`)
  return v
}

function blobField(b: Record<string, unknown>, field: string): Buffer {
  const v = b[field]
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw new KmsFailure('ValidationException', `${field} must be base64`)
  return Buffer.from(v, 'base64')
}

function encryptionContext(b: Record<string, unknown>, field: string): Record<string, string> {
  const v = b[field]
  if (v === undefined || v === null) return {}
  if (typeof v !== 'object' || Array.isArray(v)) throw new KmsFailure('ValidationException', `${field} must be a map`)
  for (const x of Object.values(v)) if (typeof x !== 'string') throw new KmsFailure('ValidationException', `${field} values must be strings`)
  return v as Record<string, string>
}

function algorithm(b: Record<string, unknown>, field: string): void {
  const v = b[field]
  if (v !== undefined && v !== 'SYMMETRIC_DEFAULT') throw new KmsFailure('ValidationException', `${field} must be SYMMETRIC_DEFAULT`)
}

function dataKeyLength(b: Record<string, unknown>): number {
  const spec = b.KeySpec
  const n = b.NumberOfBytes
  if (spec !== undefined && n !== undefined) throw new KmsFailure('ValidationException', 'give KeySpec or NumberOfBytes, not both')
  if (spec === 'AES_256') return 32
  if (spec === 'AES_128') return 16
  if (spec !== undefined) throw new KmsFailure('ValidationException', 'KeySpec must be AES_256 or AES_128')
  if (typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 1024) return n
  throw new KmsFailure('ValidationException', 'KeySpec or NumberOfBytes (1 to 1024) is required')
}
