/**
 * The publisher's confirm window, apart from any channel: which messages await
 * a broker confirm, how many bytes they hold, whether there is room for one
 * more, and what each broker answer does to a message. No I/O and no timers:
 * time comes from an injected clock, and every decision is returned to the
 * caller (the Publisher), which owns the channel and the retry timers.
 *
 * Every message added is settled exactly once: 'confirmed' (acked), 'unroutable'
 * (a basic.return came before its ack) or 'failed' (nacked for longer than the
 * nack budget, or failAll). A publish is identified by a ticket; an answer for
 * any publish but the message's latest one is stale and ignored, so a late
 * callback of a closed channel can never settle a message re-published since.
 */
import { ErrorCodes, LogshipError, backoffDelay } from '@logship/common';

export type Outcome = 'confirmed' | 'unroutable' | 'failed';

export interface OutgoingMessage<M = unknown> {
  messageId: string;
  body: Buffer;
  properties: Record<string, unknown>;
  /** events carried by this message */
  events: number;
  /** opaque data handed back on settle (checkpoints) */
  meta?: M;
  /**
   * Called by the publisher once `body`'s bytes are no longer read: when the
   * message is settled, or when a nack retry copied the body out. The
   * encoder then reuses the memory. The publisher calls it once.
   */
  release?: (() => void) | undefined;
}

/**
 * How long a message may keep being nacked before it counts as failed (the
 * default of ship's --nack-timeout): a quorum queue without a leader (an
 * election takes seconds) or a full queue with x-overflow reject-publish
 * answers nacks meanwhile. Time spent waiting for a channel (broker
 * unreachable) does not count; re-publishes after a channel loss never count.
 */
export const NACK_BUDGET_MS = 60_000;
/** backoff between the re-publishes of a nacked message: 100 ms doubling to 5 s, half jittered */
export const NACK_BACKOFF = { initialMs: 100, maxMs: 5_000 } as const;

/** where a message is: on the wire (awaiting a confirm), waiting for a channel, or waiting out a nack backoff */
export type EntryState = 'wire' | 'waiting' | 'backoff';

/** A message awaiting its confirm (a class, not a copy of the message: one per publish on the hot path). */
export class WindowEntry<M> {
  state: EntryState = 'waiting';
  /** the ticket of its latest publish (0: never published) */
  ticket = 0;
  /** publishes so far, on any channel */
  publishes = 0;
  /** broker nacks so far */
  nacks = 0;
  returned = false;
  /** clock time of the first nack; null until nacked */
  firstNackAt: number | null = null;
  /** time spent waiting for a channel since the first nack (not counted against the budget) */
  excludedMs = 0;
  /** clock time it started waiting for a channel */
  waitingSince = 0;
  settled = false;
  constructor(readonly msg: OutgoingMessage<M>) {}
}

export interface WindowOptions {
  /** messages awaiting a confirm before the window is full */
  maxMessages: number;
  /** bytes of bodies awaiting a confirm before the window is full (one message always fits) */
  maxBytes: number;
  nackBudgetMs?: number;
  /** milliseconds clock; default Date.now */
  now?: () => number;
  /** random source of the backoff jitter; default Math.random */
  random?: () => number;
}

export type NackDecision = { kind: 'retry'; delayMs: number } | { kind: 'failed'; error: LogshipError };

export type SettleListener<M> = (msg: OutgoingMessage<M>, outcome: Outcome, error?: Error) => void;

export class ConfirmWindow<M = unknown> {
  private readonly entries = new Set<WindowEntry<M>>();
  /** the latest entry per message id, for basic.return (which names the message id only) */
  private readonly byId = new Map<string, WindowEntry<M>>();
  private pendingBytes = 0;
  private nextTicket = 1;
  private readonly now: () => number;
  private readonly budgetMs: number;

  constructor(
    private readonly options: WindowOptions,
    private readonly onSettle: SettleListener<M>,
  ) {
    this.now = options.now ?? Date.now;
    this.budgetMs = options.nackBudgetMs ?? NACK_BUDGET_MS;
  }

  /** messages added and not settled */
  get pending(): number {
    return this.entries.size;
  }

  /** body bytes of the messages not settled */
  get bytes(): number {
    return this.pendingBytes;
  }

  get idle(): boolean {
    return this.entries.size === 0;
  }

  /** true when one more message fits (a single message always fits an empty window) */
  hasRoom(): boolean {
    return this.entries.size < this.options.maxMessages && (this.pendingBytes < this.options.maxBytes || this.entries.size === 0);
  }

  /** Takes a message in; it waits for a channel until sent() is called. */
  add(msg: OutgoingMessage<M>): WindowEntry<M> {
    // no clock read here (the hot path): waitingSince matters only once the message was nacked
    const entry = new WindowEntry(msg);
    this.entries.add(entry);
    this.byId.set(msg.messageId, entry);
    this.pendingBytes += msg.body.length;
    return entry;
  }

