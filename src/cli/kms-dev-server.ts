// `rowcrypt kms-dev-server`: the local KMS-compatible server, in the foreground until SIGINT or
// SIGTERM. Options and help: table.ts.
import { resolve } from 'node:path'
import { KmsDevServer } from '../kms/dev-server'
import { EXIT } from './failure'
import type { CommandContext } from './spec'
import type { KmsDevServerValues } from './table'

/** The handler of `rowcrypt kms-dev-server`: serves until the context's signal aborts. */
export async function runKmsDevServer(v: KmsDevServerValues, { io, signal }: CommandContext): Promise<number> {
  const file = v.memory ? undefined : resolve(io.cwd, v.file ?? '.rowcrypt-kms-dev.json')
  const server = await KmsDevServer.start({ port: v.port ?? 4599, host: v.host ?? '127.0.0.1', latencyMs: v.latency ?? 0, ...(file !== undefined ? { file } : {}) })
  try {
    const aliases = (v.alias.length > 0 ? v.alias : ['alias/rowcrypt-dev']).map((alias) => {
      const existing = server.aliasTarget(alias)
      const arn = existing !== undefined ? `arn:aws:kms:${server.region}:${server.accountId}:key/${existing}` : server.createKey({ alias, description: 'rowcrypt kms-dev-server' }).arn
      return { alias, arn, created: existing === undefined }
    })
    if (v.json) {
      io.out(`${JSON.stringify({ event: 'listening', endpoint: server.endpoint, region: server.region, keyFile: file ?? null, aliases })}\n`)
    } else {
      io.out(`rowcrypt kms-dev-server listening on ${server.endpoint}${file !== undefined ? ` (keys in ${file})` : ' (keys in memory)'}\n`)
      for (const a of aliases) io.out(`  ${a.alias} -> ${a.arn}${a.created ? ' (created)' : ''}\n`)
      io.out(
        `Development only: keys are stored unprotected. Client: new KMSClient({ endpoint: '${server.endpoint}', region: '${server.region}', credentials: { accessKeyId: 'dev', secretAccessKey: 'dev' } })\nPress Ctrl+C to stop.\n`,
      )
    }
    await new Promise<void>((done) => (signal === undefined || signal.aborted ? done() : signal.addEventListener('abort', () => done(), { once: true })))
  } finally {
    await server.stop()
  }
  const calls = server.calls()
  if (v.json) io.out(`${JSON.stringify({ event: 'stopped', calls })}\n`)
  else
    io.out(
      `Stopped.${
        Object.keys(calls).length > 0
          ? ` Calls: ${Object.entries(calls)
              .map(([op, n]) => `${op}=${n}`)
              .join(' ')}`
          : ''
      }\n`,
    )
  return EXIT.ok
}
