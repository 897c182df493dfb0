// The id defaults that Prisma's client generates (`uuid()`, `uuid(7)`, `cuid()`, `cuid(2)`, `ulid()`,
// `nanoid()`, `nanoid(n)`), made the way Prisma 7 makes them: same length, alphabet and layout. rowcrypt
// makes them itself before the insert, so the row's id is known when its key is made and can be bound
// into the key's context. Randomness comes from node:crypto; nothing runs at import time (per-process
// state such as cuid fingerprints is made on first use).
import { createHash, randomFillSync, randomInt, randomUUID } from 'node:crypto'
import { hostname } from 'node:os'

/** @internal An id maker for a field's default function, or undefined when rowcrypt does not reproduce it. */
export function idGenerator(name: string | undefined, args: readonly unknown[] = []): (() => string) | undefined {
  const [arg] = args
  switch (name) {
    case 'uuid':
      if (args.length === 0 || arg === 4) return randomUUID
      return arg === 7 ? uuidV7 : undefined
    case 'cuid':
      if (args.length === 0 || arg === 1) return cuid
      return arg === 2 ? cuid2 : undefined
    case 'ulid':
      return args.length === 0 ? ulid : undefined
    case 'nanoid':
      if (args.length === 0) return () => nanoid(NANOID_LENGTH)
      // Prisma's schema accepts lengths 2 to 255.
      return Number.isInteger(arg) && (arg as number) >= 2 && (arg as number) <= 255 ? () => nanoid(arg as number) : undefined
    default:
      return undefined
  }
}

// Random bytes from a pool filled a few kilobytes at a time (as the nanoid package does): one
// small randomBytes call costs more than the whole id. Ids are not secrets; each slice is used at
// once and never handed out twice.
const POOL_SIZE = 4096
let pool: Buffer | undefined
let poolOffset = POOL_SIZE

function random(size: number): Buffer {
  pool ??= Buffer.allocUnsafe(POOL_SIZE)
  if (poolOffset + size > POOL_SIZE) {
    randomFillSync(pool)
    poolOffset = 0
  }
  poolOffset += size
  return pool.subarray(poolOffset - size, poolOffset)
}

// UUID v7 as the `uuid` package (Prisma's) makes it: 48-bit milliseconds, then a 32-bit sequence
// seeded at random each new millisecond and incremented within one, so ids made by one process
// sort in the order they were made, even when the clock stands still or steps back.
const v7 = { msecs: -Infinity, seq: 0 }

/** @internal A UUID v7, monotonic within the process, as Prisma's `uuid(7)`. */
export function uuidV7(): string {
  const r = random(16)
  const now = Date.now()
  if (now > v7.msecs) {
    v7.seq = ((r[6] as number) << 23) | ((r[7] as number) << 16) | ((r[8] as number) << 8) | (r[9] as number)
    v7.msecs = now
  } else {
    v7.seq = (v7.seq + 1) | 0
    if (v7.seq === 0) v7.msecs++
  }
  const ms = v7.msecs
  const seq = v7.seq
  const b = Buffer.alloc(16)
  b.writeUIntBE(ms, 0, 6)
  b[6] = 0x70 | ((seq >>> 28) & 0x0f)
  b[7] = (seq >>> 20) & 0xff
  b[8] = 0x80 | ((seq >>> 14) & 0x3f)
  b[9] = (seq >>> 6) & 0xff
  b[10] = ((seq << 2) & 0xff) | ((r[10] as number) & 0x03)
  r.copy(b, 11, 11, 16)
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

const pad = (s: string, size: number): string => ('000000000' + s).slice(-size)
const base36 = (n: number | bigint): string => n.toString(36)

// cuid (v1), as the `cuid` package: 'c', the time in base 36, a 4-digit counter, a 4-character
// host fingerprint (process id and host name) and 8 random characters; 25 characters today.
const CUID_BLOCK = 36 ** 4
let cuidCounter = 0
let cuidPrint: string | undefined

function cuidFingerprint(): string {
  let host: string
  try {
    host = hostname()
  } catch {
    host = 'hostname'
  }
  const sum = host.split('').reduce((acc, ch) => acc + ch.charCodeAt(0), host.length + 36)
  return pad(base36(process.pid), 2) + pad(base36(sum), 2)
}

/** @internal A cuid, as Prisma's `cuid()`. */
export function cuid(): string {
  cuidPrint ??= cuidFingerprint()
  cuidCounter = cuidCounter < CUID_BLOCK ? cuidCounter : 0
  const count = cuidCounter++
  const random = () => pad(base36(randomInt(CUID_BLOCK)), 4)
  return `c${base36(Date.now())}${pad(base36(count), 4)}${cuidPrint}${random()}${random()}`
}

// cuid2, as `@paralleldrive/cuid2` with its defaults (length 24): a random lowercase letter, then
// SHA3-512 of the time, random salt, a counter and a process fingerprint, in base 36.
const CUID2_LENGTH = 24
const CUID2_BIG_LENGTH = 32
let cuid2State: { counter: number; fingerprint: string } | undefined

const entropy = (length: number): string => {
  let out = ''
  while (out.length < length) out += base36(randomInt(36))
  return out
}
const sha3Base36 = (input: string): string => base36(BigInt(`0x${createHash('sha3-512').update(input, 'utf8').digest('hex')}`)).slice(1)

/** @internal A cuid2 of the default length (24), as Prisma's `cuid(2)`. */
export function cuid2(): string {
  cuid2State ??= {
    counter: randomInt(476_782_367),
    fingerprint: sha3Base36(Object.keys(globalThis).toString() + entropy(CUID2_BIG_LENGTH)).substring(0, CUID2_BIG_LENGTH),
  }
  const letter = String.fromCharCode(97 + randomInt(26))
  const input = base36(Date.now()) + entropy(CUID2_LENGTH) + base36(cuid2State.counter++) + cuid2State.fingerprint
  return letter + sha3Base36(input).substring(1, CUID2_LENGTH)
}

// ULID, as the `ulid` package's `ulid()` (not its monotonic factory, as Prisma): 10 characters of
// milliseconds and 16 random ones, in Crockford's base 32.
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/** @internal A ULID, as Prisma's `ulid()`. */
export function ulid(): string {
  let time = Date.now()
  let out = ''
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[time % 32]! + out
    time = Math.floor(time / 32)
  }
  for (const byte of random(16)) out += CROCKFORD[byte & 31]!
  return out
}

// Nano ID, as the `nanoid` package: its URL-safe alphabet (64 characters, so a byte's low 6 bits
// pick one without bias), 21 characters unless the schema says otherwise.
const NANOID_ALPHABET = 'useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict'
const NANOID_LENGTH = 21

/** @internal A Nano ID of `size` characters, as Prisma's `nanoid(size)`. */
export function nanoid(size: number): string {
  let out = ''
  for (const byte of random(size)) out += NANOID_ALPHABET[byte & 63]!
  return out
}
