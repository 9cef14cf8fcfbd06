/**
 * `logship index`: consume, decode, batch, write, ack. Shutdown is ordered:
 * stop intake (cancel the consumer), write what is held until no delivery is
 * unacked (bounded by --shutdown-timeout in the caller), then close the
 * channels and output.
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
import { Consumer } from './consume/consumer.js';
import { DeadLetterPublisher } from './outputs/dead-letter.js';
import { decodeDelivery } from './decode/decode.js';
import { DeliveryLedger } from './consume/delivery-ledger.js';
import { holdFor } from './consume/prefetch-window.js';
import { FileOutput, StreamOutput } from './outputs/ndjson.js';
import type { Output } from './outputs/output.js';
import { BatchProcessor } from './batch/processor.js';

export interface IndexerOptions {
  config: Config;
  logger: Logger;
  registry: Registry;
}

/**
 * The official Elasticsearch client is the largest module the indexer runs
 * (1.9 MB bundled, apache-arrow left out; tens of ms to compile and run). It is imported only
 * for --output elasticsearch, and start() begins the import before it
 * connects to the broker: the file is read while the command starts, and
 * compiled while the broker answers. The indexer consumes about 50 ms sooner
 * than with a static import (docs/performance.md).
 */
function loadElasticsearch() {
  return import('./outputs/elasticsearch.js');
}

/** The output --output names, ready to write (a file:PATH is open). */
export async function createOutput(config: Config, logger: Logger): Promise<Output> {
  if (config.output === 'stdout') return new StreamOutput(process.stdout);
  if (config.output.startsWith('file:')) {
    const file = new FileOutput(config.output.slice('file:'.length));
    await file.open();
    return file;
  }
  const { createElasticsearchOutput } = await loadElasticsearch();
  return createElasticsearchOutput(config, logger);
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
    // loads while the broker connects; a failure is reported by createOutput below, after the broker's own errors
    if (config.output === 'elasticsearch') void loadElasticsearch().catch(() => undefined);
    const conn = await connectRecovering(config, { role: 'indexer', logger, registry: this.options.registry });
    this.conn = conn;
    this.amqpConnected = true;
    conn.on('connect', () => (this.amqpConnected = true));
    conn.on('disconnect', () => (this.amqpConnected = false));
    await requireQueue(conn, config.queue);

    const namer = namerFor(config); // --data-stream, else --index
    this.output = await createOutput(config, logger);
    this.deadLetters = new DeadLetterPublisher(conn, config.deadLetterExchange, config.routingKey, logger, config.deadLetterQueue);
    const consumer = new Consumer(
      conn,
      { queue: config.queue, prefetch: config.prefetch, hold: holdFor(config), logger },
      {
        receive: (d, msg) => {
          const decoded = decodeDelivery(msg, namer);
          processor.add(d, decoded);
          consumer.measured(decoded.docs.length + decoded.poison.length, msg.content.length);
        },
        channelClosed: (channel) => ledger.channelClosed(channel),
      },
    );
    const ledger = new DeliveryLedger(consumer, this.metrics, logger);
    const processor = new BatchProcessor({
      output: this.output,
      deadLetters: this.deadLetters,
      ledger,
      metrics: this.metrics,
      logger,
      batchSize: config.batchSize,
      batchBytes: config.batchBytes,
      flushIntervalMs: config.flushInterval,
      retryBackoffMs: config.retryBackoff,
      retryMaxBackoffMs: config.retryMaxBackoff,
      retryTimeoutMs: config.retryTimeout,
      bulkConcurrency: config.bulkConcurrency,
      prefetch: () => consumer.prefetch,
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
      amqp: {
        connected: this.amqpConnected,
        node: this.conn?.node ?? null,
        consuming: this.consumer?.connected ?? false,
        queue: this.options.config.queue,
      },
      output: {
        name: this.output?.name ?? 'none',
        reachable: outputOk,
        // Elasticsearch nodes, masked, and whether the client sends them requests (a dead one is skipped)
        ...(this.output?.nodes ? { nodes: this.output.nodes() } : {}),
        lastSuccessfulBulk: p?.lastSuccessAt ? new Date(p.lastSuccessAt).toISOString() : null,
        // the current problem (null once recovered), and when the last one happened
        lastError: p?.lastError ?? null,
        lastErrorAt: p?.lastErrorAt ? new Date(p.lastErrorAt).toISOString() : null,
      },
      deadLetters: { exchange: this.options.config.deadLetterExchange, failing: p?.deadLetterFailing ?? 0 },
      inflight: {
        unackedDeliveries: p?.unackedDeliveries ?? 0,
        queuedEvents: p?.queued ?? 0,
        retryingEvents: p?.retrying ?? 0,
      },
    };
  }

  /** Stop consuming, write what is held until no delivery is unacked (acked or requeued), close. */
  async drain(): Promise<void> {
    const { logger } = this.options;
    await this.consumer?.cancel();
    logger.info({ unacked: this.processor?.unackedDeliveries ?? 0 }, 'consumer cancelled; writing what unacked deliveries hold');
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
