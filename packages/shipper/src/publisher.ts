/**
 * Confirmed, mandatory, persistent publishing through a bounded window.
 *
 * Every message stays in `pending` until the broker settles it: an ack settles
 * it as confirmed, unless a basic.return arrived for it first (unroutable); a
 * nack is retried a few times with backoff; a channel or connection loss keeps
 * it and re-publishes it (same bytes, same event.id) on the next channel.
 */
import { EventEmitter } from 'node:events';
import {
  ErrorCodes,
  LogshipError,
  backoffDelay,
  errorMessage,
  translateBrokerError,
  type ConfirmChannel,
  type Logger,
  type Message,
  type RecoveringChannelModel,
} from '@logship/common';

export type Outcome = 'confirmed' | 'unroutable' | 'failed';

export interface OutgoingMessage<M = unknown> {
  messageId: string;
  body: Buffer;
  properties: Record<string, unknown>;
  /** events carried by this message */
  events: number;
  /** opaque data handed back on settle (checkpoints) */
  meta?: M;
}

/** A message awaiting its confirm (a class, not a copy of the message: one per publish on the hot path). */
class Entry<M> {
  attempts = 0;
  returned = false;
  /** the channel it was last published on, null when waiting for a channel */
  channel: ConfirmChannel | null = null;
  constructor(readonly msg: OutgoingMessage<M>) {}
}

export interface PublisherOptions {
  exchange: string;
  routingKey: string;
  maxInflight: number;
  /** bytes of message bodies awaiting a confirm (bounds memory with large NDJSON messages); default 4 MiB */
  maxInflightBytes?: number;
  logger: Logger;
  /** broker nacks tolerated per message before it counts as failed */
  maxNackRetries?: number;
}

export interface PublisherEvents<M> {
  settled: (msg: OutgoingMessage<M>, outcome: Outcome, error?: Error) => void;
}

const FATAL_CHANNEL_ERROR = /NOT_FOUND|ACCESS_REFUSED|PRECONDITION_FAILED|NOT_ALLOWED/;

