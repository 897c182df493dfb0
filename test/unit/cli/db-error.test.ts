// One line from Prisma's messages: the reason after the "Invalid `…` invocation" header and code frame
// (which shows the call's arguments). The messages are Prisma 7.10's, as printed for an unreachable
// database; real errors from real clients are reported in test/integration/cli-binary.test.ts.
import { oneLine, prismaReason } from '../../../src/cli/db-error'

const modelCall = [
  '',
  'Invalid `delegate.findFirst()` invocation in',
  '/app/node_modules/rowcrypt/dist/rotation/target.js:114:80',
  '',
  '  111 const delegate = ctx.client[model.charAt(0).toLowerCase() + model.slice(1)];',
  "  112 if (typeof delegate?.findFirst !== 'function')",
  '  113     throw new errors_1.ConfigError(`the Prisma client has no model ${model}`);',
  "→ 114 const row = await bypass('rowcrypt rotation: locate table', () => delegate.findFirst(",
  "Can't reach database server at 127.0.0.1:1",
].join('\n')

describe('prismaReason', () => {
  it('drops the header, the file and the code frame of a model call', () => {
    expect(prismaReason(modelCall)).toBe("Can't reach database server at 127.0.0.1:1")
  })

  it('reduces a raw query failure to its message, on one line', () => {
    expect(prismaReason("\nInvalid `prisma.$queryRawUnsafe()` invocation:\n\n\nRaw query failed. Code: `N/A`. Message: `Can't reach database server at 127.0.0.1:1`")).toBe(
      "Can't reach database server at 127.0.0.1:1",
    )
    expect(
      prismaReason(
        '\nInvalid `prisma.$queryRawUnsafe()` invocation:\n\n\nRaw query failed. Code: `45028`. Message: `pool timeout: failed to retrieve a connection from pool after 3000ms\n    (pool connections: active=0 idle=0 limit=10)`',
      ),
    ).toBe('pool timeout: failed to retrieve a connection from pool after 3000ms (pool connections: active=0 idle=0 limit=10)')
  })

  it('keeps a message without a header to its first paragraph', () => {
    expect(prismaReason("Can't reach database server at `db:5432`\n\nPlease make sure your database server is running at `db:5432`.")).toBe("Can't reach database server at `db:5432`")
  })
})

describe('oneLine', () => {
  it('is the first non-empty paragraph with whitespace collapsed', () => {
    expect(oneLine('\n\n  a\n   b  \n\nc')).toBe('a b')
    expect(oneLine('')).toBe('')
  })
})
