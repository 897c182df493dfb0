// `rowcrypt encrypt-existing --model User`: encrypts rows written before rowcrypt, through the
// application's extended client from rowcrypt.config (the model in `migrating` mode).
import { parseArgs } from 'node:util'
import { ConfigError, RowcryptError } from '../errors'
import { encryptExistingRows } from '../rotation/encrypt-existing'
import { loadConfig } from './config'
import type { CommandIO } from './tenant'

export const ENCRYPT_EXISTING_USAGE = `Usage: rowcrypt encrypt-existing --model <Model> [options]

Encrypts every row of <Model> that has no wrapped data key yet (rows written before rowcrypt), in
batches, each under its own tenant. Idempotent and resumable: run it again after an interruption.
The model must be configured with migrating: { legacyIds } (the ids of the rows that existed at
cutover), and rowcrypt.config must export the client extended with rowcrypt() as "prisma". A row
without a key whose id is not a legacy one stops the command (ERR_ROWCRYPT_CIPHERTEXT_FORMAT).

Options:
  --model <Model>      the model to encrypt (required)
  --batch-size <n>     rows per batch (default 100)
  --concurrency <n>    rows encrypted at once within a batch (default 4)
  --config <path>      the config module (default: rowcrypt.config.ts/.js in the working directory)
  --json               print progress as JSON lines
  -h, --help           show this text

Exit codes: 0 done, 1 failed, 2 usage error.
`

/** Runs `rowcrypt encrypt-existing`; resolves to the exit code. */
export async function encryptExistingCommand(argv: string[], io: CommandIO, signal?: AbortSignal): Promise<number> {
  let values: { model?: string; 'batch-size'?: string; concurrency?: string; config?: string; json?: boolean; help?: boolean }
  try {
    values = parseArgs({
      args: argv,
      options: { model: { type: 'string' }, 'batch-size': { type: 'string' }, concurrency: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values
  } catch (e) {
    io.err(`rowcrypt encrypt-existing: ${(e as Error).message}\n\n${ENCRYPT_EXISTING_USAGE}`)
    return 2
  }
  if (values.help === true) {
    io.out(ENCRYPT_EXISTING_USAGE)
    return 0
  }
  const number = (text: string | undefined, name: string): number | undefined => {
    if (text === undefined) return undefined
    const n = Number(text)
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer`)
    return n
  }
  let batchSize: number | undefined
  let concurrency: number | undefined
  try {
    if (values.model === undefined || values.model === '') throw new UsageError('--model is required')
    batchSize = number(values['batch-size'], 'batch-size')
    concurrency = number(values.concurrency, 'concurrency')
  } catch (e) {
    io.err(`rowcrypt encrypt-existing: ${(e as Error).message}\n\n${ENCRYPT_EXISTING_USAGE}`)
    return 2
  }

  let loaded: Awaited<ReturnType<typeof loadConfig>> | undefined
  try {
    loaded = await loadConfig({ cwd: io.cwd, configPath: values.config, importModule: io.importModule })
    const prisma = loaded.config.prisma as { $rowcrypt?: unknown } | undefined
    if (typeof prisma?.$rowcrypt !== 'function') throw new ConfigError(`${loaded.path} must export the client extended with rowcrypt() as "prisma"`)
    const report = (p: { encrypted: number; skipped: number }, done: boolean) =>
      io.out(values.json === true ? `${JSON.stringify({ model: values.model, ...p, done })}\n` : `${done ? 'Done' : 'Progress'}: ${p.encrypted} encrypted, ${p.skipped} skipped\n`)
    const result = await encryptExistingRows(prisma, {
      model: values.model!,
      ...(batchSize !== undefined ? { batchSize } : {}),
      ...(concurrency !== undefined ? { concurrency } : {}),
      ...(signal !== undefined ? { signal } : {}),
      onBatch: (p) => report(p, false),
    })
    report(result, true)
    return 0
  } catch (e) {
    io.err(`rowcrypt encrypt-existing: ${e instanceof Error ? e.message : String(e)}${e instanceof RowcryptError ? ` (${e.code})` : ''}\n`)
    return 1
  } finally {
    await loaded?.dispose()
  }
}

class UsageError extends Error {}
