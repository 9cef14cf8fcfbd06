/**
 * "Open a channel once, reopen it later", written once for the publisher,
 * the consumer and the dead-letter publisher.
 *
 * A ChannelKeeper owns at most one current channel. Opening is single-flight
 * (callers during an open share it). When the current channel closes, the
 * owner's `closed` hook learns why (the error the broker closed it with, if
 * any) and may stop reopening (a fatal error); otherwise the keeper opens
 * another after `reopenAfterCloseMs`, or on the next `acquire()` when that is
 * null (open on demand). A failed open is retried after `retryAfterFailureMs`
 * in the same way. The connection layer (amqp-connection.ts) makes
 * createChannel wait while no node is connected; an owner that also reopens
 * on the connection's 'connect' event just calls `open()` there.
 *
 * A channel that is no longer current keeps working for what was under way on
 * it (acks of its deliveries are the owner's business); the keeper only
 * stops calling it current.
 */
import type { Channel } from 'amqplib';

export interface ChannelKeeperOptions<C extends Channel> {
  /** opens a channel (createChannel or createConfirmChannel of the connection) */
  open(): Promise<C>;
  /**
   * Runs once the new channel is current (prefetch, consume, re-publish).
   * A throw closes the channel and counts as a failed open.
   */
  ready?(ch: C): void | Promise<void>;
  /**
   * A channel this keeper opened closed. `error` is what the broker closed it
   * with, if anything; `wasCurrent` is false for a channel already replaced.
   * Return false to stop reopening (a fatal error).
   */
  closed?(ch: C, error: Error | null, wasCurrent: boolean): boolean | undefined;
  /** An open failed (before or in `ready`). Return false to stop retrying. */
  failed?(err: unknown): boolean | undefined;
  /** the broker sent an error for a channel (logged by the owner if it wants) */
  errored?(err: Error): void;
  /** ms before another channel replaces a current one that closed; null: on the next acquire() only */
  reopenAfterCloseMs: number | null;
  /** ms before a failed open is tried again; null: on the next acquire() only */
  retryAfterFailureMs: number | null;
  /** the owner's timer (tests give a fake clock); default: an unref'd setTimeout */
  setTimeout?(fn: () => void, ms: number): void;
}

function realTimeout(fn: () => void, ms: number): void {
  setTimeout(fn, ms).unref();
}

export class ChannelKeeper<C extends Channel> {
  private currentChannel: C | null = null;
  private opening: Promise<void> | null = null;
  private stopped = false;
  private lastFailure: unknown = null;
  private readonly errors = new WeakMap<C, Error>();
  private readonly timeout: (fn: () => void, ms: number) => void;

  constructor(private readonly o: ChannelKeeperOptions<C>) {
    this.timeout = o.setTimeout ?? realTimeout;
  }

  /** the current channel, or null while none is open */
  get channel(): C | null {
    return this.currentChannel;
  }

  /** false once stop() or close() was called */
  get keeping(): boolean {
    return !this.stopped;
  }

  /** the error the broker sent for ch, if it sent one */
  errorOf(ch: C): Error | null {
    return this.errors.get(ch) ?? null;
  }

  /** Opens a channel unless one is current, stopped, or an open is under way (then shares it). Never rejects. */
  open(): Promise<void> {
    if (this.opening) return this.opening;
    if (this.currentChannel || this.stopped) return Promise.resolve();
    this.opening = this.openOnce().finally(() => {
      this.opening = null;
    });
    return this.opening;
  }

  /** The current channel, opened now if there is none; rejects with why it could not be opened. */
  async acquire(): Promise<C> {
    // a channel is current before its ready hook finished: wait for it
    if (this.opening) await this.opening;
    if (!this.currentChannel) await this.open();
    if (this.currentChannel) return this.currentChannel;
    if (this.stopped) throw new Error('channel closed: the keeper was stopped');
    throw this.lastFailure instanceof Error ? this.lastFailure : new Error(String(this.lastFailure ?? 'could not open a channel'));
  }

  /**
   * Closes ch if it is current and opens another after reopenAfterCloseMs
   * (the broker cancelled the consumer, a channel kept nacking).
   */
  replace(ch: C): void {
    if (this.currentChannel !== ch) return;
    this.currentChannel = null;
    void ch.close().catch(() => undefined);
    this.schedule(this.o.reopenAfterCloseMs);
  }

  /** Never open another channel; the current one stays open for what is under way. */
  stop(): void {
    this.stopped = true;
  }

  /** Stops and closes the current channel. */
  async close(): Promise<void> {
    this.stopped = true;
    const ch = this.currentChannel;
    this.currentChannel = null;
    if (ch) await ch.close().catch(() => undefined);
  }

  private async openOnce(): Promise<void> {
    let ch: C | null = null;
    try {
      ch = await this.o.open();
      const opened = ch;
      opened.on('error', (err: Error) => {
        this.errors.set(opened, err);
        this.o.errored?.(err);
      });
      opened.on('close', () => this.onClose(opened));
      if (this.stopped) {
        await opened.close().catch(() => undefined);
        return;
      }
      // current before ready: deliveries can arrive before consume() resolves
      this.currentChannel = opened;
      this.lastFailure = null;
      await this.o.ready?.(opened);
    } catch (err) {
      this.lastFailure = err;
      if (ch && this.currentChannel === ch) this.currentChannel = null;
      if (ch) await ch.close().catch(() => undefined);
      if (this.stopped || this.o.failed?.(err) === false) return;
      this.schedule(this.o.retryAfterFailureMs);
    }
  }

  private onClose(ch: C): void {
    const wasCurrent = this.currentChannel === ch;
    if (wasCurrent) this.currentChannel = null;
    const keepGoing = this.o.closed?.(ch, this.errorOf(ch), wasCurrent);
    if (!wasCurrent || this.stopped) return;
    if (keepGoing === false) {
      this.stopped = true;
      return;
    }
    this.schedule(this.o.reopenAfterCloseMs);
  }

  private schedule(ms: number | null): void {
    if (ms === null || this.stopped) return;
    this.timeout(() => void this.open(), ms);
  }
}
