/**
 * Consumes the shared queue with manual acks and a prefetch window, and sends
 * the ack and nack frames the delivery ledger decides on. Each delivery
 * remembers the channel it came on: a frame for a channel that died is never
 * sent (it would close the new channel with PRECONDITION_FAILED - unknown
 * delivery tag); the broker redelivers those messages instead.
 *
 * Acks are sent at the end of the tick the delivery was acked in: the acked
 * prefix (deliveries in tag order up to the first one still unacked) with one
 * `multiple` ack. An acked delivery beyond that prefix, while an earlier one
 * is still unacked, waits at most ACK_HOLD_MS for the prefix to reach it, and
 * is acked alone after that. With several bulks in flight a bulk is often
 * answered a few milliseconds before the one sent ahead of it: each of its
 * deliveries would be an ack frame of its own, a socket write here and an
 * ack for the broker's queue to handle, where a moment later one `multiple`
 * ack covers them all (docs/performance.md). Longer than that it is not held:
 * an ack held behind a delivery in retry would be redelivered after a crash
 * (its events written again, a 409 each), and fill the prefetch window. A
 * delivery with a dead-lettered event is never held: a redelivery would
 * dead-letter it a second time.
 */
import { ChannelKeeper, compactFifo, errorMessage, translateBrokerError, type Channel, type ConsumeMessage, type Logger } from '@logship/common';
import { type AckWire, type Delivery, newDelivery } from './delivery-ledger.js';
import { type HoldLimits, PrefetchWindow } from './prefetch-window.js';

/** What the consumer needs of the AMQP connection: channels, and its 'connect' event after a reconnection. */
export interface ChannelSource {
  createChannel(): Promise<Channel>;
  on(event: 'connect', listener: () => void): unknown;
  off(event: 'connect', listener: () => void): unknown;
}

/** Where deliveries go (the indexer hands them to the ledger and the processor). */
export interface DeliverySink {
  /** a message arrived: `d` is its delivery, `msg` its body and properties, to decode at once (`d` does not keep them) */
  receive(d: Delivery, msg: ConsumeMessage): void;
  /** a channel died: the broker requeued its unacked deliveries */
  channelClosed(channel: Channel): void;
}

export interface ConsumerOptions {
  queue: string;
  /** --prefetch: the most deliveries held unacked */
  prefetch: number;
  /** what the deliveries held may carry in all: the window shrinks for large messages (prefetch-window.ts); none: always --prefetch */
  hold?: HoldLimits;
  /** how long an ack beyond the acked prefix may wait for it (default ACK_HOLD_MS; 0: acked alone at the end of its tick) */
  ackHoldMs?: number;
  logger: Logger;
}

/**
 * How long an acked delivery beyond the acked prefix waits for the prefix to
 * reach it before it is acked alone. Measured at +0 ms (200k deliveries, four
 * bulks in flight): a bulk answered before the one ahead of it waited 1 to
 * 22 ms for it. No longer: the broker counts a held delivery in the prefetch
 * window until its ack is sent.
 */
export const ACK_HOLD_MS = 25;

/** amqplib answers a message by its fields.deliveryTag alone: the delivery's tag stands for the message */
function frameOf(d: Delivery): ConsumeMessage {
  return { fields: { deliveryTag: d.tag } } as ConsumeMessage;
}

export class Consumer implements AckWire {
  private readonly channels: ChannelKeeper<Channel>;
  private consumerTag: string | null = null;
  private readonly onConnect = () => void this.channels.open();
  /** deliveries of the live channel in delivery-tag order, until the acked prefix passes them */
  private outstanding: Delivery[] = [];
  private outstandingHead = 0;
  /** deliveries acked since the last flush */
  private toAck: Delivery[] = [];
  /** acked deliveries beyond the acked prefix, waiting for it (in the order they were acked), and until when */
  private held: Delivery[] = [];
  private heldUntil: number[] = [];
  private heldTimer: NodeJS.Timeout | null = null;
  private readonly ackHoldMs: number;
  /** close() began: nothing is held any more */
  private closing = false;
  /** deliveries beyond the acked prefix whose tag was acked on its own (never named again) */
  private ackedAlone = new Set<Delivery>();
  private flushScheduled = false;
  private readonly window: PrefetchWindow | null;
  /** a change of the prefetch window under way (consuming again) */
  private resizing: Promise<void> | null = null;
  /** the window that change asks for */
  private resizingTo: number | null = null;
  /**
   * The window should change, but deliveries came before the consumer's tag:
   * amqplib hands over the deliveries that follow consume-ok in the same read
   * before the tag reaches us. Once the tag is known the window changes;
   * otherwise a full first window would wait for its first bulk's answer.
   */
  private resizeWhenConsuming = false;
  /** the last fatal channel error (queue missing, access refused) */
  lastError: Error | null = null;

