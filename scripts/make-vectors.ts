// Writes test/vectors/ciphertext-v1.json: known-answer vectors for the rc1 field ciphertext
// format, the wrappedDek column format and LocalKeyProvider's wrapping.
//
//   npx ts-node --transpile-only scripts/make-vectors.ts [--force]
//
// Run once. The vectors pin the at-rest format: if a code change makes them fail, that change
// broke stored data, and the fix is a new format version, not new vectors. The script therefore
// refuses to overwrite an existing file unless given --force.
//
// The library draws IVs at random, so this script rebuilds, with fixed IVs, exactly what
// RowKey.encryptValue (src/fields/row.ts) and LocalKeyProvider#wrap (src/keys/local.ts) do, from
// the pure primitives (seal, encodeContext, formatCiphertext, formatWrappedKey).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { hkdfSync } from 'node:crypto'
import { dirname, join } from 'node:path'
import { seal } from '../src/crypto/aes-gcm'
import { encodeContext } from '../src/crypto/context'
import { ALGORITHM, FORMAT_VERSION, formatCiphertext, typeCode, type ValueType } from '../src/envelope/ciphertext'
import { formatWrappedKey } from '../src/envelope/wrapped-key'

const OUT = join(__dirname, '..', 'test', 'vectors', 'ciphertext-v1.json')

// Fixed inputs. Keys are arbitrary test values, never used anywhere else.
const DEK_USER = '5f0c1e9a2b7d4c3e8a6f1b0d9c2e4a7b3d5f6e8c0a1b2c3d4e5f60718293a4b5'
const DEK_DOC = 'c4b3a2918f7e6d5c4b3a29180f1e2d3c4b5a69788796a5b4c3d2e1f00112233a'
const MASTER_V1 = '0f1e2d3c4b5a69788796a5b4c3d2e1f0112233445566778899aabbccddeeff00'
const MASTER_V2 = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a'

interface FieldInput {
  name: string
  dek: string
  model: string
  field: string
  tenantId: string
  type: ValueType
  /** Extra AAD given to encryptRow/decryptRow, hex. */
  aad?: string
  plaintext: unknown
  iv: string
}

const fieldInputs: FieldInput[] = [
  { name: 'string', dek: DEK_USER, model: 'User', field: 'email', tenantId: 'tenant_a', type: 'string', plaintext: 'alice@example.com', iv: '000102030405060708090a0b' },
  { name: 'unicode string with emoji', dek: DEK_USER, model: 'User', field: 'notes', tenantId: 'tenant_a', type: 'string', plaintext: 'Grüße, 世界! café 👩‍💻🔐', iv: '101112131415161718191a1b' },
  { name: 'empty string', dek: DEK_USER, model: 'User', field: 'ssn', tenantId: 'tenant_a', type: 'string', plaintext: '', iv: '202122232425262728292a2b' },
  {
    name: 'json object',
    dek: DEK_USER,
    model: 'User',
    field: 'prefs',
    tenantId: 'tenant_a',
    type: 'json',
    plaintext: { theme: 'dark', langs: ['en', 'de'], n: 3, nested: { ok: true, none: null } },
    iv: '303132333435363738393a3b',
  },
  { name: 'bytes', dek: DEK_USER, model: 'User', field: 'avatar', tenantId: 'tenant_a', type: 'bytes', plaintext: '89504e470d0a1a0a0000ff', iv: '404142434445464748494a4b' },
  {
    name: 'string with extra aad',
    dek: DEK_DOC,
    model: 'Document',
    field: 'body',
    tenantId: 'org_42',
    type: 'string',
    aad: Buffer.from('request:7f3a', 'utf8').toString('hex'),
    plaintext: 'Contract: the party of the first part …',
    iv: '505152535455565758595a5b',
  },
]

interface WrapInput {
  name: string
  masterKey: string
  keyVersion: string
  context: Record<string, string>
  dek: string
  iv: string
}

const wrapInputs: WrapInput[] = [
  {
    name: 'row-bound',
    masterKey: MASTER_V1,
    keyVersion: 'v1',
    context: { purpose: 'row-dek', model: 'User', tenantId: 'tenant_a', rowId: '42' },
    dek: DEK_USER,
    iv: '606162636465666768696a6b',
  },
  {
    name: 'unbound',
    masterKey: MASTER_V2,
    keyVersion: 'v2',
    context: { purpose: 'row-dek', model: 'Document', tenantId: 'org_42' },
    dek: DEK_DOC,
    iv: '707172737475767778797a7b',
  },
]

function encodePlaintext(type: ValueType, value: unknown): Buffer {
  if (type === 'string') return Buffer.from(value as string, 'utf8')
  if (type === 'json') return Buffer.from(JSON.stringify(value), 'utf8')
  return Buffer.from(value as string, 'hex')
}

