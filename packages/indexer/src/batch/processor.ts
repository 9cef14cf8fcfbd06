/**
 * The batch processor: takes decoded deliveries, cuts their documents into
 * batches (--batch-size events, fewer when the prefetch window holds less
 * than --bulk-concurrency such batches; --batch-bytes bytes; or what came until
 * --flush-interval, until deliveries paused or until the prefetch window was
 * full) and keeps up to --bulk-concurrency bulk requests in flight.
 *
 * The guarantees hold with any number of bulks in flight:
 * - a delivery is acked only when every one of its events is written or
 *   dead-lettered, whichever bulks they were in (the delivery ledger);
 * - only the failed items of a bulk are retried;
 * - a retry (429, 5xx, connection error) backs off all work: no bulk starts
 *   until the backoff is over, failures of bulks that were already in flight
 *   join the same backoff, and the retries then go one bulk at a time, with
 *   no new documents, until they went through;
 * - past --retry-timeout a delivery is requeued, never acked or dropped;
 * - nothing is acked on a channel that died (the ledger and the consumer).
 */
import { backoffDelay, errorMessage, type IndexerMetrics, type Logger } from '@logship/common';
import { ItemQueue, type Item, newItem } from './batcher.js';
import { BulkRunner } from './bulk-runner.js';
import type { DeadLetterPublisher } from '../outputs/dead-letter.js';
import { DeadLetterer } from '../outputs/dead-letterer.js';
import type { Decoded } from '../decode/decode.js';
import type { Delivery, DeliveryLedger } from '../consume/delivery-ledger.js';
import type { Output } from '../outputs/output.js';
import { WriteStatus } from './write-status.js';

/**
 * A partial batch is written once no delivery came for this long (or
 * --flush-interval if shorter): the end of a backlog, or a pause in the
 * traffic, is not held back for a whole --flush-interval.
 */
export const QUIET_FLUSH_MS = 50;

/** weight of the newest delivery in the running average of events per delivery */
const EVENTS_WEIGHT = 1 / 16;

export interface ProcessorOptions {
  output: Output;
  deadLetters: DeadLetterPublisher;
  ledger: DeliveryLedger;
  metrics: IndexerMetrics;
  logger: Logger;
  batchSize: number;
  batchBytes: number;
  flushIntervalMs: number;
  retryBackoffMs: number;
  retryMaxBackoffMs: number;
  retryTimeoutMs: number;
  /** --bulk-concurrency: bulk requests in flight at once (default 1) */
  bulkConcurrency?: number;
  /**
   * The consumer's prefetch window: with this many deliveries unacked the
   * broker sends no more, so a partial batch is written at once instead of
   * waiting for --flush-interval. Default: no such window.
   */
  prefetch?: () => number;
}

export class BatchProcessor {
  private readonly pending: ItemQueue;
  private readonly retry: ItemQueue;
  private readonly status = new WriteStatus();
  private readonly deadLetterer: DeadLetterer;
  private readonly runner: BulkRunner;
  private readonly ledger: DeliveryLedger;
  private readonly concurrency: number;
  private readonly inflight = new Set<Promise<void>>();
  /** when a partial batch is written */
  private deadline = Infinity;
  /** when the last delivery came: a partial batch is written once they stop coming (quietMs) */
  private lastAddAt = 0;
  private readonly quietMs: number;
  /** no bulk starts before this while items wait for their retry */
  private retryAt = 0;
  private retryAttempt = 0;
  /** incremented when a backoff starts: a bulk started before it failing does not lengthen it */
  private backoffEpoch = 0;
  /** from a failure until every failed item went through: no new documents, one bulk at a time */
  private recovering = false;
  private draining = false;
  private stopped = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private readonly isOpen: (d: Delivery) => boolean;
  /** running average of events per delivery (batchEvents) */
  private eventsPerDelivery = 1;
  private deliveriesSeen = 0;

