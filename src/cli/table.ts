// The command table: every command and subcommand of `rowcrypt`, with its summary, help text,
// options and exit codes. Parsing, --help and usage errors are all derived from it (run.ts), so no
// command can drift from another. Each command's code is loaded only when it runs.
import { command, flag, integer, list, number, text, type ExitCode, type GroupSpec, type Entry, type Values } from './spec'

/** The first paragraph of `rowcrypt --help`. */
export const INTRO =
  'Row-level envelope encryption and hard tenant isolation for Prisma: keys, rotation, tenant and row-level security commands. ' +
  'Commands that work on your data load your set-up from rowcrypt.config.ts (or .cts, .mts, .js, .cjs, .mjs; --config <path>). ' +
  'With --json, output and failures are JSON lines on stdout.'

// Options several commands share, declared once.
const config = text('<path>', 'Config file (default: rowcrypt.config.ts, .cts, .mts, .js, .cjs or .mjs in this directory)')
const dbSchema = text('<name>', "PostgreSQL schema of the tables, when it cannot be found (default: from information_schema, or the config's dbSchema)", { suggestFor: ['schema', 'pg-schema'] })
const jsonLines = (events: string) => flag(`Print JSON lines (${events}), also on a terminal; a failure is an "error" event`)
const model = (help: string) => text('<name>', help)
const tenant = (help: string) => text('<id>', help)
const batchSize = (what: string, n: number) => integer('<n>', `${what} (default ${n})`)
const concurrency = (what: string, n: number) => integer('<n>', `${what} (default ${n})`)
const maxKmsRps = number('<n>', 'Most key-provider (KMS) requests per second (default: no limit)', { above: 0 })

const OK: ExitCode = [0, 'success']
const USAGE: ExitCode = [2, 'usage error (unknown or invalid option) or configuration error (missing or invalid config file, unknown model: ERR_ROWCRYPT_CONFIG)']
const STOPPED: ExitCode = [130, 'stopped by SIGINT or SIGTERM after the current batch; run again to continue']

export const ROTATE_OPTIONS = {
  model: model('Only this model (default: every configured model)'),
  tenant: tenant("Only this tenant's rows (default: every tenant)"),
  from: list('<version>', 'Move rows off this key version; repeat or comma-separate for several (default: every version but the target)'),
  to: text('<version>', "Target key version (default: the key provider's active version)"),
  'older-than': text(
    '<age>',
    "Move only rows whose key is older than <age>, Nd (days) or Nh (hours), e.g. 90d: key versions created before then and, with per-tenant keys, tenants' keys that old. Needs the key provider's creation times (createdAt, or KMS CreationDate)",
    { conflicts: ['from', 'reindex'] },
  ),
  rekey: flag('Fresh data key per row, fields re-encrypted (for a suspected data-key leak)', { conflicts: ['reindex'] }),
  reindex: flag('Recompute blind indexes of searchable fields not under the active index key version (blindIndex.keyVersion); data keys and ciphertexts unchanged', { conflicts: ['from', 'to'] }),
  'batch-size': batchSize('Rows claimed and updated per transaction', 200),
  concurrency: concurrency('Rows of a batch worked on at once', 8),
  'max-kms-rps': maxKmsRps,
  'dry-run': flag('Count the rows that would be rotated; change nothing'),
  json: jsonLines('"progress", "failure" and "done" events'),
  config,
  'db-schema': dbSchema,
}

export const STATUS_OPTIONS = {
  model: model('Only this model (default: every configured model)'),
  'by-tenant': flag("Also count per tenant (and show tenants' key ages, for key providers with per-tenant keys)"),
  'max-key-age-days': number(
    '<n>',
    "Key age policy: exit 3 when a key version that still has rows (or, with --by-tenant, a tenant key) is older than n days, or of unknown age (default: the config's maxKeyAgeDays; none)",
    {
      above: 0,
    },
  ),
  json: flag('Print one JSON document { activeKeyVersion, models, checkedAt, keyVersions, ... } instead of the table; a failure is an "error" event'),
  config,
  'db-schema': dbSchema,
}