// RowKey's field AAD: { purpose, format, alg, model, tenantId, aad?, field, type }.
function fieldAad(v: FieldInput): Buffer {
  return encodeContext({
    purpose: 'field',
    format: FORMAT_VERSION,
    alg: ALGORITHM,
    model: v.model,
    tenantId: v.tenantId,
    ...(v.aad !== undefined ? { aad: Buffer.from(v.aad, 'hex').toString('base64url') } : {}),
    field: v.field,
    type: typeCode(v.type),
  })
}

const fields = fieldInputs.map((v) => {
  const iv = Buffer.from(v.iv, 'hex')
  const { ciphertext, tag } = seal(Buffer.from(v.dek, 'hex'), iv, encodePlaintext(v.type, v.plaintext), fieldAad(v))
  const { plaintext, ...rest } = v
  return {
    ...rest,
    ...(v.type === 'bytes' ? { plaintextHex: plaintext } : { plaintext }),
    stored: formatCiphertext({ type: v.type, iv, ciphertext, tag }),
  }
})

const wrappedKeys = wrapInputs.map((v) => {
  const kek = Buffer.from(hkdfSync('sha256', Buffer.from(v.masterKey, 'hex'), Buffer.alloc(0), Buffer.from('rowcrypt/local-key-provider/wrap/v1'), 32))
  const iv = Buffer.from(v.iv, 'hex')
  const { ciphertext, tag } = seal(kek, iv, Buffer.from(v.dek, 'hex'), encodeContext({ ...v.context, keyVersion: v.keyVersion }))
  const providerBlob = Buffer.concat([iv, ciphertext, tag])
  return {
    ...v,
    providerBlob: providerBlob.toString('hex'),
    storedWrappedDek: Buffer.from(formatWrappedKey({ rowBound: v.context.rowId !== undefined, providerBlob })).toString('hex'),
  }
})

// Whole stored rows: a wrapped key vector plus the field vectors under the same data key.
function row(name: string, wrapName: string, model: string, idField: string | undefined) {
  const wk = wrappedKeys.find((w) => w.name === wrapName)!
  const fs = fields.filter((f) => f.model === model && f.dek === wk.dek && f.tenantId === wk.context.tenantId)
  const aads = new Set(fs.map((f) => f.aad))
  if (aads.size !== 1) throw new Error(`row ${name}: fields disagree on aad`)
  const stored: Record<string, unknown> = {}
  const expected: Record<string, unknown> = {}
  if (idField !== undefined) stored[idField] = wk.context.rowId
  for (const f of fs) {
    stored[f.field] = f.stored
    expected[f.field] = 'plaintextHex' in f ? { hex: f.plaintextHex } : f.plaintext
  }
  stored.wrappedDek = { hex: wk.storedWrappedDek }
  stored.keyVersion = wk.keyVersion
  stored.tenantId = wk.context.tenantId
  return {
    name,
    model,
    tenantId: wk.context.tenantId,
    idField,
    ...(fs[0]?.aad !== undefined ? { aad: fs[0].aad } : {}),
    fields: fs.map((f) => ({ name: f.field, type: f.type })),
    masterKeys: { [wk.keyVersion]: wk.masterKey },
    stored,
    expected,
  }
}

const rows = [row('User row, row-bound data key', 'row-bound', 'User', 'id'), row('Document row, unbound data key, extra aad', 'unbound', 'Document', undefined)]

const doc = {
  description:
    'rowcrypt known-answer vectors, format rc1. fields: field ciphertexts (rc1.A256GCM.<type>.<iv>.<ct+tag>) under a given data key; ' +
    'wrappedKeys: LocalKeyProvider blobs (iv|ct|tag, HKDF-SHA256 info "rowcrypt/local-key-provider/wrap/v1", AAD encodeContext({...context, keyVersion})) ' +
    'and the wrappedDek column (0x01 | flags | blob); rows: whole stored rows. Binary values are hex. Generated once by scripts/make-vectors.ts; never regenerate to make a test pass.',
  formatVersion: FORMAT_VERSION,
  algorithm: ALGORITHM,
  fields,
  wrappedKeys,
  rows,
}

if (existsSync(OUT) && !process.argv.includes('--force')) {
  console.error(`${OUT} exists; the vectors are pinned. Pass --force only for a deliberate new vector file.`)
  process.exit(1)
}
mkdirSync(dirname(OUT), { recursive: true })
writeFileSync(OUT, JSON.stringify(doc, null, 2) + '\n')
console.log(`wrote ${fields.length} field, ${wrappedKeys.length} wrapped-key and ${rows.length} row vectors to ${OUT}`)
