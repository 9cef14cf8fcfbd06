/**
 * Dead-letters events one by one, in the background: an event Elasticsearch
 * can never take (other 4xx, a single 413) and poison the decoder refused. A
 * dead letter counts as done for its delivery only once the broker confirmed
 * and routed it. A failure (returned: no dead-letter queue bound; nacked;
 * channel closed; no confirm within the retry budget) leaves the delivery
 * unacked and is retried with backoff, on its own, while other documents go
 * on; past the retry budget the delivery is requeued. A body the broker could
 * never take is cut short (MAX_DEAD_LETTER_BYTES, or smaller once the broker
 * refused it for its size) with its original size in a header.
 */
import { ErrorCodes, LogshipError, backoffDelay, errorMessage, isLogshipError, type IndexerMetrics, type Logger } from '@logship/common';
import {
  type DeadLetterProperties,
  type DeadLetterPublisher,
  type DeadLetterReason,
  MAX_DEAD_LETTER_BYTES,
  REFUSED_DEAD_LETTER_BYTES,
  isSizeRefusal,
  shortReason,
} from './dead-letter.js';
import type { Delivery, DeliveryLedger } from '../consume/delivery-ledger.js';
import type { WriteStatus } from '../batch/write-status.js';

export interface DeadLettererOptions {
  deadLetters: DeadLetterPublisher;
  ledger: DeliveryLedger;
  status: WriteStatus;
  metrics: IndexerMetrics;
  logger: Logger;
  retryBackoffMs: number;
  retryMaxBackoffMs: number;
  retryTimeoutMs: number;
  /** whether writes wait for a retry (the error is kept until both recovered) */
  retrying: () => boolean;
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

export class DeadLetterer {
  /** dead letters waiting to be published again after a failure */
  private waiting = 0;
  private loggedAt = 0;
  private stopped = false;
  /** wake-ups of dead letters waiting to be published again */
  private readonly pauses = new Set<() => void>();

  constructor(private readonly o: DeadLettererOptions) {}

  /** events whose dead letter the broker did not take yet (returned, nacked, channel closed) */
  get failing(): number {
    return this.waiting;
  }

  /** deadLetter() in the background: it handles its own failures, so a rejection here is a bug, logged, never unhandled */
  start(delivery: Delivery, body: Buffer, why: DeadLetterReason, props: DeadLetterProperties, firstTry: number): void {
    this.deadLetter(delivery, body, why, props, firstTry).catch((err: unknown) => {
      this.o.logger.error({ err: errorMessage(err), eventId: why.eventId }, 'dead-lettering failed unexpectedly; the delivery stays unacked');
    });
  }

  /** Ends the backoffs (shutdown): what was not published stays unacked, and the broker delivers it again. */
  stop(): void {
    this.stopped = true;
    for (const wake of [...this.pauses]) wake();
  }

  private async deadLetter(delivery: Delivery, body: Buffer, why: DeadLetterReason, props: DeadLetterProperties, firstTry: number): Promise<void> {
    const { ledger } = this.o;
    let waiting = false;
    let published = false;
    let letter = truncated(body, props, MAX_DEAD_LETTER_BYTES);
    try {
      for (let attempt = 0; ; attempt++) {
        if (this.stopped || !ledger.isOpen(delivery)) return;
        try {
          await this.withinBudget(this.o.deadLetters.publish(letter.body, why, letter.props), firstTry);
        } catch (err) {
          if (!waiting) {
            waiting = true;
            this.waiting++;
          }
          this.failed(err);
          if (isSizeRefusal(err) && letter.body.length > REFUSED_DEAD_LETTER_BYTES) {
            // never retried as it is: the broker would refuse it again, forever
            letter = truncated(body, props, REFUSED_DEAD_LETTER_BYTES);
            continue;
          }
          if (Date.now() - firstTry >= this.o.retryTimeoutMs) return ledger.requeue(delivery, 'dead-letter publish kept failing');
          const delay = backoffDelay(attempt, { initialMs: this.o.retryBackoffMs, maxMs: this.o.retryMaxBackoffMs });
          await this.pause(delay);
          continue;
        }
        published = true;
        this.o.metrics.eventsDeadLettered.inc();
        this.o.logger.warn(
          { eventId: why.eventId, status: why.status, type: why.type, reason: shortReason(why.reason), truncatedFrom: letter.props.truncatedFrom },
          'event dead-lettered',
        );
        ledger.eventDeadLettered(delivery);
        return;
      }
    } finally {
      if (waiting) {
        this.waiting--;
        if (this.waiting === 0 && published) {
          this.loggedAt = 0;
          this.o.logger.info('dead-letter publishing works again');
          if (!this.o.retrying()) this.o.status.recovered();
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

  private failed(err: unknown): void {
    const hint = isLogshipError(err) && err.hint ? `; ${err.hint}` : '';
    this.o.status.failed(`dead-letter publish failed: ${errorMessage(err)}${hint}`);
    const now = Date.now();
    if (now - this.loggedAt < DEAD_LETTER_LOG_EVERY_MS) return;
    this.loggedAt = now;
    this.o.logger.error(
      { waiting: this.waiting, err: errorMessage(err), hint: hint.slice(2) || undefined },
      `dead-letter publish failed: ${errorMessage(err)}${hint}`,
    );
  }
}
