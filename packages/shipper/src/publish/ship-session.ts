/**
 * One shipping run: the broker connection, the confirm window, the encoder
 * and the accounting every input shares (read, published, skipped, failed).
 * Inputs hand in events with an opaque `meta`; the session hands every meta
 * back once its event is settled, so file inputs can advance checkpoints.
 */
import {
  ErrorCodes,
  LogshipError,
  connectRecovering,
  createShipperMetrics,
  requireExchange,
  type Config,
  type Logger,
  type RecoveringChannelModel,
  type Registry,
  type ShipperMetrics,
} from '@logship/common';
import { MessageEncoder } from './message-encoder.js';
import type { EventFactory, SerializedEvent } from '../events/event-factory.js';
import type { EventWriter } from '../events/event-writer.js';
import type { OutgoingMessage, Outcome } from './confirm-window.js';
import { Publisher, type PublisherOptions } from './publisher.js';

export interface ShipSummary {
  read: number;
  published: number;
  skipped: number;
  failed: number;
  truncated: number;
  unroutable: number;
  jsonFailures: number;
}

/** Events read that the broker has not confirmed (failed, unroutable, in flight, or never sent). */
export function notDelivered(s: ShipSummary): number {
  return s.read - s.skipped - s.published;
}

/** The summary line of a run; it names what was not delivered when something was not. */
export function formatSummary(s: ShipSummary): string {
  const missing = notDelivered(s);
  return (
    `logship ship: read ${s.read}, published ${s.published}, skipped ${s.skipped}, failed ${s.failed}` +
    ` (truncated ${s.truncated}, unroutable ${s.unroutable}, json failures ${s.jsonFailures})` +
    (missing > 0 ? `; ${missing} events read were not delivered` : '')
  );
}

/** The publisher's options from the configuration: both bounds of the confirm window, the nack budget. */
export function publisherOptions(config: Config, logger: Logger): PublisherOptions {
  return {
    exchange: config.exchange,
    routingKey: config.routingKey,
    maxInflight: config.maxInflight,
    maxInflightBytes: config.maxInflightBytes,
    nackBudgetMs: config.nackTimeout,
    logger,
  };
}

export interface SessionOptions<M> {
  config: Config;
  logger: Logger;
  registry: Registry;
  /** called for every meta handed in (after mergeMeta) once the broker settled its message */
  onSettled?: (meta: M, outcome: Outcome) => void;
  /**
   * Folds an event's meta into the meta of the event before it in the same
   * message (they are settled together, with one outcome); returns false to
   * keep both. With 100 events per message, one meta per message instead of
   * one per event stays alive until the confirm (docs/performance.md).
   */
  mergeMeta?: (prev: M, next: M) => boolean;
}

export class ShipSession<M = undefined> {
  readonly summary: ShipSummary = { read: 0, published: 0, skipped: 0, failed: 0, truncated: 0, unroutable: 0, jsonFailures: 0 };
  readonly metrics: ShipperMetrics;
  private conn: RecoveringChannelModel | null = null;
  private publisher: Publisher<M[]> | null = null;
  private encoder: MessageEncoder<M>;
  private timer: NodeJS.Timeout | null = null;
  private error: LogshipError | null = null;
  /** events handed to the encoder: read - skipped - submitted never reached the publisher */
  private submitted = 0;
  /** when the broker last settled a message, or publishing started after an idle window */
  private lastProgressAt = Date.now();

  constructor(private readonly options: SessionOptions<M>) {
    this.metrics = createShipperMetrics(options.registry);
    this.encoder = new MessageEncoder<M>(options.config.eventsPerMessage, options.mergeMeta);
  }

  /** The error that stops this run (unroutable, refused, not confirmed), if any. */
  get failure(): LogshipError | null {
    return this.error ?? this.publisher?.failure ?? null;
  }

  /** the RabbitMQ node in use (password masked), null while none is connected */
  get amqpNode(): string | null {
    return this.conn?.node ?? null;
  }

  /**
   * How long messages have waited without the broker settling any (0 when none
   * wait): a cluster without a majority for the queue, or a lost connection.
   */
  get unconfirmedForMs(): number {
    return this.inflight > 0 ? Date.now() - this.lastProgressAt : 0;
  }

  get blocked(): boolean {
    return this.publisher?.blocked ?? false;
  }

  get inflight(): number {
    return this.publisher?.inflight ?? 0;
  }

