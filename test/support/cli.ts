// The built `rowcrypt` binary (dist/cli/main.js, made by `npm run build`) in child processes.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { join } from 'node:path'

export const BIN = join(__dirname, '..', '..', 'dist', 'cli', 'main.js')

/** A running `rowcrypt` process: its output so far, and its exit code once it exits. */
export interface CliProcess {
  readonly child: ChildProcessWithoutNullStreams
  out(): string
  err(): string
  readonly exit: Promise<number | null>
}

/** Starts `rowcrypt ...args` and resolves once its stdout holds `ready`; rejects if it exits first. */
export function startCli(args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }, ready: string): Promise<CliProcess> {
  const child = spawn(process.execPath, [BIN, ...args], options)
  let out = ''
  let err = ''
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const running: CliProcess = { child, out: () => out, err: () => err, exit }
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes(ready)) resolve(running)
    })
    void exit.then(() => reject(new Error(`rowcrypt ${args[0]} exited before printing ${ready}: ${out} ${err}`)))
  })
}
