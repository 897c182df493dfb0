// `npx ts-node --transpile-only examples/express-app/server.ts` (after `npm run generate`):
// the example on an embedded SQLite file, with Prometheus metrics at /metrics and the audit trail
// written as JSON lines. Configuration comes from the environment (this is an application, not
// the library): PORT, JWT_SECRET, ROWCRYPT_KEY_V1, AUDIT_LOG.
import { createWriteStream, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import Database from 'better-sqlite3'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import * as promClient from 'prom-client'
import { auditTrail, LocalKeyProvider, rowcryptMetrics } from 'rowcrypt'
import { PrismaClient } from '../../generated/sqlite/client/client'
import { manifest } from '../../generated/sqlite/rowcrypt'
import { applySqliteMigrations } from '../../prisma/migrate'
import { createApp } from './app'
import { requestContext, signHs256 } from './auth'
import { createClient } from './client'
import { jsonLines } from './audit-log'

async function main(): Promise<void> {
  const file = join(__dirname, '..', 'express-app.db')
  // Without a fixed key, rows of an earlier run could not be decrypted: start from an empty file.
  if (process.env.ROWCRYPT_KEY_V1 === undefined) rmSync(file, { force: true })
  const sqlite = new Database(file)
  applySqliteMigrations(sqlite)
  sqlite.close()

  const secret = process.env.JWT_SECRET ?? randomBytes(32).toString('base64url')
  const masterKey = process.env.ROWCRYPT_KEY_V1 ?? LocalKeyProvider.generateMasterKey()
  const auditFile = process.env.AUDIT_LOG ?? join(tmpdir(), 'rowcrypt-express-audit.jsonl')

  const registry = new promClient.Registry()
  const metrics = rowcryptMetrics({ client: promClient, registry, tenantLabel: { enabled: true, maxTenants: 100 } })
  const audit = auditTrail(jsonLines(createWriteStream(auditFile, { flags: 'a' })), {
    context: () => requestContext.getStore(),
    onError: (e) => console.error('audit write failed', e),
  })
  const prisma = createClient({
    base: new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: `file:${file}` }) }),
    manifest,
    keyProvider: new LocalKeyProvider({ keys: { v1: masterKey }, activeVersion: 'v1' }),
    observers: [metrics, audit],
  })
  const app = createApp({ prisma, auth: { jwt: { secret } }, registry, metrics })
  const port = Number(process.env.PORT ?? 3000)
  app.listen(port, () => {
    const token = signHs256({ sub: 'demo-user', tenant: 'acme', exp: Math.floor(Date.now() / 1000) + 3600 }, secret)
    console.log(`listening on http://localhost:${port}; audit trail in ${auditFile}`)
    console.log(`try: curl -H 'authorization: Bearer ${token}' http://localhost:${port}/users`)
  })
}

main().catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
