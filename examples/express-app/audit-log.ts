// Audit events as JSON lines: one event, one line, appended to a stream (a file, stdout, a log
// shipper). Events hold ids, names and counts only, never field values, keys or ciphertext.
import type { AuditEvent } from 'rowcrypt'

export function jsonLines(stream: NodeJS.WritableStream): (event: AuditEvent) => void {
  return (event) => {
    stream.write(`${JSON.stringify(event)}\n`)
  }
}
