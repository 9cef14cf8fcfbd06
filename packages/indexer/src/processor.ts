/**
 * Batches documents into bulk writes and applies the bulk outcome table:
 * ok/duplicate settle the event, reject dead-letters it (confirmed and routed)
 * and then settles it, retry keeps it for the next attempt with backoff while
 * new documents wait. A dead letter the broker does not take is published
 * again with backoff, on its own, while other documents go on. A delivery is
 * acked when all of its events are settled; past the retry budget it is
 * nacked with requeue, never acked or dropped.
 */
import { ErrorCodes, LogshipError, backoffDelay, errorMessage, isLogshipError, type IndexerMetrics, type Logger } from '@logship/common';
import type { Delivery } from './consumer.js';
import {
  type DeadLetterProperties,
  type DeadLetterPublisher,
  type DeadLetterReason,
  MAX_DEAD_LETTER_BYTES,
  REFUSED_DEAD_LETTER_BYTES,
  isSizeRefusal,
} from './dead-letter.js';
import type { Decoded, Document } from './decode.js';
import { bulkItemBytes } from './outputs/bulk.js';
import type { ItemOutcome, Output } from './outputs/output.js';

export interface Settler {
  ack(d: Delivery): boolean;
  nack(d: Delivery, requeue: boolean): boolean;
  isLive(d: Delivery): boolean;
}

export interface ProcessorOptions {
  output: Output;
  deadLetters: DeadLetterPublisher;
  settler: Settler;
  metrics: IndexerMetrics;
  logger: Logger;
  batchSize: number;
  batchBytes: number;
  flushIntervalMs: number;
  retryBackoffMs: number;
  retryMaxBackoffMs: number;
  retryTimeoutMs: number;
}

interface Item {
  doc: Document;
  delivery: Delivery;
  firstTry: number;
  /** what the document adds to a bulk body, exactly (action line, UTF-8 source, newlines) */
  bytes: number;
}

/** while dead-letter publishing keeps failing, its warning is repeated at most this often */
const DEAD_LETTER_LOG_EVERY_MS = 30_000;

/** the least time a dead-letter publish is given for its confirm (see withinBudget) */
const DEAD_LETTER_MIN_WAIT_MS = 5_000;

/** the body cut to `max` bytes, with its original size in the properties, or as it is if it fits */
function truncated(body: Buffer, props: DeadLetterProperties, max: number): { body: Buffer; props: DeadLetterProperties } {
  if (body.length <= max) return { body, props };
  return { body: body.subarray(0, max), props: { ...props, truncatedFrom: body.length } };
}

export class BatchProcessor {
  private queue: Item[] = [];
  private queuedBytes = 0;
  private retry: Item[] = [];
  private retryAt = 0;
  private retryAttempt = 0;
  private deadline = Infinity;
  private unsettled = 0;
  private draining = false;
  private stopped = false;
  private wake: (() => void) | null = null;
  private idleWaiters: Array<() => void> = [];
  private loop: Promise<void> | null = null;
  /** dead letters waiting to be published again after a failure */
  private deadLetterWaiting = 0;
  private deadLetterLoggedAt = 0;
  /** wake-ups of dead letters waiting to be published again */
  private readonly pauses = new Set<() => void>();
  /** epoch ms of the last bulk that the output accepted */
  lastSuccessAt: number | null = null;
  /** the current problem; cleared once writes and dead letters go through again */
  lastError: string | null = null;
  /** epoch ms of the last error, kept after it cleared */
  lastErrorAt: number | null = null;

  constructor(private readonly o: ProcessorOptions) {}

  start(): void {
    this.loop ??= this.run().catch((err: unknown) => this.o.logger.fatal({ err: errorMessage(err) }, 'batch loop crashed'));
  }

  get retrying(): number {
    return this.retry.length;
  }