  async open(): Promise<void> {
    const { config, logger } = this.options;
    const conn = await connectRecovering(config, { role: 'shipper', logger, registry: this.options.registry });
    this.conn = conn;
    const publisher = new Publisher<M[]>(conn, publisherOptions(config, logger));
    this.publisher = publisher;
    publisher.on('settled', (msg: OutgoingMessage<M[]>, outcome: Outcome, error?: Error) => this.onSettled(msg, outcome, error));
    publisher.on('publish-error', () => this.metrics.publishErrors.inc());
    publisher.on('blocked', () => this.metrics.blocked.set(1));
    publisher.on('unblocked', () => this.metrics.blocked.set(0));
    try {
      await requireExchange(conn, config.exchange);
      await publisher.start();
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  private onSettled(msg: OutgoingMessage<M[]>, outcome: Outcome, error?: Error): void {
    this.metrics.inflight.dec(msg.events);
    this.lastProgressAt = Date.now();
    if (outcome === 'confirmed') {
      this.summary.published += msg.events;
      this.metrics.eventsPublished.inc(msg.events);
    } else if (outcome === 'unroutable') {
      this.summary.unroutable += msg.events;
      this.metrics.eventsUnroutable.inc(msg.events);
      this.error ??= this.unroutableError();
    } else {
      this.summary.failed += msg.events;
      this.error ??=
        this.publisher?.failure ??
        (error instanceof LogshipError
          ? error
          : new LogshipError(ErrorCodes.NOT_CONFIRMED, `the broker did not confirm some events${error ? `: ${error.message}` : ''}`));
    }
    const onSettled = this.options.onSettled;
    if (onSettled && msg.meta) for (const m of msg.meta) onSettled(m, outcome);
  }

  private unroutableError(): LogshipError {
    const c = this.options.config;
    return new LogshipError(
      ErrorCodes.UNROUTABLE,
      `the broker returned events as unroutable: no queue is bound to exchange "${c.exchange}" with routing key "${c.routingKey}"`,
      { hint: 'run "logship bootstrap" first (it declares and binds the queue), or fix --routing-key; returned events were not counted as shipped' },
    );
  }

  /** Counts an event read from an input (an empty line counts, then is skipped). */
  countRead(): void {
    this.summary.read++;
    this.metrics.eventsRead.inc();
  }

  countSkipped(): void {
    this.summary.skipped++;
    this.metrics.eventsSkipped.inc();
  }

  countTruncated(): void {
    this.summary.truncated++;
    this.metrics.eventsTruncated.inc();
  }

  /**
   * Counts a line (or joined event) read from an input, the one way every
   * input does: read; an empty one skipped; a truncated one counted.
   * Returns false when it is empty and so not to be submitted.
   */
  countLine(empty: boolean, truncated: boolean): boolean {
    this.countRead();
    if (empty) {
      this.countSkipped();
      return false;
    }
    if (truncated) this.countTruncated();
    return true;
  }

  /**
   * Sends an event. Returns a promise only when the caller must wait (the
   * confirm window is full, or the broker blocks publishing), so the common
   * path costs no promise per event.
   */
  submit(event: SerializedEvent, meta: M): Promise<void> | undefined {
    this.submitted++;
    if (event.jsonFailure) this.summary.jsonFailures++;
    return this.enqueue(this.encoder.add(event, meta));
  }

  /**
   * Sends the plain event of input line src[start, end) with sequence number
   * n, written from its bytes by `writer`; a line that is not valid UTF-8
   * goes through `factory` instead. Returns a promise like submit().
   */
  submitLine(
    writer: EventWriter,
    factory: EventFactory,
    src: Buffer,
    start: number,
    end: number,
    n: number,
    truncated: boolean,
    meta: M,
  ): Promise<void> | undefined {
    const msg = this.encoder.addLine(writer, src, start, end, n, truncated, meta);
    if (msg === null) return this.submit(factory.make(src.toString('utf8', start, end), n, truncated), meta);
    this.submitted++;
    return this.enqueue(msg);
  }

  private enqueue(msg: OutgoingMessage<M[]> | undefined): Promise<void> | undefined {
    if (msg) {
      const publisher = this.publisher!;
      if (publisher.hasRoom()) this.send(msg);
      else return publisher.ready().then(() => this.send(msg));
    } else if (this.timer === null && this.encoder.size > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.send(this.encoder.flush());
      }, this.options.config.flushInterval);
    }
  }

  private send(msg: OutgoingMessage<M[]> | undefined): void {
    if (!msg || this.publisher?.failure) return;
    if (this.inflight === 0) this.lastProgressAt = Date.now();
    this.metrics.inflight.inc(msg.events);
    this.publisher!.send(msg);
  }

  /** Sends the partial message and waits until every event is settled. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.send(this.encoder.flush());
    await this.publisher?.idle();
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.publisher?.close();
    await this.conn?.close().catch(() => undefined);
  }

  /**
   * Throws when something read was not delivered (after flush()), naming the
   * cause: the broker's (unroutable, refused, not confirmed) or a local one
   * (events read that never reached the publisher because an input failed).
   */
  assertDelivered(stopped: boolean): void {
    const s = this.summary;
    const missing = notDelivered(s);
    const failure = this.failure;
    if (failure) {
      const how = `${missing} of ${s.read - s.skipped} events read were not delivered`;
      throw new LogshipError(failure.code, `${failure.message}; ${how}`, { ...(failure.hint ? { hint: failure.hint } : {}), cause: failure });
    }
    if (missing <= 0 || stopped) return;
    const unsent = s.read - s.skipped - this.submitted;
    if (unsent > 0) {
      throw new LogshipError(ErrorCodes.INPUT, `${unsent} events were read but never sent: their input failed before handing them to the broker`, {
        hint: 'see the input error reported above',
      });
    }
    throw new LogshipError(ErrorCodes.NOT_CONFIRMED, `${missing} events were sent but not confirmed by the broker`);
  }
}