  constructor(
    private readonly conn: ChannelSource,
    private readonly options: ConsumerOptions,
    private readonly sink: DeliverySink,
  ) {
    this.channels = this.openKeeper();
    this.window = options.hold ? new PrefetchWindow(options.prefetch, options.hold) : null;
    this.ackHoldMs = options.ackHoldMs ?? ACK_HOLD_MS;
  }

  get connected(): boolean {
    return this.channels.channel !== null;
  }

  /**
   * The deliveries the broker may hand out before some are acked: while the
   * window changes, the new one. A full first window is then not cut into
   * small bulks for a window that is about to grow (they would take every
   * bulk slot while the next deliveries arrive).
   */
  get prefetch(): number {
    return this.resizingTo ?? this.appliedWindow;
  }

  /** the window the broker was last asked for on this channel */
  private get appliedWindow(): number {
    return this.window?.current ?? this.options.prefetch;
  }

  /**
   * A delivery of `events` events and `bytes` bytes was received: the
   * prefetch window follows the size of the messages (prefetch-window.ts).
   */
  measured(events: number, bytes: number): void {
    const next = this.window?.observe(events, bytes);
    if (next != null) this.resizeTo(next);
  }

  private resizeTo(next: number): void {
    if (this.resizing || !this.channels.keeping || !this.channels.channel) return;
    if (!this.consumerTag) {
      this.resizeWhenConsuming = true;
      return;
    }
    this.resizingTo = next;
    this.resizing = this.resize(this.channels.channel, this.consumerTag, next).finally(() => {
      this.resizing = null;
      this.resizingTo = null;
    });
  }

  /** consumes again on the same channel with a new prefetch; its unacked deliveries stay unacked */
  private async resize(channel: Channel, tag: string, prefetch: number): Promise<void> {
    const { queue, logger } = this.options;
    const from = this.appliedWindow;
    try {
      await channel.cancel(tag);
      if (this.consumerTag === tag) this.consumerTag = null;
      if (this.channels.channel !== channel || !this.channels.keeping) return;
      await channel.prefetch(prefetch);
      this.window!.applied(prefetch);
      const ok = await channel.consume(queue, (msg) => this.onMessage(channel, msg), { noAck: false });
      if (this.channels.channel !== channel || !this.channels.keeping) {
        await channel.cancel(ok.consumerTag).catch(() => undefined);
        return;
      }
      this.consumerTag = ok.consumerTag;
      logger.info({ queue, from, to: prefetch }, 'prefetch window resized to the size of the messages');
    } catch (err) {
      // the channel failed: its 'close' handler opens a new one
      logger.warn({ err: errorMessage(err) }, 'could not resize the prefetch window');
    }
  }

  async start(): Promise<void> {
    this.conn.on('connect', this.onConnect);
    await this.channels.open();
    if (!this.channels.channel && this.lastError) throw this.lastError;
  }

  private openKeeper(): ChannelKeeper<Channel> {
    const { queue, logger } = this.options;
    return new ChannelKeeper<Channel>({
      open: () => this.conn.createChannel(),
      errored: (err) => logger.warn({ err: errorMessage(err) }, 'consumer channel error'),
      ready: async (channel) => {
        // a tag of an earlier channel (cancelled by the broker) must never be cancelled on this one
        this.consumerTag = null;
        this.resizeWhenConsuming = false;
        const prefetch = this.appliedWindow;
        await channel.prefetch(prefetch);
        // the ack prefix is per channel: deliveries of an older channel can never be acked here
        this.outstanding = [];
        this.outstandingHead = 0;
        this.toAck = [];
        this.ackedAlone.clear();
        // acks held for a channel that died are never sent: the broker redelivers those messages
        this.held = [];
        this.heldUntil = [];
        const ok = await channel.consume(queue, (msg) => this.onMessage(channel, msg), { noAck: false });
        if (!this.channels.keeping || this.channels.channel !== channel) {
          // cancel() ran while consume-ok was on its way (it had no tag to cancel), or the channel
          // closed in the same read: its tag must not be kept, nor its error (lastError) forgotten
          await channel.cancel(ok.consumerTag).catch(() => undefined);
          return;
        }
        this.consumerTag = ok.consumerTag;
        this.lastError = null;
        logger.info({ queue, prefetch }, 'consuming');
        const next = this.resizeWhenConsuming ? this.window?.wanted() : null;
        this.resizeWhenConsuming = false;
        if (next != null) this.resizeTo(next);
      },
      closed: (channel, channelError, wasCurrent) => {
        // unacked deliveries of this channel go back to the queue
        if (wasCurrent) this.consumerTag = null;
        this.sink.channelClosed(channel);
        if (wasCurrent && channelError) this.lastError = translateBrokerError(channelError, { kind: 'queue', name: queue }, 'use');
        return undefined;
      },
      failed: (err) => {
        this.lastError = translateBrokerError(err, { kind: 'queue', name: queue }, 'use');
        logger.warn({ err: this.lastError.message }, 'cannot consume yet; retrying');
        return undefined;
      },
      reopenAfterCloseMs: 1000,
      retryAfterFailureMs: 2000,
    });
  }