  constructor(private readonly o: ProcessorOptions) {
    const limits = { events: o.batchSize, bytes: o.batchBytes };
    this.pending = new ItemQueue(limits);
    this.retry = new ItemQueue(limits);
    this.ledger = o.ledger;
    this.isOpen = (d) => this.ledger.isOpen(d);
    this.concurrency = Math.max(1, o.bulkConcurrency ?? 1);
    this.quietMs = Math.min(o.flushIntervalMs, QUIET_FLUSH_MS);
    this.deadLetterer = new DeadLetterer({
      deadLetters: o.deadLetters,
      ledger: o.ledger,
      status: this.status,
      metrics: o.metrics,
      logger: o.logger,
      retryBackoffMs: o.retryBackoffMs,
      retryMaxBackoffMs: o.retryMaxBackoffMs,
      retryTimeoutMs: o.retryTimeoutMs,
      retrying: () => this.recovering,
    });
    this.runner = new BulkRunner({ output: o.output, ledger: o.ledger, deadLetterer: this.deadLetterer, status: this.status, metrics: o.metrics });
  }

  start(): void {
    this.loop ??= this.run().catch((err: unknown) => this.o.logger.fatal({ err: errorMessage(err) }, 'batch loop crashed'));
  }

  /** events waiting for their retry */
  get retrying(): number {
    return this.retry.events;
  }

  get unackedDeliveries(): number {
    return this.ledger.unacked;
  }

  /** events waiting for a bulk */
  get queued(): number {
    return this.pending.events;
  }

  get bulksInFlight(): number {
    return this.inflight.size;
  }

  /** events whose dead letter the broker did not take yet (returned, nacked, channel closed) */
  get deadLetterFailing(): number {
    return this.deadLetterer.failing;
  }

  get lastSuccessAt(): number | null {
    return this.status.lastSuccessAt;
  }

  get lastError(): string | null {
    return this.status.lastError;
  }

  get lastErrorAt(): number | null {
    return this.status.lastErrorAt;
  }

  add(delivery: Delivery, decoded: Decoded): void {
    const events = decoded.docs.length + decoded.poison.length;
    this.eventsPerDelivery = this.deliveriesSeen++ === 0 ? events : this.eventsPerDelivery + (events - this.eventsPerDelivery) * EVENTS_WEIGHT;
    this.ledger.track(delivery, events);
    this.o.metrics.eventsIn.inc(events);
    const now = Date.now();
    this.lastAddAt = now;
    for (const doc of decoded.docs) this.pending.push(newItem(doc, delivery, now));
    for (const p of decoded.poison) {
      const props = { contentType: p.contentType ?? 'application/octet-stream', contentEncoding: p.contentEncoding };
      this.deadLetterer.start(delivery, p.body, { type: 'undecodable', reason: p.reason }, props, now);
    }
    if (this.pending.events === 0) return;
    if (this.deadline === Infinity) {
      // the loop sleeps without a deadline: give it one
      this.deadline = now + this.o.flushIntervalMs;
      this.notify();
    } else if (this.pending.full(this.batchEvents()) || this.windowFull()) {
      this.notify();
    }
  }

  /** Resolves when every delivery handed in so far is acked or requeued. */
  idle(): Promise<void> {
    return this.ledger.idle();
  }

  /** Writes what is queued without waiting for --flush-interval, then waits until no delivery is unacked. */
  async drain(): Promise<void> {
    this.draining = true;
    this.notify();
    await this.idle();
  }

  /** Starts no more bulks, waits for those in flight, ends the dead letters' backoffs. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.notify();
    this.deadLetterer.stop();
    await this.loop;
    await Promise.all([...this.inflight]);
  }

  /**
   * Events per bulk: --batch-size, or fewer when the prefetch window holds
   * less than --bulk-concurrency batches of it. With one event per message,
   * --prefetch 1000 and the default batch 500 and 4 bulks, a worker would
   * otherwise have two bulks in flight and wait for one to be acked before
   * the broker sends the next 500; four bulks of 250 keep the window moving.
   * At the default --prefetch 3000 the window holds six batches of 500.
   */
  private batchEvents(): number {
    if (this.o.prefetch === undefined) return this.o.batchSize;
    const held = this.o.prefetch() * Math.max(1, this.eventsPerDelivery);
    return Math.max(1, Math.min(this.o.batchSize, Math.floor(held / this.concurrency)));
  }