export const VERIFY_OPTIONS = {
  model: model('Only this model (default: every configured model)'),
  tenant: tenant("Only this tenant's rows (default: every tenant)"),
  sample: integer('<n>', 'Check n random rows per model instead of every row'),
  'batch-size': batchSize('Rows read per query', 500),
  concurrency: concurrency('Rows decrypted at once', 8),
  'max-kms-rps': maxKmsRps,
  json: jsonLines('"progress", "failure" and "done" events'),
  config,
  'db-schema': dbSchema,
}

export const ENCRYPT_EXISTING_OPTIONS = {
  model: text('<Model>', 'The model to encrypt, configured with migrating: { legacyIds }', { required: true }),
  'batch-size': batchSize('Rows read and encrypted per batch', 100),
  concurrency: concurrency('Rows encrypted at once within a batch', 4),
  json: jsonLines('a "progress" event after each batch, then "done"'),
  config,
}

export const SHRED_OPTIONS = {
  tenant: text('<id>', 'The tenant to shred', { required: true }),
  'kms-keys': text('<action>', "What to do with the tenant's own KMS keys: schedule-deletion (default), disable or keep", { choices: ['schedule-deletion', 'disable', 'keep'] }),
  'pending-window-days': integer('<n>', 'Days before KMS deletes a key scheduled for deletion, 7 to 30 (default 30)', { min: 7, max: 30 }),
  yes: flag('Do not ask for confirmation (required when stdin is not a terminal)'),
  json: flag('Print the result as one JSON document; a failure is an "error" event'),
  config,
}

export const RLS_SQL_OPTIONS = {
  'db-schema': text('<name>', 'Qualify the tables that have no @@schema with this PostgreSQL schema (default: unqualified)', { suggestFor: ['schema', 'pg-schema'] }),
  config,
}

export const KMS_DEV_SERVER_OPTIONS = {
  port: integer('<n>', 'Port (default 4599; 0 picks a free one)', { min: 0, max: 65535 }),
  host: text('<addr>', 'Interface to listen on (default 127.0.0.1); requests must name a loopback host or <addr> in their Host header'),
  file: text('<path>', 'Key file, kept across restarts (default .rowcrypt-kms-dev.json in this directory)'),
  memory: flag('Keep keys in memory only', { conflicts: ['file'] }),
  alias: list('<name>', 'Make sure this alias exists; repeat or comma-separate for several (default alias/rowcrypt-dev)'),
  latency: number('<ms>', 'Delay every response by this many milliseconds (default 0)', { min: 0 }),
  json: flag('Print "listening" and "stopped" events as JSON lines; a failure is an "error" event'),
}

export type RotateValues = Values<typeof ROTATE_OPTIONS>
export type StatusValues = Values<typeof STATUS_OPTIONS>
export type VerifyValues = Values<typeof VERIFY_OPTIONS>
export type EncryptExistingValues = Values<typeof ENCRYPT_EXISTING_OPTIONS>
export type ShredValues = Values<typeof SHRED_OPTIONS>
export type RlsSqlValues = Values<typeof RLS_SQL_OPTIONS>
export type KmsDevServerValues = Values<typeof KMS_DEV_SERVER_OPTIONS>

const tenantGroup: GroupSpec = {
  name: 'tenant',
  summary: "Commands on a tenant's keys",
  description: "Commands on a tenant's keys, through the key provider of your rowcrypt.config.",
  subcommands: [
    command({
      name: 'shred',
      summary: 'Crypto-shred a tenant: destroy its keys, so its rows can never be read again',
      description:
        "Destroys the tenant's keys through the key provider of rowcrypt.config (crypto-shredding): its stored intermediate keys are destroyed and a tombstone is written, and its own KMS keys are scheduled for deletion, disabled or kept. Every row of the tenant becomes unreadable for good; other tenants are not affected. The key provider must be able to shred (AwsKmsKeyProvider).\n\n" +
        'Asks you to type the tenant id unless --yes is given; without a terminal on stdin, --yes is required.',
      options: SHRED_OPTIONS,
      output: 'the number of tenant keys destroyed and what was done to each KMS key; with --json one document { event: "done", tenantId, tenantKeysDestroyed, kmsKeys }.',
      exitCodes: [
        [0, 'the tenant is shredded'],
        [1, 'not confirmed, or the key provider or database failed'],
        [2, 'usage error, --yes missing without a terminal, or configuration error (no key provider, one that cannot shred: ERR_ROWCRYPT_CONFIG)'],
      ],
      run: async (v, c) => (await import('./tenant')).runShred(v, c),
    }),
  ],
}

