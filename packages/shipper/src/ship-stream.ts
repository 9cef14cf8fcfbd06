/**
 * `logship ship` for a stream (stdin): read lines, turn them into events,
 * publish through the confirm window, and account for every line.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  ErrorCodes,
  LogshipError,
  connectRecovering,
  createShipperMetrics,
  eventId,
  requireExchange,
  type Config,
  type Logger,
  type Registry,
  type ShipperMetrics,
} from '@logship/common';
import { decodeLine } from './codec.js';
import { MessageEncoder } from './encoder.js';
import { lineStream } from './line-source.js';
import { Publisher, type OutgoingMessage } from './publisher.js';

export interface ShipSummary {
  read: number;
  published: number;
  skipped: number;
  failed: number;
  truncated: number;
  unroutable: number;
  jsonFailures: number;
}

export interface ShipStreamOptions {
  config: Config;
  input: Readable;
  logger: Logger;
  registry: Registry;
  /** label of the input in logs and log.file.path-less events */
  inputType?: string;
}

export function formatSummary(s: ShipSummary): string {
  return (
    `logship ship: read ${s.read}, published ${s.published}, skipped ${s.skipped}, failed ${s.failed}` +
    ` (truncated ${s.truncated}, unroutable ${s.unroutable}, json failures ${s.jsonFailures})`
  );
}

export class StreamShipper {
  readonly summary: ShipSummary = { read: 0, published: 0, skipped: 0, failed: 0, truncated: 0, unroutable: 0, jsonFailures: 0 };
  readonly metrics: ShipperMetrics;
  private stopRequested = false;
  private stopError: LogshipError | null = null;
  private readonly runId = randomUUID();
  private lines: Readable | null = null;

  constructor(private readonly options: ShipStreamOptions) {
    this.metrics = createShipperMetrics(options.registry);
  }

  /** Stop reading input; what was read is still confirmed before run() returns. */
  stop(): void {
    this.stopRequested = true;
    // the read loop may wait on input that never comes: end it
    this.lines?.destroy();
  }

  private unroutableError(): LogshipError {
    const c = this.options.config;
    return new LogshipError(
      ErrorCodes.UNROUTABLE,
      `the broker returned events as unroutable: no queue is bound to exchange "${c.exchange}" with routing key "${c.routingKey}"`,
      { hint: 'run "logship bootstrap" first (it declares and binds the queue), or fix --routing-key; returned events were not counted as shipped' },
    );
  }

  /** Runs until EOF (or stop()); resolves with the summary, throws when something was not delivered. */
  async run(): Promise<ShipSummary> {
    const { config, logger } = this.options;
    const conn = await connectRecovering(config.amqpUrl, { role: 'shipper', logger });
    const publisher = new Publisher<number[]>(conn, {
      exchange: config.exchange,
      routingKey: config.routingKey,
      maxInflight: config.maxInflight,
      logger,
    });
    publisher.on('settled', (msg: OutgoingMessage<number[]>, outcome) => {
      this.metrics.inflight.dec(msg.events);
      if (outcome === 'confirmed') {
        this.summary.published += msg.events;
        this.metrics.eventsPublished.inc(msg.events);
      } else if (outcome === 'unroutable') {
        this.summary.unroutable += msg.events;
        this.metrics.eventsUnroutable.inc(msg.events);
        if (!this.stopError) this.stopError = this.unroutableError();
      } else {
        this.summary.failed += msg.events;
        if (!this.stopError) this.stopError = publisher.failure ?? new LogshipError(ErrorCodes.NOT_CONFIRMED, 'the broker did not confirm some events');
      }
    });
    publisher.on('publish-error', () => this.metrics.publishErrors.inc());
    publisher.on('blocked', () => this.metrics.blocked.set(1));
    publisher.on('unblocked', () => this.metrics.blocked.set(0));

    try {
      await requireExchange(conn, config.exchange);
      await publisher.start();
      await this.pump(publisher);
      await publisher.idle();
    } finally {
      await publisher.close();
      await conn.close().catch(() => undefined);
    }
    const s = this.summary;
    const notDelivered = s.read - s.skipped - s.published;
    if (this.stopError) throw this.stopError;
    if (notDelivered > 0 && !this.stopRequested) {
      throw new LogshipError(ErrorCodes.NOT_CONFIRMED, `${notDelivered} events were read but not confirmed by the broker`);
    }
    return s;
  }

  private async pump(publisher: Publisher<number[]>): Promise<void> {
    const { config, input } = this.options;
    const encoder = new MessageEncoder<number>(config.eventsPerMessage);
    const inputType = this.options.inputType ?? 'stdin';
    let timer: NodeJS.Timeout | null = null;
    const send = (msg: OutgoingMessage<number[]> | undefined) => {
      if (!msg) return;
      this.metrics.inflight.inc(msg.events);
      publisher.send(msg);
    };
    const lines = lineStream(input, { maxLineBytes: config.maxLineBytes });
    this.lines = lines;
    try {
      for await (const line of lines as AsyncIterable<{ index: number; text: string; truncated: boolean }>) {
        this.summary.read++;
        this.metrics.eventsRead.inc();
        if (line.text === '') {
          this.summary.skipped++;
          this.metrics.eventsSkipped.inc();
        } else {
          if (line.truncated) {
            this.summary.truncated++;
            this.metrics.eventsTruncated.inc();
          }
          const event = decodeLine(line.text, config.codec, {
            id: eventId(config.hostName, this.runId, line.index),
            hostName: config.hostName,
            inputType,
            truncated: line.truncated,
          });
          if (event.tags.includes('_jsonparsefailure')) this.summary.jsonFailures++;
          const msg = encoder.add(event, line.index);
          if (msg) {
            await publisher.ready();
            send(msg);
          } else if (timer === null && encoder.size > 0) {
            timer = setTimeout(() => {
              timer = null;
              send(encoder.flush());
            }, config.flushInterval);
          }
        }
        if (this.stopRequested || this.stopError || publisher.failure) break;
      }
    } catch (err) {
      if (!this.stopRequested) {
        throw new LogshipError(ErrorCodes.INPUT, `reading ${inputType} failed: ${(err as Error).message}`, { cause: err });
      }
    } finally {
      if (timer) clearTimeout(timer);
      if (!publisher.failure) send(encoder.flush());
    }
  }
}
