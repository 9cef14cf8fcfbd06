/**
 * The indexer's batch processor with outputs whose answers the test decides
 * (the unit tests test/unit/processor*.test.ts): `setup(script)` starts a
 * BatchProcessor on a ScriptedOutput (each item answered by the script, see
 * byId), a fake dead-letter publisher and a ledger that records acks and
 * requeues; GatedOutput keeps each bulk in flight until the test answers it.
 */
import { ErrorCodes, LogshipError, createIndexerMetrics, createLogger, createRegistry, type Channel, type ConsumeMessage, type Logger } from '@logship/common';
import {
  BatchProcessor,
  DeliveryLedger,
  buildBulkBody,
  newDelivery,
  type DeadLetterProperties,
  type DeadLetterPublisher,
  type Document,
  type ItemOutcome,
  type Output,
  type Poison,
} from '@logship/indexer';

export type Script = (doc: Document, attempt: number) => ItemOutcome;

export class ScriptedOutput implements Output {
  readonly name = 'scripted';
  readonly reachable = true;
  readonly requests: string[][] = [];
  /** byte length of the bulk body each request would have had */
  readonly bodyBytes: number[] = [];
  /** the byte count the processor handed each request (measured when its documents were queued) */
  readonly handedBytes: Array<number | undefined> = [];
  readonly attempts = new Map<string, number>();
  constructor(private readonly script: Script) {}
  async write(docs: readonly Document[], bytes?: number): Promise<ItemOutcome[]> {
    this.requests.push(docs.map((d) => d.id!));
    this.bodyBytes.push(Buffer.byteLength(buildBulkBody(docs)));
    this.handedBytes.push(bytes);
    return docs.map((d) => {
      const n = (this.attempts.get(d.id!) ?? 0) + 1;
      this.attempts.set(d.id!, n);
      return this.script(d, n);
    });
  }
  async close() {}
}

/** the error the publisher raises for a dead letter the broker returned (no dead-letter queue bound) */
export const RETURNED = () =>
  new LogshipError(
    ErrorCodes.UNROUTABLE,
    'the broker returned a dead letter: no queue is bound to dead-letter exchange "x.dlx" (is dead-letter queue "x.dead" deleted?)',
    {
      hint: 'run logship bootstrap',
    },
  );

export function setup(
  script: Script,
  overrides: Partial<{
    retryTimeoutMs: number;
    batchSize: number;
    batchBytes: number;
    dlqFails: number | (() => boolean);
    flushIntervalMs: number;
    /** replaces the fake DLQ's publish (after it counted the attempt) */
    publish: (body: Buffer, props: DeadLetterProperties) => Promise<void>;
    isLive: () => boolean;
    logger: Logger;
    /** an output of the test's own instead of the scripted one */
    output: Output;
    bulkConcurrency: number;
    retryBackoffMs: number;
    /** the consumer's prefetch window (deliveries) */
    prefetch: number;
  }> = {},
) {
  const output = new ScriptedOutput(script);
  const acked: number[] = [];
  const nacked: Array<[number, boolean]> = [];
  const deadLetters: Array<{ body: string; bytes: number; headers: Record<string, unknown>; props: DeadLetterProperties }> = [];
  let dlqFails = typeof overrides.dlqFails === 'number' ? overrides.dlqFails : 0;
  const dlqFailing = typeof overrides.dlqFails === 'function' ? overrides.dlqFails : () => dlqFails-- > 0;
  let dlqAttempts = 0;
  const fakeDlq = {
    async publish(body: Buffer, why: { type: string; reason: string; status?: number }, props: DeadLetterProperties = {}) {
      dlqAttempts++;
      if (overrides.publish) await overrides.publish(body, props);
      if (dlqFailing()) throw RETURNED();
      deadLetters.push({ body: body.toString(), bytes: body.length, headers: why, props });
    },
  } as unknown as DeadLetterPublisher;
  const registry = createRegistry(false);
  const metrics = createIndexerMetrics(registry);
  const logger = overrides.logger ?? createLogger({ level: 'silent' });
  const ledger = new DeliveryLedger(
    {
      sendAck: (d) => acked.push(d.tag),
      sendRequeue: (d) => nacked.push([d.tag, true]),
      isLive: overrides.isLive ?? (() => true),
    },
    metrics,
    logger,
  );
  const processor = new BatchProcessor({
    output: overrides.output ?? output,
    bulkConcurrency: overrides.bulkConcurrency ?? 1,
    deadLetters: fakeDlq,
    ledger,
    metrics,
    logger,
    batchSize: overrides.batchSize ?? 100,
    batchBytes: overrides.batchBytes ?? 5 * 1024 * 1024,
    flushIntervalMs: overrides.flushIntervalMs ?? 5,
    retryBackoffMs: overrides.retryBackoffMs ?? 2,
    retryMaxBackoffMs: overrides.retryBackoffMs ? overrides.retryBackoffMs * 8 : 10,
    retryTimeoutMs: overrides.retryTimeoutMs ?? 60_000,
    ...(overrides.prefetch !== undefined ? { prefetch: () => overrides.prefetch! } : {}),
  });
  processor.start();
  let tag = 0;
  const newTagged = () => newDelivery({ fields: { deliveryTag: ++tag } } as unknown as ConsumeMessage, {} as Channel);
  const deliverDocs = (docs: Document[]) => {
    const d = newTagged();
    processor.add(d, { docs, poison: [] });
    return d;
  };
  const deliver = (...ids: string[]) => deliverDocs(ids.map((id) => ({ id, source: JSON.stringify({ id }), index: 'i' })));
  const deliverPoison = (poison: Poison[]) => {
    const d = newTagged();
    processor.add(d, { docs: [], poison });
    return d;
  };
  const metric = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;
  return { output, processor, acked, nacked, deadLetters, deliver, deliverDocs, deliverPoison, metric, dlqAttempts: () => dlqAttempts };
}

export const byId =
  (table: Record<string, ItemOutcome | ((attempt: number) => ItemOutcome)>): Script =>
  (doc, attempt) => {
    const row = table[doc.id!] ?? { kind: 'ok' };
    return typeof row === 'function' ? row(attempt) : row;
  };

export const OK: ItemOutcome = { kind: 'ok' };
export const DUP: ItemOutcome = { kind: 'duplicate' };
export const R429: ItemOutcome = { kind: 'retry', status: 429, reason: 'es_rejected_execution_exception' };
export const R400: ItemOutcome = { kind: 'reject', status: 400, type: 'document_parsing_exception', reason: 'failed to parse' };

/** An output whose bulks stay in flight until the test answers them, each with its own outcomes. */
export class GatedOutput implements Output {
  readonly name = 'gated';
  readonly reachable = true;
  readonly calls: Array<{ ids: string[]; startedAt: number; answered: boolean; answer: (outcome?: (id: string) => ItemOutcome) => void }> = [];
  inFlight = 0;
  maxInFlight = 0;
  write(docs: readonly Document[]): Promise<ItemOutcome[]> {
    return new Promise((resolve) => {
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      const call = {
        ids: docs.map((d) => d.id!),
        startedAt: Date.now(),
        answered: false,
        answer: (outcome: (id: string) => ItemOutcome = () => OK) => {
          if (call.answered) throw new Error('a bulk answered twice');
          call.answered = true;
          this.inFlight--;
          resolve(docs.map((d) => outcome(d.id!)));
        },
      };
      this.calls.push(call);
    });
  }
  async close() {}
}