export class Publisher<M = unknown> extends EventEmitter {
  private channel: ConfirmChannel | null = null;
  private readonly pending = new Map<string, Entry<M>>();
  private pendingBytes = 0;
  private readonly waiting: Entry<M>[] = [];
  private windowWaiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];
  private writable = true;
  private blockedReason: string | null = null;
  private fatal: LogshipError | null = null;
  private closing = false;
  private opening: Promise<void> | null = null;
  private readonly onConnect = () => void this.openChannel();

  constructor(
    private readonly conn: RecoveringChannelModel,
    private readonly options: PublisherOptions,
  ) {
    super();
    conn.on('connect', this.onConnect);
    conn.on('blocked', (reason: string) => {
      this.blockedReason = reason || 'blocked';
      options.logger.warn({ reason }, 'broker blocked publishing (memory or disk alarm): input paused until it unblocks');
      this.emit('blocked', reason);
    });
    conn.on('unblocked', () => {
      this.blockedReason = null;
      options.logger.info('broker unblocked publishing: input resumed');
      this.emit('unblocked');
      this.wakeWindow();
    });
  }

  override on<E extends keyof PublisherEvents<M>>(event: E, listener: PublisherEvents<M>[E]): this;
  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own listener type
  override on(event: string, listener: (...args: any[]) => void): this;
  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own listener type
  override on(event: string, listener: (...args: any[]) => void): this {
    return super.on(event, listener);
  }

  async start(): Promise<void> {
    await this.openChannel();
    if (this.fatal) throw this.fatal;
  }

  get inflight(): number {
    return this.pending.size;
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
    return (
      this.pending.size < this.options.maxInflight &&
      (this.pendingBytes < (this.options.maxInflightBytes ?? 4 * 1024 * 1024) || this.pending.size === 0) &&
      this.writable &&
      this.blockedReason === null
    );
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
    if (this.pending.size === 0 || this.fatal) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  send(msg: OutgoingMessage<M>): void {
    if (this.fatal) throw this.fatal;
    const entry = new Entry(msg);
    this.pending.set(msg.messageId, entry);
    this.pendingBytes += msg.body.length;
    this.transmit(entry);
  }

  private transmit(entry: Entry<M>): void {
    const ch = this.channel;
    if (!ch) {
      this.waiting.push(entry);
      return;
    }
    entry.channel = ch;
    entry.returned = false;
    entry.attempts++;
    try {
      const ok = ch.publish(this.options.exchange, this.options.routingKey, entry.msg.body, entry.msg.properties, (err) => this.onConfirm(entry, ch, err));
      if (!ok && this.writable) {
        this.writable = false;
        ch.once('drain', () => {
          this.writable = true;
          this.wakeWindow();
        });
      }
    } catch (err) {
      // the channel closed under us: keep the message for the next channel
      this.options.logger.debug({ err: errorMessage(err) }, 'publish on a closed channel; will re-publish');
      entry.channel = null;
      this.waiting.push(entry);
    }
  }

  private onConfirm(entry: Entry<M>, ch: ConfirmChannel, err: Error | null): void {
    if (this.pending.get(entry.msg.messageId) !== entry || entry.channel !== ch) return;
    if (!err) {
      this.settle(entry, entry.returned ? 'unroutable' : 'confirmed');
      return;
    }
    if (/channel closed/i.test(err.message) || this.channel !== ch) {
      // not settled by the broker: re-publish on the next channel
      entry.channel = null;
      this.waiting.push(entry);
      this.emit('publish-error', err);
      return;
    }
    // a broker nack: try again a few times, then give up on this message
    this.emit('publish-error', err);
    const max = this.options.maxNackRetries ?? 5;
    if (entry.attempts > max) {
      this.settle(entry, 'failed', new LogshipError(ErrorCodes.NOT_CONFIRMED, `the broker rejected a message ${entry.attempts} times`));
      return;
    }
    // a body waiting seconds for its retry must not pin the encoder's whole slab
    if (entry.msg.body.buffer.byteLength > entry.msg.body.length) entry.msg.body = Buffer.from(entry.msg.body);
    const delay = backoffDelay(entry.attempts, { initialMs: 100, maxMs: 5000 });
    this.options.logger.warn({ messageId: entry.msg.messageId, attempt: entry.attempts, delayMs: delay }, 'broker nacked a message; retrying');
    setTimeout(() => {
      if (this.pending.get(entry.msg.messageId) === entry) this.transmit(entry);
    }, delay).unref();
  }

  private onReturn(msg: Message): void {
    const id = msg.properties.messageId as string | undefined;
    const entry = id ? this.pending.get(id) : undefined;
    if (entry) entry.returned = true;
  }

  private settle(entry: Entry<M>, outcome: Outcome, error?: Error): void {
    this.pending.delete(entry.msg.messageId);
    this.pendingBytes -= entry.msg.body.length;
    this.emit('settled', entry.msg, outcome, error);
    this.wakeWindow();
    if (this.pending.size === 0) this.wakeIdle();
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
    for (const entry of [...this.pending.values()]) this.settle(entry, 'failed', err);
    this.waiting.length = 0;
    this.wakeWindow();
    this.wakeIdle();
  }

  private openChannel(): Promise<void> {
    if (this.opening) return this.opening;
    if (this.channel || this.closing || this.fatal) return Promise.resolve();
    this.opening = (async () => {
      try {
        const ch = await this.conn.createConfirmChannel();
        let channelError: Error | null = null;
        ch.on('error', (err: Error) => {
          channelError = err;
        });
        ch.on('return', (msg: Message) => this.onReturn(msg));
        ch.on('close', () => {
          if (this.channel !== ch) return;
          this.channel = null;
          this.writable = true;
          if (this.closing) return;
          if (channelError && FATAL_CHANNEL_ERROR.test(channelError.message)) {
            this.fail(translateBrokerError(channelError, { kind: 'exchange', name: this.options.exchange }, 'use'));
            return;
          }
          // connection loss: amqplib recovery emits 'connect' again; a channel-only
          // error on a live connection is retried right away
          setTimeout(() => void this.openChannel(), 200).unref();
        });
        this.channel = ch;
        this.writable = true;
        const resend = this.waiting.splice(0);
        if (resend.length > 0) this.options.logger.info({ messages: resend.length }, 're-publishing unconfirmed messages');
        for (const entry of resend) this.transmit(entry);
        this.wakeWindow();
      } catch (err) {
        if (!this.closing) this.options.logger.debug({ err: errorMessage(err) }, 'could not open a channel yet');
      } finally {
        this.opening = null;
      }
    })();
    return this.opening;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.conn.off('connect', this.onConnect);
    const ch = this.channel;
    this.channel = null;
    if (ch) await ch.close().catch(() => undefined);
  }
}
