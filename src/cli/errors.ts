// Errors only the command line raises. Both are RowcryptErrors with stable codes, so `--json`
// failure events and exit codes are decided by class, never by message text.
import { RowcryptError } from '../errors'

/**
 * The command line was wrong: an unknown command or option, a missing or invalid value. Exit code 2;
 * the message is one line that names what is wrong, without the command name.
 */
export class UsageError extends RowcryptError {
  static override readonly code = 'ERR_ROWCRYPT_USAGE'
}

/**
 * The database could not be reached or refused the command's statements. The message is one line:
 * what failed, Prisma's error code when there is one (`P1001`), and the driver's reason; never the
 * code frame of Prisma's message and never a value. Exit code 1.
 */
export class DatabaseError extends RowcryptError {
  static override readonly code = 'ERR_ROWCRYPT_DATABASE'
  /** Prisma's code (`P1001`) or the driver's (`ECONNREFUSED`, `45028`), when one is known. */
  readonly databaseCode: string | undefined
  /** True when no connection could be made (or kept), as opposed to a statement the database refused. */
  readonly unreachable: boolean

  constructor(message: string, details: { databaseCode: string | undefined; unreachable: boolean }, options?: { cause?: unknown }) {
    super(message, options)
    this.databaseCode = details.databaseCode
    this.unreachable = details.unreachable
  }
}
