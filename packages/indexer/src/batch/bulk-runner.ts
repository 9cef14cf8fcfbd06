/**
 * One bulk request and the bulk outcome table of docs/DESIGN.md applied to
 * its answer: ok and duplicate count the event done for its delivery, reject
 * dead-letters it (confirmed and routed, in the background), retry gives the
 * item back to the caller, which retries only those. Several bulks may be in
 * flight at once and one delivery's events may be in several of them: the
 * ledger acks a delivery once, when its last event is done, and ignores what
 * finishes after it was requeued.
 */
import { errorMessage, type IndexerMetrics } from '@logship/common';
import type { Item } from './batcher.js';
import type { Document } from '../decode/decode.js';
import type { DeadLetterer } from '../outputs/dead-letterer.js';
import type { DeliveryLedger } from '../consume/delivery-ledger.js';
import type { ItemOutcome, Output } from '../outputs/output.js';
import type { WriteStatus } from './write-status.js';

export interface BulkRunnerOptions {
  output: Output;
  ledger: DeliveryLedger;
  deadLetterer: DeadLetterer;
  status: WriteStatus;
  metrics: IndexerMetrics;
}

const NO_OUTCOME: ItemOutcome = Object.freeze({ kind: 'retry', status: undefined, reason: 'no outcome' });

export class BulkRunner {
  constructor(private readonly o: BulkRunnerOptions) {}

  /** Writes the batch; resolves with the items to retry (429, 5xx, connection errors), never rejects. */
  async run(batch: readonly Item[]): Promise<Item[]> {
    const { output, metrics } = this.o;
    const started = process.hrtime.bigint();
    let outcomes: ItemOutcome[];
    const docs: Document[] = new Array(batch.length);
    let bytes = 0;
    for (let i = 0; i < batch.length; i++) {
      docs[i] = batch[i]!.doc;
      // measured once, when the document was queued (batcher.ts): the bulk body is not measured again
      bytes += batch[i]!.bytes;
    }
    try {
      outcomes = await output.write(docs, bytes);
    } catch (err) {
      // an output must answer per item; if it throws, nothing is known to be written
      const reason = `output ${output.name} failed: ${errorMessage(err)}`;
      outcomes = batch.map(() => ({ kind: 'retry', status: undefined, reason }));
    }
    metrics.bulkDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    metrics.batchEvents.observe(batch.length);
    return this.apply(batch, outcomes);
  }

  private apply(batch: readonly Item[], outcomes: readonly ItemOutcome[]): Item[] {
    const { ledger, deadLetterer, status, metrics } = this.o;
    const failed: Item[] = [];
    let indexed = 0;
    let duplicates = 0;
    let rejected = 0;
    for (let i = 0; i < batch.length; i++) {
      const it = batch[i]!;
      const outcome = outcomes[i] ?? NO_OUTCOME;
      switch (outcome.kind) {
        case 'ok':
          indexed++;
          ledger.eventDone(it.delivery);
          break;
        case 'duplicate':
          duplicates++;
          ledger.eventDone(it.delivery);
          break;
        case 'reject':
          // published (and retried) on its own: bulks do not wait for the broker
          rejected++;
          deadLetterer.start(
            it.delivery,
            it.doc.raw ?? Buffer.from(it.doc.source),
            { type: outcome.type, reason: outcome.reason, status: outcome.status, index: it.doc.index, eventId: it.doc.id },
            { contentType: 'application/json' },
            it.firstTry,
          );
          break;
        case 'retry':
          status.failed(outcome.reason);
          failed.push(it);
          break;
      }
    }
    if (indexed > 0) metrics.eventsIndexed.inc(indexed);
    if (duplicates > 0) metrics.eventsDuplicate.inc(duplicates);
    if (indexed + duplicates + rejected > 0) status.succeeded();
    return failed;
  }
}