const rlsGroup: GroupSpec = {
  name: 'rls',
  summary: 'PostgreSQL row-level security',
  description: 'PostgreSQL row-level security for the tenant-scoped models of your rowcrypt.config.',
  subcommands: [
    command({
      name: 'sql',
      summary: 'Print the PostgreSQL row-level security policies of the scoped models',
      description:
        'Prints the SQL that enables PostgreSQL row-level security on every tenant-scoped model: ENABLE and FORCE ROW LEVEL SECURITY and one policy per table on its tenant column, to apply as a migration step. Sends nothing to the database.\n\n' +
        'Reads rowcrypt.config, which must export the options you pass to rowcrypt(): schema (the manifest of rowcrypt-generator), models and, if you set it, rls.',
      options: RLS_SQL_OPTIONS,
      output: 'the SQL statements on stdout.',
      exitCodes: [
        [0, 'the statements are printed'],
        [1, 'the command failed'],
        [2, 'usage error or configuration error (no schema or models, a manifest that is not PostgreSQL: ERR_ROWCRYPT_CONFIG)'],
      ],
      run: async (v, c) => (await import('./rls')).runRlsSql(v, c),
    }),
  ],
}

/** Every command of `rowcrypt`, in the order of `rowcrypt --help`. */
export const TABLE: readonly Entry[] = [
  command({
    name: 'keygen',
    summary: 'Print a new random 256-bit master key (base64) for LocalKeyProvider',
    description:
      'Prints a new random 256-bit master key, base64-encoded, for LocalKeyProvider: for a new key version, add it to your key file or secret store as "v2", make v2 the active version, then run rowcrypt rotate. Nothing is stored.',
    options: {},
    exitCodes: [
      [0, 'the key is printed'],
      [2, 'usage error'],
    ],
    run: async (_v, c) => (await import('./keygen')).runKeygen(c),
  }),
  command({
    name: 'kms-dev-server',
    summary: 'Run a local AWS KMS-compatible server for development and tests',
    description:
      'Serves the AWS KMS protocol on a local port until SIGINT or SIGTERM, for development and tests, and makes sure the given aliases exist. Keys are stored UNPROTECTED: never put real data behind it.',
    options: KMS_DEV_SERVER_OPTIONS,
    output: 'the endpoint, the aliases and a client snippet, then the calls served when stopped; with --json a "listening" and a "stopped" event.',
    exitCodes: [
      [0, 'stopped by SIGINT or SIGTERM'],
      [1, 'the server failed'],
      [2, 'usage error, or the server cannot start (port in use, unreadable key file, invalid alias: ERR_ROWCRYPT_CONFIG)'],
    ],
    stop: 'server',
    run: async (v, c) => (await import('./kms-dev-server')).runKmsDevServer(v, c),
  }),
  tenantGroup,
  rlsGroup,
  command({
    name: 'encrypt-existing',
    summary: 'Encrypt the rows of a model written before rowcrypt (migrating mode)',
    description:
      'Encrypts every row of the model that has no wrapped data key yet (rows written before rowcrypt), in batches, each under its own tenant. Idempotent and resumable: SIGINT or SIGTERM stops it after the current batch; run it again to continue.\n\n' +
      'The model must be configured with migrating: { legacyIds } (the ids of the rows that existed at cutover), and rowcrypt.config must export the client extended with rowcrypt() as "prisma". A row without a key whose id is not a legacy one stops the command (ERR_ROWCRYPT_CIPHERTEXT_FORMAT).',
    options: ENCRYPT_EXISTING_OPTIONS,
    output: 'a progress bar with rate and ETA on a terminal, then a summary; a text line per batch when stdout is not a terminal; JSON lines with --json.',
    exitCodes: [
      OK,
      [1, 'the command failed (a keyless row outside the legacy set, the database or the key provider)'],
      [2, 'usage error, or configuration error (missing or invalid config file, no client extended with rowcrypt(), a model not configured or not migrating: ERR_ROWCRYPT_CONFIG)'],
      STOPPED,
    ],
    stop: 'batch',
    run: async (v, c) => (await import('./encrypt-existing')).runEncryptExisting(v, c),
  }),
  command({
    name: 'rotate',
    summary: "Move rows' data keys to the active key version, online and resumable",
    description:
      "Moves every row's data key from old key versions (all but the target; --from names them; --older-than picks those older than an age) to the active one, online: each row is updated with a compare-and-swap on its key version and wrapped key, so the application keeps running and none of its writes is lost. Re-wrapping keeps the field ciphertexts (AWS KMS direct mode uses ReEncrypt, so data keys never leave KMS); --rekey gives each row a fresh data key and re-encrypts its fields.\n\n" +
      'Safe to stop at any moment (SIGKILL included): run it again to continue. Several processes may run at once on PostgreSQL and MySQL/MariaDB (batches are claimed with FOR UPDATE SKIP LOCKED); on SQLite run one.',
    options: ROTATE_OPTIONS,
    output:
      'a progress bar with rate and ETA on a terminal, then a summary and the rows that failed; JSON lines with --json or when stdout is not a terminal. SIGINT or SIGTERM stops after the current batch (a second one stops at once; the open batch rolls back).',
    exitCodes: [
      OK,
      [1, 'rows failed (listed with their ids), or the command failed (database, key provider)'],
      USAGE,
      [
        3,
        'with --older-than: the target key version (or a tenant key under it) is itself older than <age>; nothing was changed; add a new key version, make it active, run again (ERR_ROWCRYPT_KEY_TOO_OLD)',
      ],
      STOPPED,
    ],
    stop: 'batch',
    run: async (v, c) => (await import('./rotate')).runRotate(v, c),
  }),
  command({
    name: 'status',
    summary: 'Count rows per model and key version, and those not on the active version',
    description:
      "Counts each configured model's rows per key version, how many are not yet on the key provider's active version, and how many are plaintext (no wrapped key), and shows when each key version was created and its age, where the key provider reports it. Read-only. Refreshes the rows_per_key_version, plaintext_rows and key_age_seconds gauges when the config exports metrics.\n\n" +
      'With a key age policy (--max-key-age-days, or maxKeyAgeDays in the config), names the keys in use that are older and exits 3: for cron jobs and CI.',
    options: STATUS_OPTIONS,
    output: 'a table of model, key version, rows, creation date and age (and tenant with --by-tenant), one summary line per model, then the key age policy; one JSON document with --json.',
    exitCodes: [OK, [1, 'the command failed (database, key provider)'], USAGE, [3, 'a key version that still has rows (or a tenant key) is older than the key age policy, or of unknown age']],
    run: async (v, c) => (await import('./status')).runStatus(v, c),
  }),
  command({
    name: 'verify',
    summary: 'Decrypt every row (or a sample) and list the rows that fail',
    description: 'Decrypts every row of the configured models (or a random sample) with the configured key provider and lists the rows that fail, with model, id, tenant and error code. Read-only.',
    options: VERIFY_OPTIONS,
    output: 'a progress bar on a terminal, then the failing rows and a summary; JSON lines with --json or when stdout is not a terminal. SIGINT or SIGTERM stops after the current batch.',
    exitCodes: [[0, 'every row checked decrypts'], [1, 'rows failed to decrypt (listed with their ids), or the command failed (database, key provider)'], USAGE, STOPPED],
    stop: 'batch',
    run: async (v, c) => (await import('./verify')).runVerify(v, c),
  }),
]
