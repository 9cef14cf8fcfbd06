/**
 * Batches documents into bulk writes and applies the bulk outcome table:
 * ok/duplicate settle the event, reject dead-letters it (confirmed) and then
 * settles it, retry keeps it for the next attempt with backoff while new
 * documents wait. A delivery is acked when all of its events are settled;
 * past the retry budget it is nacked with requeue, never acked or dropped.
 */
import { backoffDelay, errorMessage, type IndexerMetrics, type Logger } from '@logship/common';
import type { Delivery } from './consumer.js';
import type { DeadLetterPublisher } from './dead-letter.js';
import type { Decoded, Document, Poison } from './decode.js';
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
  bytes: number;
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
  /** epoch ms of the last bulk that the output accepted */
  lastSuccessAt: number | null = null;
  lastError: string | null = null;

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

  add(delivery: Delivery, decoded: Decoded): void {
    delivery.remaining = decoded.docs.length + decoded.poison.length;
    this.unsettled++;
    this.o.metrics.deliveriesUnacked.inc();
    this.o.metrics.eventsIn.inc(delivery.remaining);
    const now = Date.now();
    for (const doc of decoded.docs) {
      const bytes = doc.source.length + 100;
      this.queue.push({ doc, delivery, firstTry: now, bytes });
      this.queuedBytes += bytes;
    }
    for (const p of decoded.poison) void this.deadLetterPoison(delivery, p, now);
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
    const dead: Array<Promise<void>> = [];
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
          rejected++;
          dead.push(this.deadLetterRejected(it, outcome, failed));
          break;
        case 'retry':
          this.lastError = outcome.reason;
          failed.push(it);
          break;
      }
    });
    if (indexed > 0) this.o.metrics.eventsIndexed.inc(indexed);
    if (duplicates > 0) this.o.metrics.eventsDuplicate.inc(duplicates);
    if (indexed + duplicates + rejected > 0) this.lastSuccessAt = Date.now();
    await Promise.all(dead);
    this.scheduleRetry(failed);
  }

  private scheduleRetry(failed: Item[]): void {
    if (failed.length === 0) {
      this.retryAttempt = 0;
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

  private async deadLetterRejected(it: Item, outcome: Extract<ItemOutcome, { kind: 'reject' }>, failed: Item[]): Promise<void> {
    try {
      await this.o.deadLetters.publish(Buffer.from(it.doc.source), {
        type: outcome.type,
        reason: outcome.reason,
        status: outcome.status,
        index: it.doc.index,
        eventId: it.doc.id,
      });
      this.o.metrics.eventsDeadLettered.inc();
      this.o.logger.warn({ eventId: it.doc.id, status: outcome.status, type: outcome.type, reason: outcome.reason }, 'event dead-lettered');
      this.settleOne(it.delivery);
    } catch (err) {
      this.lastError = `dead-letter publish failed: ${errorMessage(err)}`;
      failed.push(it);
    }
  }

  private async deadLetterPoison(delivery: Delivery, p: Poison, firstTry: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (delivery.settled || !this.o.settler.isLive(delivery)) return this.forget(delivery);
      try {
        await this.o.deadLetters.publish(p.body, { type: 'undecodable', reason: p.reason }, 'application/octet-stream');
        this.o.metrics.eventsDeadLettered.inc();
        this.o.logger.warn({ reason: p.reason }, 'undecodable message dead-lettered');
        this.settleOne(delivery);
        return;
      } catch (err) {
        if (Date.now() - firstTry >= this.o.retryTimeoutMs) return this.requeue(delivery, 'dead-letter publish kept failing');
        this.o.logger.warn({ err: errorMessage(err) }, 'dead-letter publish failed; retrying');
        await new Promise((r) => setTimeout(r, backoffDelay(attempt, { initialMs: this.o.retryBackoffMs, maxMs: this.o.retryMaxBackoffMs })));
      }
    }
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
