// `rowcrypt kms-dev-server`: the local KMS-compatible server, in the foreground until Ctrl+C.
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { RowcryptError } from '../errors'
import { KmsDevServer } from '../kms/dev-server'
import type { CommandIO } from './tenant'

export const KMS_DEV_SERVER_USAGE = `Usage: rowcrypt kms-dev-server [options]

A local AWS KMS-compatible server for development and tests. Keys are stored UNPROTECTED.

Options:
  --port <n>          Port (default 4599; 0 picks a free one)
  --host <addr>       Interface (default 127.0.0.1); requests must name a loopback
                      host or <addr> in their Host header
  --file <path>       Key file, kept across restarts (default .rowcrypt-kms-dev.json)
  --memory            Keep keys in memory only
  --alias <name>      Make sure this alias exists (repeatable; default alias/rowcrypt-dev)
  --latency <ms>      Delay every response
`

/** Runs the server until `stop` aborts; returns the exit code. */
export async function kmsDevServerCommand(argv: string[], io: CommandIO, stop: AbortSignal): Promise<number> {
  let values: { port?: string; host?: string; file?: string; memory?: boolean; alias?: string[]; latency?: string; help?: boolean }
  try {
    values = parseArgs({
      args: argv,
      options: { port: { type: 'string' }, host: { type: 'string' }, file: { type: 'string' }, memory: { type: 'boolean' }, alias: { type: 'string', multiple: true }, latency: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values
  } catch (e) {
    io.err(`rowcrypt kms-dev-server: ${(e as Error).message}\n\n${KMS_DEV_SERVER_USAGE}`)
    return 2
  }
  if (values.help === true) {
    io.out(KMS_DEV_SERVER_USAGE)
    return 0
  }
  const port = Number(values.port ?? 4599)
  const latencyMs = Number(values.latency ?? 0)
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !Number.isFinite(latencyMs) || latencyMs < 0) {
    io.err(`rowcrypt kms-dev-server: --port must be 0 to 65535 and --latency a number of milliseconds\n`)
    return 2
  }
  const file = values.memory === true ? undefined : resolve(io.cwd, values.file ?? '.rowcrypt-kms-dev.json')
  let server: KmsDevServer
  try {
    server = await KmsDevServer.start({ port, host: values.host ?? '127.0.0.1', latencyMs, ...(file !== undefined ? { file } : {}) })
  } catch (e) {
    const detail = e instanceof RowcryptError ? `${e.message} (${e.code})` : (e as Error).message
    io.err(`rowcrypt kms-dev-server: cannot start: ${detail}\n`)
    return 1
  }
  io.out(`rowcrypt kms-dev-server listening on ${server.endpoint}${file !== undefined ? ` (keys in ${file})` : ' (keys in memory)'}\n`)
  for (const alias of values.alias ?? ['alias/rowcrypt-dev']) {
    const existing = server.aliasTarget(alias)
    const arn = existing !== undefined ? `arn:aws:kms:${server.region}:${server.accountId}:key/${existing}` : server.createKey({ alias, description: 'rowcrypt kms-dev-server' }).arn
    io.out(`  ${alias} -> ${arn}${existing !== undefined ? '' : ' (created)'}\n`)
  }
  io.out(`Development only: keys are stored unprotected. Client: new KMSClient({ endpoint: '${server.endpoint}', region: '${server.region}', credentials: { accessKeyId: 'dev', secretAccessKey: 'dev' } })\nPress Ctrl+C to stop.\n`)
  await new Promise<void>((done) => (stop.aborted ? done() : stop.addEventListener('abort', () => done(), { once: true })))
  await server.stop()
  const calls = Object.entries(server.calls()).map(([op, n]) => `${op}=${n}`).join(' ')
  io.out(`Stopped.${calls ? ` Calls: ${calls}` : ''}\n`)
  return 0
}
