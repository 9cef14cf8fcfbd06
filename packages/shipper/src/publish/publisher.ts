/**
 * Confirmed, mandatory, persistent publishing through a bounded window: the
 * channel's lifecycle (open on every 'connect', re-publish what a closed
 * channel left unconfirmed, stop on a fatal channel error, backpressure from
 * the socket and connection.blocked) around a ConfirmWindow, which decides
 * what each broker answer does to a message (confirm-window.ts).
 *
 * Every message stays in the window until the broker settles it: an ack
 * settles it as confirmed, unless a basic.return arrived for it first
 * (unroutable); a nack is re-published with backoff until nacks have kept
 * coming for ship's --nack-timeout (NACK_BUDGET_MS, 60 s, by default; a quorum
 * queue electing a leader nacks for a few seconds); a channel or connection
 * loss keeps it and re-publishes it (same bytes, same event.id) on the next
 * channel, which no budget counts.
 */
import { EventEmitter } from 'node:events';
import {
  ChannelKeeper,
  ErrorCodes,
  LogshipError,
  errorMessage,
  translateBrokerError,
  type ConfirmChannel,
  type Logger,
  type Message,
  type RecoveringChannelModel,
} from '@logship/common';
import { ConfirmWindow, type OutgoingMessage, type Outcome, type WindowEntry } from './confirm-window.js';

/** Time for the publisher's retry timers; a fake one in tests. */
export interface PublisherClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): void;
}

const realClock: PublisherClock = {
  now: Date.now,
  setTimeout: (fn, ms) => {
    setTimeout(fn, ms).unref();
  },
};

export interface PublisherOptions {
  exchange: string;
  routingKey: string;
  maxInflight: number;
  /** bytes of message bodies awaiting a confirm (bounds memory with large NDJSON messages): ship's --max-inflight-bytes */
  maxInflightBytes: number;
  logger: Logger;
  /** how long a message may keep being nacked before it fails; default NACK_BUDGET_MS (60 s) */
  nackBudgetMs?: number;
  clock?: PublisherClock;
  /** random source of the backoff jitter (tests) */
  random?: () => number;
  /** nacks in a row on one channel before it is replaced (a quorum queue's leader moved); default 2, 0 = never */
  recycleAfterNacks?: number;
}

export interface PublisherEvents<M> {
  settled: (msg: OutgoingMessage<M>, outcome: Outcome, error?: Error) => void;
}

const FATAL_CHANNEL_ERROR = /NOT_FOUND|ACCESS_REFUSED|PRECONDITION_FAILED|NOT_ALLOWED/;

/** Tells the message's encoder, once, that its body's bytes are no longer read. */
function releaseBody(msg: OutgoingMessage<unknown>): void {
  const release = msg.release;
  msg.release = undefined;
  release?.();
}

/** least time between two channel replacements after repeated nacks */
const RECYCLE_MS = 2000;