  private onMessage(channel: Channel, msg: ConsumeMessage | null): void {
    if (msg === null) {
      this.options.logger.warn({ queue: this.options.queue }, 'the broker cancelled the consumer (queue deleted?); retrying');
      // closing the channel requeues its deliveries (the 'closed' hook tells the sink); another opens a second later
      this.channels.replace(channel);
      return;
    }
    const d = newDelivery(msg, channel);
    this.outstanding.push(d);
    this.sink.receive(d, msg);
  }

  isLive(d: Delivery): boolean {
    return d.channel === this.channels.channel;
  }

  sendAck(d: Delivery): void {
    if (!this.isLive(d)) return;
    this.toAck.push(d);
    this.scheduleFlush();
  }

  sendRequeue(d: Delivery): void {
    if (!this.isLive(d)) return;
    d.channel.nack(frameOf(d), false, true);
    // the acked prefix may now reach held acks
    if (this.held.length > 0) this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flushAcks());
  }

  /**
   * Sends one ack (multiple) for the prefix of outstanding deliveries that
   * are no longer unacked. Each acked delivery beyond that prefix is held
   * until ACK_HOLD_MS after it was acked (a later multiple ack may cover it),
   * then acked alone (not multiple); with a dead-lettered event, or when
   * `now` or closing, at once. Held acks still count against the broker's
   * prefetch window (not the ledger's unacked count) for at most that long.
   */
  flushAcks(now = this.closing): void {
    this.flushScheduled = false;
    const list = this.outstanding;
    let last: Delivery | null = null;
    while (this.outstandingHead < list.length && list[this.outstandingHead]!.state !== 'unacked') {
      const d = list[this.outstandingHead++]!;
      // a tag already acked on its own must not be named again (unknown delivery tag), nor a requeued one
      if (d.state === 'acked' && !this.ackedAlone.delete(d)) last = d;
    }
    ({ items: this.outstanding, head: this.outstandingHead } = compactFifo(list, this.outstandingHead));
    // acks every outstanding tag up to it (held ones too); the requeued and the already acked ones are no longer outstanding
    if (last && this.isLive(last)) last.channel.ack(frameOf(last), true);
    const head = this.outstanding[this.outstandingHead];
    // a monotonic clock: a wall clock stepped back would hold acks until the prefix came
    const at = performance.now();
    if (this.held.length > 0) {
      const held = this.held;
      const heldUntil = this.heldUntil;
      this.held = [];
      this.heldUntil = [];
      for (let i = 0; i < held.length; i++) this.ackBeyond(held[i]!, head, now || at >= heldUntil[i]!, heldUntil[i]!);
    }
    const pending = this.toAck;
    this.toAck = [];
    for (const d of pending) this.ackBeyond(d, head, now || d.deadLettered || this.ackHoldMs <= 0, at + this.ackHoldMs);
    if (this.held.length > 0 && this.heldTimer === null) {
      this.heldTimer = setTimeout(() => {
        this.heldTimer = null;
        this.flushAcks();
      }, this.heldUntil[0]! - at);
      this.heldTimer.unref();
    }
  }

  /** An acked delivery after the prefix moved: covered by it, acked alone (`alone`), or held until `until`. */
  private ackBeyond(d: Delivery, head: Delivery | undefined, alone: boolean, until: number): void {
    if (!this.isLive(d)) return;
    // covered by a multiple ack
    if (!head || d.tag < head.tag) return;
    if (!alone) {
      this.held.push(d);
      this.heldUntil.push(until);
      return;
    }
    this.ackedAlone.add(d);
    d.channel.ack(frameOf(d), false);
  }

  /** Stops new deliveries; unacked ones can still be acked on the channel. */
  async cancel(): Promise<void> {
    this.channels.stop();
    this.conn.off('connect', this.onConnect);
    await this.resizing;
    const ch = this.channels.channel;
    if (ch && this.consumerTag) await ch.cancel(this.consumerTag).catch(() => undefined);
    this.consumerTag = null;
  }

  async close(): Promise<void> {
    // held acks go now, and any decided from here on at once: the channel closes next
    this.closing = true;
    this.flushAcks(true);
    if (this.heldTimer) clearTimeout(this.heldTimer);
    this.heldTimer = null;
    await this.cancel();
    this.flushAcks(true);
    await this.channels.close();
  }
}