  /**
   * The broker sends no more deliveries until some are acked. Acks the
   * consumer holds for the acked prefix (consumer.ts) still count in the
   * broker's window and are not counted here: they are sent within
   * ACK_HOLD_MS (25 ms, under QUIET_FLUSH_MS) or when the bulk ahead of them
   * is answered, and the deliveries that follow fill the batch. Counted, they
   * would send a partial batch into the free bulk slot each time a bulk is
   * answered before the one ahead of it.
   */
  private windowFull(): boolean {
    return this.o.prefetch !== undefined && this.ledger.unacked >= this.o.prefetch();
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
      if (this.recovering) {
        // no new documents until the failed ones went through, and one bulk at a time
        if (this.retry.events > 0 && now < this.retryAt) await this.sleep(this.retryAt - now);
        else if (this.inflight.size > 0) await this.sleep(Infinity);
        else if (this.retry.events > 0) this.launch(this.retry.take(this.isOpen));
        else this.recovered();
        continue;
      }
      if (this.inflight.size >= this.concurrency) {
        await this.sleep(Infinity);
        continue;
      }
      const quietAt = this.lastAddAt + this.quietMs;
      const batchEvents = this.batchEvents();
      const due = this.pending.full(batchEvents) || this.draining || now >= this.deadline || now >= quietAt || this.windowFull();
      if (this.pending.events > 0 && due) {
        this.launch(this.pending.take(this.isOpen, batchEvents));
        this.deadline = this.pending.events > 0 ? Date.now() + this.o.flushIntervalMs : Infinity;
        continue;
      }
      await this.sleep(this.pending.events > 0 ? Math.min(this.deadline, quietAt) - now : Infinity);
    }
  }

  private launch(batch: Item[]): void {
    if (batch.length === 0) return;
    const epoch = this.backoffEpoch;
    const bulk: Promise<void> = this.runner
      .run(batch)
      .then((failed) => this.afterBulk(failed, epoch))
      .catch((err: unknown) => this.o.logger.error({ err: errorMessage(err) }, 'applying a bulk answer failed unexpectedly'))
      .finally(() => {
        this.inflight.delete(bulk);
        this.notify();
      });
    this.inflight.add(bulk);
  }

  private recovered(): void {
    this.recovering = false;
    this.retryAttempt = 0;
    if (this.deadLetterer.failing === 0) this.status.recovered();
  }

  /** Failed items wait for their retry with backoff; past the retry budget their delivery is requeued. */
  private afterBulk(failed: Item[], epoch: number): void {
    if (failed.length === 0) {
      // the last bulk in flight, and nothing waits for a retry: writes went through again
      if (this.retry.events === 0 && this.inflight.size <= 1) this.recovered();
      return;
    }
    const now = Date.now();
    const keep: Item[] = [];
    for (const it of failed) {
      if (!this.ledger.isOpen(it.delivery)) continue;
      if (now - it.firstTry >= this.o.retryTimeoutMs) this.ledger.requeue(it.delivery, 'retry budget exhausted');
      else keep.push(it);
    }
    if (keep.length === 0) return;
    this.o.metrics.bulkRetries.inc(keep.length);
    this.retry.pushAll(keep);
    this.recovering = true;
    // a bulk that was in flight when the backoff started joins it without lengthening it
    if (epoch !== this.backoffEpoch) return;
    this.backoffEpoch++;
    const delay = backoffDelay(this.retryAttempt++, { initialMs: this.o.retryBackoffMs, maxMs: this.o.retryMaxBackoffMs });
    this.retryAt = now + delay;
    this.o.logger.warn({ events: keep.length, delayMs: delay, reason: this.status.lastError }, 'bulk items failed; retrying them');
  }
}