export class Publisher<M = unknown> extends EventEmitter {
  private readonly channels: ChannelKeeper<ConfirmChannel>;
  private readonly window: ConfirmWindow<M>;
  private readonly clock: PublisherClock;
  private windowWaiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];
  private writable = true;
  private blockedReason: string | null = null;
  private fatal: LogshipError | null = null;
  private closing = false;
  private lastRecycleAt = Number.NEGATIVE_INFINITY;
  private readonly onConnect = () => void this.channels.open();
  private readonly onBlocked = (reason: string) => {
    this.blockedReason = reason || 'blocked';
    this.options.logger.warn({ reason }, 'broker blocked publishing (memory or disk alarm): input paused until it unblocks');
    this.emit('blocked', reason);
  };
  private readonly onUnblocked = () => {
    this.blockedReason = null;
    this.options.logger.info('broker unblocked publishing: input resumed');
    this.emit('unblocked');
    this.wakeWindow();
  };
  /** a blocked node that is lost never sends connection.unblocked: the next node starts unblocked */
  private readonly onDisconnect = () => {
    if (this.blockedReason !== null) this.onUnblocked();
  };

  constructor(
    private readonly conn: RecoveringChannelModel,
    private readonly options: PublisherOptions,
  ) {
    super();
    this.clock = options.clock ?? realClock;
    this.window = new ConfirmWindow<M>(
      {
        maxMessages: options.maxInflight,
        maxBytes: options.maxInflightBytes,
        now: this.clock.now,
        ...(options.nackBudgetMs !== undefined ? { nackBudgetMs: options.nackBudgetMs } : {}),
        ...(options.random ? { random: options.random } : {}),
      },
      (msg, outcome, error) => this.onSettled(msg, outcome, error),
    );
    this.channels = this.openKeeper();
    conn.on('connect', this.onConnect);
    conn.on('blocked', this.onBlocked);
    conn.on('unblocked', this.onUnblocked);
    conn.on('disconnect', this.onDisconnect);
  }

  override on<E extends keyof PublisherEvents<M>>(event: E, listener: PublisherEvents<M>[E]): this;
  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own listener type
  override on(event: string, listener: (...args: any[]) => void): this;
  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own listener type
  override on(event: string, listener: (...args: any[]) => void): this {
    return super.on(event, listener);
  }

  async start(): Promise<void> {
    await this.channels.open();
    if (this.fatal) throw this.fatal;
  }

  get inflight(): number {
    return this.window.pending;
  }

  /** body bytes awaiting a confirm */
  get inflightBytes(): number {
    return this.window.bytes;
  }

  get blocked(): boolean {
    return this.blockedReason !== null;
  }

  /** The error that stopped the publisher (missing exchange, refused permission), if any. */
  get failure(): LogshipError | null {
    return this.fatal;
  }

  /** true when send() may be called now without waiting */
  hasRoom(): boolean {
    return this.window.hasRoom() && this.writable && this.blockedReason === null;
  }

  /** Resolves when one more message may be sent (window not full, not blocked). */
  ready(): Promise<void> {
    if (this.fatal) return Promise.reject(this.fatal);
    if (this.hasRoom()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.windowWaiters.push(() => (this.fatal ? reject(this.fatal) : resolve()));
    });
  }

  /** Resolves when every message sent so far is settled (or the publisher failed). */
  idle(): Promise<void> {
    if (this.window.idle || this.fatal) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  send(msg: OutgoingMessage<M>): void {
    if (this.fatal) throw this.fatal;
    this.transmit(this.window.add(msg));
  }

  /** Publishes a message waiting in the window on the current channel; without one it keeps waiting. */
  private transmit(entry: WindowEntry<M>): void {
    const ch = this.channels.channel;
    // on the wire already, or waiting out a nack backoff: never published twice at once
    if (!ch || entry.state !== 'waiting') return;
    const ticket = this.window.sent(entry);
    try {
      const ok = ch.publish(this.options.exchange, this.options.routingKey, entry.msg.body, entry.msg.properties, (err) =>
        this.onConfirm(entry, ticket, ch, err),
      );
      if (!ok && this.writable) {
        this.writable = false;
        ch.once('drain', () => {
          this.writable = true;
          this.wakeWindow();
        });
      }
    } catch (err) {
      if (this.channels.channel === ch && !/clos(ed|ing)/i.test(errorMessage(err))) {
        // refused by the client on a live channel (it would refuse it again on the next): fail it, never wait forever
        this.window.fail(entry, new LogshipError(ErrorCodes.NOT_CONFIRMED, `could not publish a message: ${errorMessage(err)}`));
        return;
      }
      // the channel closed (or is closing: a replaced channel until its close event) under us: keep the message for the next channel
      this.options.logger.debug({ err: errorMessage(err) }, 'publish on a closed channel; will re-publish');
      this.window.lost(entry, ticket);
    }
  }

  private onConfirm(entry: WindowEntry<M>, ticket: number, ch: ConfirmChannel, err: Error | null): void {
    if (!err) {
      this.window.confirm(entry, ticket);
      return;
    }
    if (/channel closed/i.test(err.message) || this.channels.channel !== ch) {
      // not settled by the broker: re-publish on the next channel (no budget counts this)
      if (!this.window.lost(entry, ticket)) return;
      this.emit('publish-error', err);
      if (this.channels.channel && this.channels.channel !== ch) this.transmit(entry);
      return;
    }
    // a broker nack: re-publish with backoff until nacks have kept coming for the nack budget
    const decision = this.window.nack(entry, ticket);
    if (!decision) return;
    this.emit('publish-error', err);
    if (decision.kind === 'failed') return;
    this.recycleAfterNacks(ch, entry.nacks);
    // a body waiting seconds for its retry must not pin the encoder's whole slab
    if (entry.msg.body.buffer.byteLength > entry.msg.body.length) {
      entry.msg.body = Buffer.from(entry.msg.body);
      releaseBody(entry.msg);
    }
    this.options.logger.warn({ messageId: entry.msg.messageId, nacks: entry.nacks, delayMs: decision.delayMs }, 'broker nacked a message; retrying');
    this.clock.setTimeout(() => {
      if (this.window.retryDue(entry)) this.transmit(entry);
    }, decision.delayMs);
  }

  /**
   * A quorum queue whose leader moved can keep rejecting a channel's publishes
   * (its queue client waits for a word from the old leader): after repeated
   * nacks the channel is replaced, at most every RECYCLE_MS; what waits is
   * published again on the new one.
   */
  private recycleAfterNacks(ch: ConfirmChannel, nacks: number): void {
    const now = this.clock.now();
    const after = this.options.recycleAfterNacks ?? 2;
    if (after === 0 || nacks < after || this.channels.channel !== ch || now - this.lastRecycleAt < RECYCLE_MS) return;
    this.lastRecycleAt = now;
    this.options.logger.info('repeated nacks: opening a new channel (a quorum queue leader may have moved)');
    // its close handler re-publishes what it left unconfirmed on the next channel
    void ch.close().catch(() => undefined);
  }

  private onReturn(msg: Message): void {
    const id = msg.properties.messageId as string | undefined;
    if (id) this.window.returned(id);
  }

  private onSettled(msg: OutgoingMessage<M>, outcome: Outcome, error?: Error): void {
    // amqplib copied the body into its frame in publish(): the encoder may reuse these bytes now
    releaseBody(msg);
    this.emit('settled', msg, outcome, error);
    this.wakeWindow();
    if (this.window.idle) this.wakeIdle();
  }

  private wakeWindow(): void {
    while (this.windowWaiters.length > 0 && (this.fatal || this.hasRoom())) {
      this.windowWaiters.shift()!();
    }
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private fail(err: LogshipError): void {
    if (this.fatal) return;
    this.fatal = err;
    this.options.logger.error({ code: err.code }, err.message);
    this.window.failAll(err);
    this.wakeWindow();
    this.wakeIdle();
  }

  /** per channel: the first ticket sent on it (what it leaves unconfirmed when it closes) */
  private readonly firstTickets = new WeakMap<ConfirmChannel, number>();

  private openKeeper(): ChannelKeeper<ConfirmChannel> {
    return new ChannelKeeper<ConfirmChannel>({
      open: () => this.conn.createConfirmChannel(),
      ready: (ch) => {
        this.firstTickets.set(ch, this.window.ticketMark);
        ch.on('return', (msg: Message) => this.onReturn(msg));
        this.writable = true;
        const resend = this.window.waiting();
        if (resend.length > 0) this.options.logger.info({ messages: resend.length }, 're-publishing unconfirmed messages');
        for (const entry of resend) this.transmit(entry);
        this.wakeWindow();
      },
      closed: (ch, channelError, wasCurrent) => {
        if (!wasCurrent) return;
        this.writable = true;
        // amqplib has failed every confirm callback with "channel closed" by now; this
        // catches any publish of this channel that would otherwise wait for an answer forever
        this.window.lostFrom(this.firstTickets.get(ch) ?? 0);
        if (this.closing) return false;
        if (channelError && FATAL_CHANNEL_ERROR.test(channelError.message)) {
          this.fail(translateBrokerError(channelError, { kind: 'exchange', name: this.options.exchange }, 'use'));
          return false;
        }
        // connection loss: the connection emits 'connect' again; a channel-only
        // error on a live connection is retried shortly
        return true;
      },
      failed: (err) => {
        if (this.closing || this.fatal) return false;
        // while no node is connected the request waits; a refusal on a live connection is retried here
        this.options.logger.debug({ err: errorMessage(err) }, 'could not open a channel yet; retrying');
        return true;
      },
      reopenAfterCloseMs: 200,
      retryAfterFailureMs: 1000,
      setTimeout: (fn, ms) => this.clock.setTimeout(fn, ms),
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.conn.off('connect', this.onConnect);
    this.conn.off('blocked', this.onBlocked);
    this.conn.off('unblocked', this.onUnblocked);
    this.conn.off('disconnect', this.onDisconnect);
    await this.channels.close();
  }
}
