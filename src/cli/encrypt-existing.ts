// `rowcrypt encrypt-existing --model User`: encrypts rows written before rowcrypt, through the
// application's extended client from rowcrypt.config (the model in `migrating` mode), with the
// progress output of `rotate`. Options and help: table.ts.
import { ConfigError } from '../errors'
import { encryptExistingRows, type EncryptExistingResult } from '../rotation/encrypt-existing'
import { unsafeBypassTenantScope } from '../tenant/context'
import { loadConfig } from './config'
import { EXIT } from './failure'
import { rows } from './job'
import { formatCount, formatDuration, JsonLines, ProgressBar } from './progress'
import type { CommandContext } from './spec'
import type { EncryptExistingValues } from './table'

interface DescribedClient {
  $rowcrypt(): { models: Record<string, { columns: { wrappedDek: string } } | undefined> }
}

/** The handler of `rowcrypt encrypt-existing`. */
export async function runEncryptExisting(v: EncryptExistingValues, { io, name, signal }: CommandContext): Promise<number> {
  const loaded = await loadConfig({ cwd: io.cwd, configPath: v.config, importModule: io.importModule })
  const bar = v.json || io.tty !== true ? undefined : new ProgressBar(io.err)
  try {
    const prisma = loaded.config.prisma as (Partial<DescribedClient> & Record<string, unknown>) | undefined
    if (typeof prisma?.$rowcrypt !== 'function') throw new ConfigError(`${loaded.path} must export the client extended with rowcrypt() as "prisma"`)
    const total = await keylessRows(prisma as DescribedClient & Record<string, unknown>, v.model)
    const started = performance.now()
    const lines = new JsonLines(io.out)
    const view = (p: EncryptExistingResult) => {
      const done = p.encrypted + p.skipped
      const elapsedMs = performance.now() - started
      const rowsPerSecond = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0
      const etaSeconds = total !== undefined && rowsPerSecond > 0 ? Math.max(0, total - done) / rowsPerSecond : undefined
      return { ...p, done, total: total ?? done, elapsedMs, rowsPerSecond, etaSeconds }
    }
    const onBatch = (p: EncryptExistingResult) => {
      const s = view(p)
      if (v.json)
        lines.emit(
          { event: 'progress', model: v.model, encrypted: s.encrypted, skipped: s.skipped, total: s.total, rowsPerSecond: s.rowsPerSecond, etaSeconds: s.etaSeconds ?? null, elapsedMs: s.elapsedMs },
          true,
        )
      else if (bar !== undefined) bar.update({ label: `encrypt ${v.model}`, done: s.done, total: s.total, rowsPerSecond: s.rowsPerSecond, etaSeconds: s.etaSeconds, failed: 0 })
      else
        io.out(
          `Progress: ${v.model} ${formatCount(s.done)}/${formatCount(s.total)} rows (${formatCount(s.encrypted)} encrypted, ${formatCount(s.skipped)} skipped), ${formatCount(s.rowsPerSecond)} rows/s, ETA ${formatDuration(s.etaSeconds)}\n`,
        )
    }
    const result = await encryptExistingRows(prisma, {
      model: v.model,
      ...(v['batch-size'] !== undefined ? { batchSize: v['batch-size'] } : {}),
      ...(v.concurrency !== undefined ? { concurrency: v.concurrency } : {}),
      ...(signal !== undefined ? { signal } : {}),
      onBatch,
    })
    bar?.clear()
    const interrupted = signal?.aborted === true
    const s = view(result)
    if (v.json) {
      lines.emit({ event: 'done', model: v.model, encrypted: s.encrypted, skipped: s.skipped, total: s.total, elapsedMs: s.elapsedMs, rowsPerSecond: s.rowsPerSecond, interrupted }, true)
    } else {
      const summary = `${rows(s.encrypted, formatCount)} encrypted, ${formatCount(s.skipped)} skipped in ${formatDuration(s.elapsedMs / 1000)} (${formatCount(s.rowsPerSecond)} rows/s)`
      io.out(`${interrupted ? 'Stopped' : 'Done'}: ${v.model}: ${summary}.${interrupted ? ` Run ${name} again to continue.` : ''}\n`)
    }
    return interrupted ? EXIT.interrupted : EXIT.ok
  } finally {
    bar?.clear()
    await loaded.dispose()
  }
}

// The rows the job will go through (no wrapped key yet), for progress and ETA; undefined when the
// model is not configured, which encryptExistingRows reports with its reason.
async function keylessRows(client: DescribedClient & Record<string, unknown>, model: string): Promise<number | undefined> {
  const described = client.$rowcrypt().models[model]
  if (described === undefined) return undefined
  const delegate = client[model.charAt(0).toLowerCase() + model.slice(1)] as { count(args: unknown): Promise<number> }
  return unsafeBypassTenantScope(`rowcrypt encrypt-existing ${model}`, () => delegate.count({ where: { [described.columns.wrappedDek]: null } }))
}
