/**
 * Consumes the shared queue with manual acks and a prefetch window. Each
 * delivery remembers the channel it came on: an ack for a channel that died
 * is never sent (it would close the new channel with PRECONDITION_FAILED -
 * unknown delivery tag); the broker redelivers those messages instead.
 *
 * A settled delivery is acked at the end of the tick it settled in, even
 * while an earlier one waits in retry: the settled prefix with one
 * `multiple` ack, each settled delivery beyond it alone. An ack held back
 * behind a slow delivery would be redelivered after a crash, and its event
 * written or dead-lettered a second time.
 */
import { errorMessage, translateBrokerError, type Channel, type ConsumeMessage, type Logger, type RecoveringChannelModel } from '@logship/common';

export interface Delivery {
  msg: ConsumeMessage;
  channel: Channel;
  /** events of this delivery not yet settled */
  remaining: number;
  settled: boolean;
  receivedAt: number;
  /** the broker was told (ack, nack) or will be by the next ack flush */
  done?: 'ack' | 'nack';
  /** the ack frame covering this delivery was sent */
  ackSent?: boolean;
}

export interface ConsumerOptions {
  queue: string;
  prefetch: number;
  logger: Logger;
}

export class Consumer {
  private channel: Channel | null = null;
  private consumerTag: string | null = null;
  private stopped = false;
  private opening: Promise<void> | null = null;
  private readonly onConnect = () => void this.open();
  /** deliveries of the live channel in delivery-tag order, until acked */
  private outstanding: Delivery[] = [];
  private outstandingHead = 0;
  /** deliveries acked since the last flush */
  private toAck: Delivery[] = [];
  private flushScheduled = false;
  /** the last fatal channel error (queue missing, access refused) */
  lastError: Error | null = null;

  constructor(
    private readonly conn: RecoveringChannelModel,
    private readonly options: ConsumerOptions,
    private readonly onDelivery: (d: Delivery) => void,
  ) {}

  get connected(): boolean {
    return this.channel !== null;
  }

  async start(): Promise<void> {
    this.conn.on('connect', this.onConnect);
    await this.open();
    if (!this.channel && this.lastError) throw this.lastError;
  }

  private open(): Promise<void> {
    if (this.opening) return this.opening;
    if (this.channel || this.stopped) return Promise.resolve();
    this.opening = (async () => {
      const { queue, prefetch, logger } = this.options;
      let ch: Channel | null = null;
      try {
        ch = await this.conn.createChannel();
        const channel = ch;
        // the ack prefix is per channel: deliveries of an older channel can never be acked here
        this.outstanding = [];
        this.outstandingHead = 0;
        this.toAck = [];
        let channelError: Error | null = null;
        channel.on('error', (err: Error) => {
          channelError = err;
          logger.warn({ err: errorMessage(err) }, 'consumer channel error');
        });
        channel.on('close', () => {
          if (this.channel !== channel) return;
          this.channel = null;
          this.consumerTag = null;
          if (this.stopped) return;
          if (channelError) this.lastError = translateBrokerError(channelError, { kind: 'queue', name: queue }, 'use');
          // unacked deliveries of this channel go back to the queue; reopen
          setTimeout(() => void this.open(), 1000).unref();
        });
        await channel.prefetch(prefetch);
        const ok = await channel.consume(
          queue,
          (msg) => {
            if (msg === null) {
              logger.warn({ queue }, 'the broker cancelled the consumer (queue deleted?); retrying');
              if (this.channel === channel) {
                this.channel = null;
                void channel.close().catch(() => undefined);
                setTimeout(() => void this.open(), 1000).unref();
              }
              return;
            }
            const d: Delivery = { msg, channel, remaining: 0, settled: false, receivedAt: Date.now() };
            this.outstanding.push(d);
            this.onDelivery(d);
          },
          { noAck: false },
        );
        this.channel = channel;
        this.consumerTag = ok.consumerTag;
        this.lastError = null;
        logger.info({ queue, prefetch }, 'consuming');
      } catch (err) {
        this.lastError = translateBrokerError(err, { kind: 'queue', name: queue }, 'use');
        logger.warn({ err: this.lastError.message }, 'cannot consume yet; retrying');
        if (ch) await ch.close().catch(() => undefined);
        if (!this.stopped) setTimeout(() => void this.open(), 2000).unref();
      } finally {
        this.opening = null;
      }
    })();
    return this.opening;
  }

  /** true if the delivery's channel is still the live one (its tag may be acked) */
  isLive(d: Delivery): boolean {
    return d.channel === this.channel;
  }

  /**
   * Acks are coalesced at the end of the current tick: the settled prefix
   * with one `multiple` ack, the settled deliveries beyond it one by one.
   */
  ack(d: Delivery): boolean {
    if (!this.isLive(d)) return false;
    d.done = 'ack';
    this.toAck.push(d);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushAcks());
    }
    return true;
  }

  nack(d: Delivery, requeue: boolean): boolean {
    if (!this.isLive(d)) return false;
    d.done = 'nack';
    d.channel.nack(d.msg, false, requeue);
    return true;
  }

  /**
   * Sends one ack (multiple) for the settled prefix of the outstanding
   * deliveries, then one ack (not multiple) for each delivery acked since
   * the last flush that lies beyond the first unsettled one.
   */
  flushAcks(): void {
    this.flushScheduled = false;
    const list = this.outstanding;
    let last: Delivery | null = null;
    while (this.outstandingHead < list.length && list[this.outstandingHead]!.done) {
      const d = list[this.outstandingHead++]!;
      // a tag already acked on its own must not be named again (unknown delivery tag)
      if (d.done === 'ack' && !d.ackSent) {
        last = d;
        d.ackSent = true;
      }
    }
    if (this.outstandingHead > 1024 && this.outstandingHead * 2 > list.length) {
      this.outstanding = list.slice(this.outstandingHead);
      this.outstandingHead = 0;
    }
    // acks every outstanding tag up to it; the nacked and the already acked ones are no longer outstanding
    if (last && this.isLive(last)) last.channel.ack(last.msg, true);
    const pending = this.toAck;
    this.toAck = [];
    for (const d of pending) {
      if (d.ackSent || !this.isLive(d)) continue;
      d.ackSent = true;
      d.channel.ack(d.msg, false);
    }
  }

  /** Stops new deliveries; unsettled ones can still be acked on the channel. */
  async cancel(): Promise<void> {
    this.stopped = true;
    this.conn.off('connect', this.onConnect);
    const ch = this.channel;
    if (ch && this.consumerTag) await ch.cancel(this.consumerTag).catch(() => undefined);
    this.consumerTag = null;
  }

  async close(): Promise<void> {
    this.flushAcks();
    await this.cancel();
    const ch = this.channel;
    this.channel = null;
    if (ch) await ch.close().catch(() => undefined);
  }
}