  /** Records a publish of a waiting message; returns the ticket its answer must carry. */
  sent(entry: WindowEntry<M>): number {
    if (entry.settled) throw new Error('confirm window: a settled message was published again');
    if (entry.firstNackAt !== null && entry.state === 'waiting') entry.excludedMs += this.now() - entry.waitingSince;
    entry.state = 'wire';
    entry.returned = false;
    entry.publishes++;
    entry.ticket = this.nextTicket++;
    return entry.ticket;
  }

  /** The ticket the next publish will get: every publish from now on has a ticket at least this. */
  get ticketMark(): number {
    return this.nextTicket;
  }

  private current(entry: WindowEntry<M>, ticket: number): boolean {
    return !entry.settled && entry.state === 'wire' && entry.ticket === ticket;
  }

  /** basic.return for a message id: its ack that follows settles it as unroutable. */
  returned(messageId: string): void {
    const entry = this.byId.get(messageId);
    if (entry && entry.state === 'wire') entry.returned = true;
  }

  /** The broker acked a publish. Returns the outcome, or null for a stale ticket. */
  confirm(entry: WindowEntry<M>, ticket: number): Outcome | null {
    if (!this.current(entry, ticket)) return null;
    const outcome = entry.returned ? 'unroutable' : 'confirmed';
    this.settle(entry, outcome);
    return outcome;
  }

  /**
   * The publish never got an answer (its channel closed, or the publish threw):
   * the message waits for the next channel. Does not count against any budget.
   * Returns false for a stale ticket.
   */
  lost(entry: WindowEntry<M>, ticket: number): boolean {
    if (!this.current(entry, ticket)) return false;
    entry.state = 'waiting';
    entry.waitingSince = this.now();
    return true;
  }

  /** Every message on the wire with a ticket >= `fromTicket` is lost (its channel closed). */
  lostFrom(fromTicket: number): number {
    let n = 0;
    for (const entry of this.entries) {
      if (entry.state === 'wire' && entry.ticket >= fromTicket && this.lost(entry, entry.ticket)) n++;
    }
    return n;
  }

  /**
   * The broker nacked a publish. Within the nack budget the message waits out
   * a backoff (then retryDue()); past it the message is settled as failed.
   * Returns null for a stale ticket.
   */
  nack(entry: WindowEntry<M>, ticket: number): NackDecision | null {
    if (!this.current(entry, ticket)) return null;
    const now = this.now();
    entry.nacks++;
    if (entry.firstNackAt === null) entry.firstNackAt = now;
    const nackedFor = now - entry.firstNackAt - entry.excludedMs;
    if (nackedFor >= this.budgetMs) {
      const error = new LogshipError(
        ErrorCodes.NOT_CONFIRMED,
        `the broker kept rejecting a message (nack) for ${Math.round(nackedFor / 1000)} s, ${entry.nacks} times (the limit is ${Math.round(this.budgetMs / 1000)} s)`,
        {
          hint: 'a quorum queue without a leader for that long, or a queue full with x-overflow reject-publish (a max-length policy): check the queue on the broker; the events stay unconfirmed and are not counted as shipped',
        },
      );
      this.settle(entry, 'failed', error);
      return { kind: 'failed', error };
    }
    entry.state = 'backoff';
    return { kind: 'retry', delayMs: backoffDelay(entry.nacks - 1, { ...NACK_BACKOFF, ...(this.options.random ? { random: this.options.random } : {}) }) };
  }

  /** A nack backoff ran out: true when the message should be published again now. */
  retryDue(entry: WindowEntry<M>): boolean {
    if (entry.settled || entry.state !== 'backoff') return false;
    entry.state = 'waiting';
    entry.waitingSince = this.now();
    return true;
  }

  /** The messages waiting for a channel, oldest first (to publish on a new channel). */
  waiting(): WindowEntry<M>[] {
    const out: WindowEntry<M>[] = [];
    for (const entry of this.entries) if (entry.state === 'waiting') out.push(entry);
    return out;
  }

  /** Settles one message as failed (the caller gave up on it). */
  fail(entry: WindowEntry<M>, error: Error): void {
    if (!entry.settled) this.settle(entry, 'failed', error);
  }

  /** Settles every message as failed (the publisher stopped). */
  failAll(error: Error): void {
    for (const entry of [...this.entries]) this.fail(entry, error);
  }

  private settle(entry: WindowEntry<M>, outcome: Outcome, error?: Error): void {
    entry.settled = true;
    this.entries.delete(entry);
    if (this.byId.get(entry.msg.messageId) === entry) this.byId.delete(entry.msg.messageId);
    this.pendingBytes -= entry.msg.body.length;
    this.onSettle(entry.msg, outcome, error);
  }
}
