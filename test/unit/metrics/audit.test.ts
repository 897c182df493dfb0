// The audit observer: one record per event with a stable shape, the caller's context, and
// failures of the sink reported but never thrown into the query path.
import { auditTrail, type AuditEvent, type OperationEvent } from '../../../src'
import { notify } from '../../../src/metrics/observer'

function event(over: Partial<OperationEvent> = {}): OperationEvent {
  return {
    operation: 'findUnique',
    model: 'User',
    tenantId: 't1',
    bypass: false,
    outcome: 'ok',
    durationMs: 1.5,
    rowsEncrypted: 0,
    rowsDecrypted: 1,
    rowsPlaintext: 0,
    time: new Date('2026-11-28T10:00:00.000Z'),
    ...over,
  }
}

const KEYS = ['actor', 'bypass', 'durationMs', 'errorCode', 'model', 'operation', 'outcome', 'plaintextRowIds', 'requestId', 'rowCount', 'rowIds', 'rowsPlaintext', 'targetId', 'tenantId', 'time']

describe('auditTrail', () => {
  it('maps an operation event to an audit event with every key present', () => {
    const events: AuditEvent[] = []
    const audit = auditTrail((e) => void events.push(e))
    audit.operation!(event({ rowCount: 1, rowIds: ['7'], targetId: '7' }))
    audit.operation!(event({ tenantId: undefined, outcome: 'denied', errorCode: 'ERR_ROWCRYPT_TENANT_MISSING', operation: 'findMany' }))
    audit.operation!(event({ operation: 'findMany', rowCount: 2, rowIds: ['7', '8'], rowsDecrypted: 1, rowsPlaintext: 1, plaintextRowIds: ['8'] }))
    const common = { time: '2026-11-28T10:00:00.000Z', model: 'User', bypass: false, actor: null, requestId: null, durationMs: 1.5 }
    expect(events).toEqual([
      { ...common, operation: 'findUnique', tenantId: 't1', outcome: 'ok', errorCode: null, rowCount: 1, rowIds: ['7'], targetId: '7', rowsPlaintext: 0, plaintextRowIds: [] },
      {
        ...common,
        operation: 'findMany',
        tenantId: null,
        outcome: 'denied',
        errorCode: 'ERR_ROWCRYPT_TENANT_MISSING',
        rowCount: null,
        rowIds: null,
        targetId: null,
        rowsPlaintext: 0,
        plaintextRowIds: [],
      },
      // A legacy row read as plaintext (migrating mode) is named.
      { ...common, operation: 'findMany', tenantId: 't1', outcome: 'ok', errorCode: null, rowCount: 2, rowIds: ['7', '8'], targetId: null, rowsPlaintext: 1, plaintextRowIds: ['8'] },
    ])
    for (const e of events) expect(Object.keys(JSON.parse(JSON.stringify(e))).sort()).toEqual(KEYS)
  })

  it('copies only audit fields: nothing else an event might carry', () => {
    const events: AuditEvent[] = []
    auditTrail((e) => void events.push(e)).operation!({ ...event(), secretValue: 'do-not-copy' } as OperationEvent)
    expect(JSON.stringify(events)).not.toContain('do-not-copy')
  })

  it('adds actor and request id from the context option', () => {
    const events: AuditEvent[] = []
    auditTrail((e) => void events.push(e), { context: () => ({ actor: 'user_9', requestId: 'req-1' }) }).operation!(event())
    expect(events[0]).toMatchObject({ actor: 'user_9', requestId: 'req-1' })
  })

  it('reports a throwing or rejecting sink to onError and never throws', async () => {
    const errors: unknown[] = []
    const throwing = auditTrail(
      () => {
        throw Object.assign(new Error('disk full'), { code: 'ENOSPC' })
      },
      { onError: (e) => errors.push(e) },
    )
    expect(() => throwing.operation!(event())).not.toThrow()
    const rejecting = auditTrail(() => Promise.reject(Object.assign(new Error('network'), { code: 'ECONNRESET' })), { onError: (e) => errors.push(e) })
    rejecting.operation!(event())
    await new Promise((r) => setImmediate(r))
    expect(errors.map((e) => (e as { code: string }).code)).toEqual(['ENOSPC', 'ECONNRESET'])
    // A broken context function and a broken onError are contained too.
    const broken = auditTrail(() => undefined, {
      context: () => {
        throw new Error('ctx')
      },
      onError: () => {
        throw new Error('handler')
      },
    })
    expect(() => notify([broken], event())).not.toThrow()
    expect(() => broken.operation!(event())).not.toThrow()
  })
})
