// How a failed command reports: one line on stderr (two for usage errors: what is wrong, and where
// the help is), or one JSON event on stdout under --json; and which exit code it ends with.
import { ConfigError, KeyTooOldError, RowcryptError } from '../errors'
import { databaseError, oneLine, prismaReason } from './db-error'
import { DatabaseError, UsageError } from './errors'
import type { CommandIO } from './io'

/**
 * Exit codes shared by every command. `keyAge` (3): a key in use is older than the key age policy
 * (`status` with maxKeyAgeDays), or a rotation by age would move rows onto a key that is itself
 * too old (`rotate --older-than`, `ERR_ROWCRYPT_KEY_TOO_OLD`): add a new key version.
 */
export const EXIT = { ok: 0, failures: 1, usage: 2, keyAge: 3, interrupted: 130 } as const

/**
 * Reports `error` for the command `name` (`rowcrypt rotate`) and returns the exit code: 2 for usage
 * and configuration errors, 3 for a key too old to rotate onto, 1 for everything else. Errors that are not RowcryptErrors are reported
 * as one (database errors as {@link DatabaseError}); messages are reduced to one line where they
 * come from Prisma or a driver, so neither code frames nor argument values are printed.
 */
export function reportFailure(io: Pick<CommandIO, 'out' | 'err'>, name: string, error: unknown, json: boolean): number {
  const e = asRowcryptError(error)
  const exitCode = e instanceof UsageError || e instanceof ConfigError ? EXIT.usage : e instanceof KeyTooOldError ? EXIT.keyAge : EXIT.failures
  if (json) {
    const command = name.replace(/^rowcrypt ?/, '')
    const event = {
      event: 'error',
      ...(command !== '' ? { command } : {}),
      code: e.code,
      message: e.message,
      ...(e instanceof DatabaseError && e.databaseCode !== undefined ? { databaseCode: e.databaseCode } : {}),
      exitCode,
    }
    io.out(`${JSON.stringify(event)}\n`)
  } else if (e instanceof UsageError) {
    io.err(`${name}: ${e.message}\nRun '${name} --help' for usage.\n`)
  } else {
    io.err(`${name}: ${failureText(e)}\n`)
  }
  return exitCode
}

/**
 * `error` as its line of output: the message and the code in parentheses, except for database errors
 * (which name Prisma's code themselves) and generic ones (whose code says nothing).
 */
export function failureText(error: unknown): string {
  const e = asRowcryptError(error)
  return e instanceof DatabaseError || e.code === RowcryptError.code ? e.message : `${e.message} (${e.code})`
}

function asRowcryptError(error: unknown): RowcryptError {
  if (error instanceof RowcryptError) {
    // A RowcryptError whose cause could not reach the database says so in the database's words.
    const db = error instanceof UsageError ? undefined : databaseError(error.cause)
    return db?.unreachable === true ? db : error
  }
  const db = databaseError(error)
  if (db !== undefined) return db
  const message = error instanceof Error ? prismaReason(error.message) : oneLine(String(error))
  return new RowcryptError(message === '' ? 'failed' : message, { cause: error })
}
