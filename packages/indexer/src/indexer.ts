/**
 * `logship index`: consume, decode, batch, write, settle. Shutdown is ordered:
 * stop intake (cancel the consumer), flush and settle every delivery (bounded
 * by --shutdown-timeout in the caller), then close the channels and output.
 */
import {
  connectRecovering,
  namerFor,
  createIndexerMetrics,
  errorMessage,
  requireQueue,
  type Config,
  type Health,
  type IndexerMetrics,
  type Logger,
  type RecoveringChannelModel,
  type Registry,
} from '@logship/common';
import { createEsClient } from '@logship/common/elasticsearch';
import { Consumer, type Delivery } from './consumer.js';
import { DeadLetterPublisher } from './dead-letter.js';
import { decodeDelivery } from './decode.js';
import { ElasticsearchOutput } from './outputs/elasticsearch.js';
import { FileOutput, StreamOutput } from './outputs/ndjson.js';
import type { Output } from './outputs/output.js';
import { BatchProcessor } from './processor.js';

export interface IndexerOptions {
  config: Config;
  logger: Logger;
  registry: Registry;
}

export function createOutput(config: Config): Output {
  if (config.output === 'stdout') return new StreamOutput(process.stdout);
  if (config.output.startsWith('file:')) return new FileOutput(config.output.slice('file:'.length));
  return new ElasticsearchOutput(createEsClient(config), config.pipeline);
}

export class Indexer {
  readonly metrics: IndexerMetrics;
  private conn: RecoveringChannelModel | null = null;
  private consumer: Consumer | null = null;
  private processor: BatchProcessor | null = null;
  private deadLetters: DeadLetterPublisher | null = null;
  private output: Output | null = null;
  private amqpConnected = false;

  constructor(private readonly options: IndexerOptions) {
    this.metrics = createIndexerMetrics(options.registry);
  }

  async start(): Promise<void> {
    const { config, logger } = this.options;
    const conn = await connectRecovering(config, { role: 'indexer', logger });
    this.conn = conn;
    this.amqpConnected = true;
    conn.on('connect', () => (this.amqpConnected = true));
    conn.on('disconnect', () => (this.amqpConnected = false));
    await requireQueue(conn, config.queue);

    const namer = namerFor(config); // --data-stream, else --index
    this.output = createOutput(config);
    if (this.output instanceof FileOutput) await this.output.open();
    this.deadLetters = new DeadLetterPublisher(conn, config.deadLetterExchange, config.routingKey, logger, config.deadLetterQueue);
    const consumer = new Consumer(conn, { queue: config.queue, prefetch: config.prefetch, logger }, (d: Delivery) => {
      processor.add(d, decodeDelivery(d.msg, namer));
    });
    const processor = new BatchProcessor({
      output: this.output,
      deadLetters: this.deadLetters,
      settler: consumer,
      metrics: this.metrics,
      logger,
      batchSize: config.batchSize,
      batchBytes: config.batchBytes,
      flushIntervalMs: config.flushInterval,
      retryBackoffMs: config.retryBackoff,
      retryMaxBackoffMs: config.retryMaxBackoff,
      retryTimeoutMs: config.retryTimeout,
    });
    this.consumer = consumer;
    this.processor = processor;
    processor.start();
    await consumer.start();
    logger.info({ queue: config.queue, output: this.output.name }, 'indexer started');
  }

  health(): Health {
    const p = this.processor;
    const outputOk = this.output?.reachable ?? false;
    const amqp = this.amqpConnected && (this.consumer?.connected ?? false);
    // degraded while writes are retried or dead letters are not taken by the broker
    const status = !amqp ? 'down' : !outputOk || (p?.retrying ?? 0) > 0 || (p?.deadLetterFailing ?? 0) > 0 ? 'degraded' : 'ok';
    return {
      status,
      amqp: { connected: this.amqpConnected, consuming: this.consumer?.connected ?? false, queue: this.options.config.queue },
      output: {
        name: this.output?.name ?? 'none',
        reachable: outputOk,
        lastSuccessfulBulk: p?.lastSuccessAt ? new Date(p.lastSuccessAt).toISOString() : null,
        // the current problem (null once recovered), and when the last one happened
        lastError: p?.lastError ?? null,
        lastErrorAt: p?.lastErrorAt ? new Date(p.lastErrorAt).toISOString() : null,
      },
      deadLetters: { exchange: this.options.config.deadLetterExchange, failing: p?.deadLetterFailing ?? 0 },
      inflight: {
        unackedDeliveries: p?.unsettledDeliveries ?? 0,
        queuedEvents: p?.queued ?? 0,
        retryingEvents: p?.retrying ?? 0,
      },
    };
  }

  /** Stop consuming, write and settle everything held, close. */
  async drain(): Promise<void> {
    const { logger } = this.options;
    await this.consumer?.cancel();
    logger.info({ unacked: this.processor?.unsettledDeliveries ?? 0 }, 'consumer cancelled; settling held deliveries');
    await this.processor?.drain();
    await this.close();
  }

  async close(): Promise<void> {
    await this.processor?.stop();
    await this.consumer?.close();
    await this.deadLetters?.close();
    await this.output?.close().catch((err: unknown) => this.options.logger.warn({ err: errorMessage(err) }, 'closing output failed'));
    await this.conn?.close().catch(() => undefined);
  }
}
