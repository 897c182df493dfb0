// What a command needs from its surroundings. `main` passes the real process; tests and embedders
// pass their own.
import { createInterface } from 'node:readline/promises'

/** Output streams, working directory, prompting and config loading of a command. */
export interface CommandIO {
  out(s: string): void
  err(s: string): void
  cwd: string
  /** True when a person can answer a prompt. */
  interactive: boolean
  /** Asks a question and resolves with the answer. */
  prompt(question: string): Promise<string>
  /** Loads a config module; default: jiti (TypeScript, ESM and CommonJS alike). */
  importModule?: (path: string) => Promise<unknown>
}

/** {@link CommandIO} plus whether progress may be drawn on a terminal. */
export interface JobIO extends CommandIO {
  /** True when stdout and stderr are terminals: a progress bar on stderr, text on stdout. */
  tty?: boolean
}

/** A prompt on the process's terminal (the question on stderr, so stdout stays the command's output). */
export async function terminalPrompt(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  try {
    return await rl.question(question)
  } finally {
    rl.close()
  }
}
