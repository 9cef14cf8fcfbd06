/**
 * Messages from other publishers than logship, through real client libraries:
 * node-amqp (the `amqp` package, which bunyan-logstash-amqp publishes with)
 * sends a string body as application/octet-stream, and Logstash's rabbitmq
 * input parses such a JSON body as JSON; so must the indexer.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import zlib from 'node:zlib';
import { before, describe, it } from 'node:test';
import { AMQP_URL, queueDepth, withChannel, type Names } from '../helpers/amqp.js';
import { bootstrap } from '../helpers/pipeline.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

/** The part of node-amqp's API that bunyan-logstash-amqp uses (the package ships no types). */
interface NodeAmqpExchange {
  publish(routingKey: string, body: string | Buffer, options?: Record<string, unknown>): void;
}
interface NodeAmqpConnection {
  on(event: 'ready' | 'close', cb: () => void): void;
  on(event: 'error', cb: (err: Error) => void): void;
  exchange(name: string, options: Record<string, unknown>, cb: (exchange: NodeAmqpExchange) => void): void;
  disconnect(): void;
}
const nodeAmqp = createRequire(import.meta.url)('amqp') as {
  createConnection(options: Record<string, unknown>, implOptions: Record<string, unknown>): NodeAmqpConnection;
};

/** Publishes string bodies with node-amqp, as bunyan-logstash-amqp does: exchange.publish(key, JSON.stringify(entry)). */
function publishWithNodeAmqp(exchange: string, routingKey: string, bodies: string[]): Promise<void> {
  const url = new URL(AMQP_URL);
  const conn = nodeAmqp.createConnection(
    {
      host: url.hostname,
      port: Number(url.port || 5672),
      login: decodeURIComponent(url.username || 'guest'),
      password: decodeURIComponent(url.password || 'guest'),
      vhost: decodeURIComponent(url.pathname.slice(1)) || '/',
    },
    { reconnect: false },
  );
  return new Promise<void>((resolve, reject) => {
    conn.on('error', reject);
    conn.on('close', () => resolve());
    conn.on('ready', () => {
      // passive: the exchange is logship's, declared by bootstrap
      conn.exchange(exchange, { passive: true }, (ex) => {
        for (const b of bodies) ex.publish(routingKey, b);
        conn.disconnect();
      });
    });
  });
}

describe('messages from foreign publishers', () => {
  const pipe = usePipeline();
  const es = pipe.es;
  let n: Names;
  before(async () => {
    const topology = pipe.topology(pipe.block, 'foreignlib');
    n = topology.n;
    await bootstrap(topology.env);
    await pipe.startIndexer(pipe.block, topology.env, ['--flush-interval', '100ms']);
  });

  it('a JSON log object published by node-amqp (bunyan-logstash-amqp) as application/octet-stream keeps its @timestamp and fields', async () => {
    // the Logstash-format entry bunyan-logstash-amqp builds from a bunyan record
    const entry = {
      '@timestamp': '2026-07-08T09:10:11.123Z',
      message: 'user logged in',
      tags: ['bunyan'],
      source: 'web-01/app',
      level: 'info',
      pid: 4242,
      user: { id: 'u-17' },
    };
    await publishWithNodeAmqp(n.exchange, n.routingKey, [JSON.stringify(entry)]);
    const doc = await waitFor('the bunyan document', async () => (await es.all(n.indexWildcard)).find((d) => d.source.message === 'user logged in'), 30_000);
    assert.equal(doc.source['@timestamp'], entry['@timestamp'], 'the event keeps its own @timestamp');
    assert.deepEqual(doc.source.user, { id: 'u-17' });
    assert.equal(doc.source.level, 'info');
    assert.equal(doc.source.pid, 4242);
    assert.deepEqual(doc.source.tags, ['bunyan']);
    if (es.double) assert.ok(es.double.docs(n.indexWildcard.replace('*', '2026.07.08')).length >= 1, 'indexed under the day of its @timestamp');
  });

  it('a gzip-encoded JSON body (content_encoding gzip) is inflated and indexed with its fields', async () => {
    const entry = { '@timestamp': '2026-07-09T00:00:00.000Z', message: 'compressed by the publisher', service: 'billing' };
    await withChannel(async (ch) => {
      ch.publish(n.exchange, n.routingKey, zlib.gzipSync(JSON.stringify(entry)), {
        persistent: true,
        contentType: 'application/json',
        contentEncoding: 'gzip',
      });
      await ch.close();
    });
    const doc = await waitFor(
      'the inflated document',
      async () => (await es.all(n.indexWildcard)).find((d) => d.source.message === 'compressed by the publisher'),
      30_000,
    );
    assert.equal(doc.source['@timestamp'], entry['@timestamp']);
    assert.equal(doc.source.service, 'billing');
    await waitFor('the queue to be empty', async () => (await queueDepth(n.queue)).messageCount === 0, 10_000);
    assert.equal((await queueDepth(n.deadLetterQueue)).messageCount, 0, 'nothing dead-lettered');
  });
});