  get unsettledDeliveries(): number {
    return this.unsettled;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** events whose dead letter the broker did not take yet (returned, nacked, channel closed) */
  get deadLetterFailing(): number {
    return this.deadLetterWaiting;
  }

  private setError(reason: string): void {
    this.lastError = reason;
    this.lastErrorAt = Date.now();
  }

  /** nothing waits for a retry any more: the last error is history (its time is kept) */
  private clearErrorIfRecovered(): void {
    if (this.retry.length === 0 && this.deadLetterWaiting === 0) this.lastError = null;
  }

  add(delivery: Delivery, decoded: Decoded): void {
    delivery.remaining = decoded.docs.length + decoded.poison.length;
    this.unsettled++;
    this.o.metrics.deliveriesUnacked.inc();
    this.o.metrics.eventsIn.inc(delivery.remaining);
    const now = Date.now();
    for (const doc of decoded.docs) {
      const bytes = bulkItemBytes(doc);
      this.queue.push({ doc, delivery, firstTry: now, bytes });
      this.queuedBytes += bytes;
    }
    for (const p of decoded.poison) {
      const props = { contentType: p.contentType ?? 'application/octet-stream', contentEncoding: p.contentEncoding };
      this.startDeadLetter(delivery, p.body, { type: 'undecodable', reason: p.reason }, props, now);
    }
    if (this.queue.length === 0) return;
    if (this.deadline === Infinity) {
      // the worker sleeps without a deadline: give it one
      this.deadline = now + this.o.flushIntervalMs;
      this.notify();
    } else if (this.queue.length >= this.o.batchSize || this.queuedBytes >= this.o.batchBytes) {
      this.notify();
    }
  }

  /** Resolves when every delivery handed in so far is settled (acked or nacked). */
  idle(): Promise<void> {
    if (this.unsettled === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Writes what is queued without waiting for --flush-interval, then waits until all is settled. */
  async drain(): Promise<void> {
    this.draining = true;
    this.notify();
    await this.idle();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.notify();
    for (const wake of [...this.pauses]) wake();
    await this.loop;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === Infinity ? null : setTimeout(() => this.notify(), Math.max(0, ms));
      this.wake = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const now = Date.now();
      if (this.retry.length > 0) {
        // stop taking new documents until the failed ones went through
        if (now < this.retryAt) {
          await this.sleep(this.retryAt - now);
          continue;
        }
        await this.send(this.take(this.retry, true));
        continue;
      }
      const full = this.queue.length >= this.o.batchSize || this.queuedBytes >= this.o.batchBytes;
      if (this.queue.length > 0 && (full || this.draining || now >= this.deadline)) {
        await this.send(this.take(this.queue, false));
        continue;
      }
      await this.sleep(this.queue.length > 0 ? this.deadline - now : Infinity);
    }
  }

  private take(from: Item[], isRetry: boolean): Item[] {
    let bytes = 0;
    let n = 0;
    while (n < from.length && n < this.o.batchSize && (n === 0 || bytes + from[n]!.bytes <= this.o.batchBytes)) {
      bytes += from[n]!.bytes;
      n++;
    }
    const batch = from.splice(0, n);
    if (!isRetry) {
      this.queuedBytes -= bytes;
      this.deadline = this.queue.length > 0 ? Date.now() + this.o.flushIntervalMs : Infinity;
    }
    return batch;
  }

  private async send(batch: Item[]): Promise<void> {
    // a requeued delivery or one whose channel died will come back from the broker
    const live: Item[] = [];
    for (const it of batch) {
      if (!it.delivery.settled && this.o.settler.isLive(it.delivery)) live.push(it);
      else this.forget(it.delivery);
    }
    if (live.length === 0) return;

    const started = process.hrtime.bigint();
    let outcomes: ItemOutcome[];
    try {
      outcomes = await this.o.output.write(live.map((it) => it.doc));
    } catch (err) {
      // an output must answer per item; if it throws, nothing is known to be written
      const reason = `output ${this.o.output.name} failed: ${errorMessage(err)}`;
      outcomes = live.map(() => ({ kind: 'retry', status: undefined, reason }));
    }
    this.o.metrics.bulkDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.o.metrics.batchEvents.observe(live.length);

    const failed: Item[] = [];
    let indexed = 0;
    let duplicates = 0;
    let rejected = 0;
    live.forEach((it, i) => {
      const outcome = outcomes[i] ?? ({ kind: 'retry', status: undefined, reason: 'no outcome' } as ItemOutcome);
      switch (outcome.kind) {
        case 'ok':
          indexed++;
          this.settleOne(it.delivery);
          break;
        case 'duplicate':
          duplicates++;
          this.settleOne(it.delivery);
          break;
        case 'reject':
          // published (and retried) on its own: the batch loop does not wait for the broker
          rejected++;
          this.startDeadLetter(
            it.delivery,
            Buffer.from(it.doc.source),
            { type: outcome.type, reason: outcome.reason, status: outcome.status, index: it.doc.index, eventId: it.doc.id },
            { contentType: 'application/json' },
            it.firstTry,
          );
          break;
        case 'retry':
          this.setError(outcome.reason);
          failed.push(it);
          break;
      }
    });
    if (indexed > 0) this.o.metrics.eventsIndexed.inc(indexed);
    if (duplicates > 0) this.o.metrics.eventsDuplicate.inc(duplicates);
    if (indexed + duplicates + rejected > 0) this.lastSuccessAt = Date.now();
    this.scheduleRetry(failed);
  }

  private scheduleRetry(failed: Item[]): void {
    if (failed.length === 0) {
      this.retryAttempt = 0;
      this.clearErrorIfRecovered();
      return;
    }
    const now = Date.now();
    const keep: Item[] = [];
    for (const it of failed) {
      if (now - it.firstTry >= this.o.retryTimeoutMs) this.requeue(it.delivery, 'retry budget exhausted');
      else keep.push(it);
    }
    if (keep.length === 0) return;
    this.o.metrics.bulkRetries.inc(keep.length);
    this.retry.push(...keep);
    const delay = backoffDelay(this.retryAttempt++, { initialMs: this.o.retryBackoffMs, maxMs: this.o.retryMaxBackoffMs });
    this.retryAt = now + delay;
    this.o.logger.warn({ events: keep.length, delayMs: delay, reason: this.lastError }, 'bulk items failed; retrying them');
  }

  /** deadLetter() in the background: it handles its own failures, so a rejection here is a bug, logged, never unhandled */
  private startDeadLetter(delivery: Delivery, body: Buffer, why: DeadLetterReason, props: DeadLetterProperties, firstTry: number): void {
    this.deadLetter(delivery, body, why, props, firstTry).catch((err: unknown) => {
      this.o.logger.error({ err: errorMessage(err), eventId: why.eventId }, 'dead-lettering failed unexpectedly; the delivery stays unacked');
    });
  }

  /**
   * Publishes one dead letter, confirmed and routed, then settles its event.
   * A failure (returned: no dead-letter queue bound; nacked; channel closed;
   * no confirm within the remaining retry budget) leaves the delivery unacked
   * and is retried with backoff; past the retry budget the delivery is nacked
   * with requeue, so it comes back later. A body the broker could never take
   * is cut short (MAX_DEAD_LETTER_BYTES, or smaller once the broker refused
   * it for its size) with its original size in a header.
   */
  private async deadLetter(delivery: Delivery, body: Buffer, why: DeadLetterReason, props: DeadLetterProperties, firstTry: number): Promise<void> {
    let waiting = false;
    let published = false;
    let letter = truncated(body, props, MAX_DEAD_LETTER_BYTES);
    try {
      for (let attempt = 0; ; attempt++) {
        if (delivery.settled || this.stopped || !this.o.settler.isLive(delivery)) return this.forget(delivery);
        try {
          await this.withinBudget(this.o.deadLetters.publish(letter.body, why, letter.props), firstTry);
        } catch (err) {
          if (!waiting) {
            waiting = true;
            this.deadLetterWaiting++;
          }
          this.deadLetterFailed(err);
          if (isSizeRefusal(err) && letter.body.length > REFUSED_DEAD_LETTER_BYTES) {
            // never retried as it is: the broker would refuse it again, forever
            letter = truncated(body, props, REFUSED_DEAD_LETTER_BYTES);
            continue;
          }
          if (Date.now() - firstTry >= this.o.retryTimeoutMs) return this.requeue(delivery, 'dead-letter publish kept failing');
          const delay = backoffDelay(attempt, { initialMs: this.o.retryBackoffMs, maxMs: this.o.retryMaxBackoffMs });
          await this.pause(delay);
          continue;
        }
        published = true;
        this.o.metrics.eventsDeadLettered.inc();
        this.o.logger.warn(
          { eventId: why.eventId, status: why.status, type: why.type, reason: why.reason, truncatedFrom: letter.props.truncatedFrom },
          'event dead-lettered',
        );
        this.settleOne(delivery);
        return;
      }
    } finally {
      if (waiting) {
        this.deadLetterWaiting--;
        if (this.deadLetterWaiting === 0 && published) {
          this.deadLetterLoggedAt = 0;
          this.o.logger.info('dead-letter publishing works again');
          this.clearErrorIfRecovered();
        }
      }
    }
  }

  /**
   * A publish raced against what is left of the retry budget: a broker that
   * never confirms (flow control, a stuck channel) must not hold the delivery
   * past it. At least min(budget, DEAD_LETTER_MIN_WAIT_MS) is waited, so an
   * event that spent its budget in bulk retries still gets a fair try. A
   * confirm that comes later is ignored (the delivery is requeued by then and
   * may be dead-lettered a second time: at least once).
   */
  private withinBudget(publish: Promise<void>, firstTry: number): Promise<void> {
    const left = firstTry + this.o.retryTimeoutMs - Date.now();
    const wait = Math.max(left, Math.min(this.o.retryTimeoutMs, DEAD_LETTER_MIN_WAIT_MS));
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new LogshipError(ErrorCodes.NOT_CONFIRMED, `the broker did not confirm a dead letter within ${wait} ms (the retry budget)`)),
        wait,
      );
    });
    publish.catch(() => undefined); // a late failure after the race is lost must not be unhandled
    return Promise.race([publish, expired]).finally(() => clearTimeout(timer));
  }

  /** a backoff that stop() cuts short */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.pauses.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.pauses.add(wake);
    });
  }

  private deadLetterFailed(err: unknown): void {
    const hint = isLogshipError(err) && err.hint ? `; ${err.hint}` : '';
    this.setError(`dead-letter publish failed: ${errorMessage(err)}${hint}`);
    const now = Date.now();
    if (now - this.deadLetterLoggedAt < DEAD_LETTER_LOG_EVERY_MS) return;
    this.deadLetterLoggedAt = now;
    this.o.logger.error(
      { waiting: this.deadLetterWaiting, err: errorMessage(err), hint: hint.slice(2) || undefined },
      `dead-letter publish failed: ${errorMessage(err)}${hint}`,
    );
  }

  private settleOne(d: Delivery): void {
    if (d.settled) return;
    d.remaining--;
    if (d.remaining > 0) return;
    d.settled = true;
    this.o.settler.ack(d);
    this.done();
  }

  private requeue(d: Delivery, why: string): void {
    if (d.settled) return;
    d.settled = true;
    if (this.o.settler.nack(d, true)) {
      this.o.metrics.deliveriesRequeued.inc();
      this.o.logger.warn({ deliveryTag: d.msg.fields.deliveryTag, why }, 'delivery nacked with requeue');
    }
    this.done();
  }

  /** A delivery the broker will redeliver (dead channel): stop tracking it. */
  private forget(d: Delivery): void {
    if (d.settled) return;
    d.settled = true;
    this.done();
  }

  private done(): void {
    this.unsettled--;
    this.o.metrics.deliveriesUnacked.dec();
    if (this.unsettled === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
