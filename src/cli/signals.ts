// SIGINT and SIGTERM while a command runs, as the table declares for it: `batch` jobs stop after
// the current batch (a second signal exits at once, the database rolls the open batch back);
// `server` commands stop cleanly on the first.
import type { CommandIO } from './io'

/** A signal trap for the lifetime of one command. */
export interface SignalTrap {
  readonly signal: AbortSignal
  release(): void
}

/** Hooks SIGINT and SIGTERM of this process until `release`. */
export function trapStopSignals(mode: 'batch' | 'server', io: Pick<CommandIO, 'err'>): SignalTrap {
  const stop = new AbortController()
  const onSignal = () => {
    if (mode === 'batch') {
      if (stop.signal.aborted) {
        io.err('rowcrypt: stopped.\n')
        process.exit(130)
      }
      io.err('\nrowcrypt: stopping after the current batch (press Ctrl+C again to stop now)\n')
    }
    stop.abort()
  }
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal)
  return { signal: stop.signal, release: () => void process.off('SIGINT', onSignal).off('SIGTERM', onSignal) }
}
