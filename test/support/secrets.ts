// Secrets hygiene helpers: sentinel plaintexts, key material seen by a key provider, everything an
// error carries (message, stack, cause chain, AggregateError members, Prisma meta), and captured
// process output. Used by test/integration/secrets-hygiene.test.ts.
import { randomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import type { BindingContext, GeneratedDataKey, KeyProvider } from '../../src'

const encodings = (bytes: Uint8Array): string[] => {
  const b = Buffer.from(bytes)
  return [b.toString('hex'), b.toString('hex').toUpperCase(), b.toString('base64').replace(/=+$/, ''), b.toString('base64url')]
}

/** The strings that must never appear in any output, and a count of the checks made. */
export class SecretSet {
  readonly #secrets = new Map<string, string>()
  /** Haystacks scanned. */
  scanned = 0
  /** Haystack × secret comparisons made. */
  checks = 0

  /** A fresh sentinel plaintext, registered as it is and in its byte encodings. */
  sentinel(label = 'plain'): string {
    const s = `SNTL${label}${randomBytes(12).toString('hex')}`
    this.add(`sentinel ${label}`, s)
    return s
  }

  /** Registers a string secret (and the encodings of its UTF-8 bytes). */
  add(label: string, value: string): void {
    this.#secrets.set(value, label)
    for (const e of encodings(Buffer.from(value, 'utf8'))) this.#secrets.set(e, `${label} (encoded)`)
  }

  /** Registers key bytes in hex, base64 and base64url. */
  addKey(label: string, bytes: Uint8Array): void {
    for (const e of encodings(bytes)) this.#secrets.set(e, label)
  }

  get size(): number {
    return this.#secrets.size
  }

  /** The secrets found in `text`, labelled by where they were found. */
  leaks(where: string, text: string): string[] {
    this.scanned++
    this.checks += this.#secrets.size
    const found: string[] = []
    for (const [secret, label] of this.#secrets) if (text.includes(secret)) found.push(`${label} in ${where}`)
    return found
  }
}

/** Every text an error exposes: message, stack, inspect(), own properties, `meta`, the `cause` chain and AggregateError members. */
export function errorTexts(error: unknown): string[] {
  const out: string[] = []
  const seen = new Set<unknown>()
  const visit = (e: unknown, depth: number): void => {
    if (e === null || e === undefined || seen.has(e) || depth > 20) return
    seen.add(e)
    if (!(e instanceof Error)) {
      out.push(typeof e === 'string' ? e : inspect(e, { depth: 10 }))
      return
    }
    out.push(e.message, e.stack ?? '', String(e), inspect(e, { depth: 10, showHidden: true }))
    const props = e as unknown as Record<string, unknown>
    for (const key of Object.getOwnPropertyNames(e)) if (!['stack', 'message'].includes(key)) out.push(`${key}=${inspect(props[key], { depth: 10 })}`)
    if ('meta' in e) out.push(inspect(props.meta, { depth: 10 }))
    visit(e.cause, depth + 1)
    if (e instanceof AggregateError) for (const member of e.errors) visit(member, depth + 1)
  }
  visit(error, 0)
  return out
}

/** A key provider that records every plaintext data key it hands out (copies: rowcrypt zeroes its own). */
export class KeyRecordingProvider implements KeyProvider {
  readonly keys: Uint8Array[] = []
  constructor(private readonly inner: KeyProvider) {}
  get activeKeyVersion(): string {
    return this.inner.activeKeyVersion
  }
  async generateDataKey(context: BindingContext): Promise<GeneratedDataKey> {
    const k = await this.inner.generateDataKey(context)
    this.keys.push(new Uint8Array(k.plaintextKey))
    return k
  }
  wrapDataKey(plaintextKey: Uint8Array, context: BindingContext, keyVersion?: string): Promise<{ wrappedKey: Uint8Array; keyVersion: string }> {
    this.keys.push(new Uint8Array(plaintextKey))
    return this.inner.wrapDataKey(plaintextKey, context, keyVersion)
  }
  async unwrapDataKey(wrappedKey: Uint8Array, keyVersion: string, context: BindingContext): Promise<Uint8Array> {
    const k = await this.inner.unwrapDataKey(wrappedKey, keyVersion, context)
    this.keys.push(new Uint8Array(k))
    return k
  }
}

/** Captures process.stdout/stderr writes and console.* calls until `restore()`. */
export function captureOutput(): { text(): string; restore(): void } {
  const chunks: string[] = []
  const out = process.stdout.write.bind(process.stdout)
  const err = process.stderr.write.bind(process.stderr)
  const methods = ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir'] as const
  const saved = methods.map((m) => console[m])
  const grab = (chunk: unknown) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : inspect(chunk))
    return true
  }
  process.stdout.write = grab as typeof process.stdout.write
  process.stderr.write = grab as typeof process.stderr.write
  for (const m of methods) console[m] = (...args: unknown[]) => void chunks.push(args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 10 }))).join(' '))
  return {
    text: () => chunks.join('\n'),
    restore: () => {
      process.stdout.write = out
      process.stderr.write = err
      methods.forEach((m, i) => (console[m] = saved[i] as never))
    },
  }
}
