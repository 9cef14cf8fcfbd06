/** Random topology names per test, and broker-side helpers. */
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';

export const AMQP_URL = process.env.LOGSHIP_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672/%2f';

export interface Names {
  exchange: string;
  queue: string;
  deadLetterExchange: string;
  deadLetterQueue: string;
  routingKey: string;
  /** Elasticsearch index pattern of this test, and the wildcard matching it */
  index: string;
  indexWildcard: string;
  /** LOGSHIP_* variables selecting these names */
  env: Record<string, string>;
}

export function randomNames(prefix = 't', amqpUrl = AMQP_URL): Names {
  const id = `${prefix}-${randomBytes(5).toString('hex')}`;
  const n = {
    exchange: `${id}.logs`,
    queue: `${id}.indexer`,
    deadLetterExchange: `${id}.dlx`,
    deadLetterQueue: `${id}.dead`,
    routingKey: 'logs',
    index: `${id}-logs-%{+yyyy.MM.dd}`,
    indexWildcard: `${id}-logs-*`,
  };
  return {
    ...n,
    env: {
      LOGSHIP_AMQP_URL: amqpUrl,
      LOGSHIP_EXCHANGE: n.exchange,
      LOGSHIP_QUEUE: n.queue,
      LOGSHIP_DEAD_LETTER_EXCHANGE: n.deadLetterExchange,
      LOGSHIP_DEAD_LETTER_QUEUE: n.deadLetterQueue,
      LOGSHIP_ROUTING_KEY: n.routingKey,
      LOGSHIP_INDEX: n.index,
      LOGSHIP_TEMPLATE_NAME: `${id}-template`,
    },
  };
}

export async function withChannel<T>(fn: (ch: amqp.Channel) => Promise<T>, url = AMQP_URL): Promise<T> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    return await fn(ch);
  } finally {
    await conn.close().catch(() => undefined);
  }
}

export async function queueDepth(queue: string, url = AMQP_URL): Promise<{ messageCount: number; consumerCount: number }> {
  return withChannel((ch) => ch.checkQueue(queue), url);
}

/** Deletes what a test declared; ignores what does not exist. */
export async function deleteTopology(n: Names, url = AMQP_URL): Promise<void> {
  const conn = await amqp.connect(url).catch(() => null);
  if (!conn) return;
  try {
    for (const q of [n.queue, n.deadLetterQueue]) {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      await ch.deleteQueue(q).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
    for (const x of [n.exchange, n.deadLetterExchange]) {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      await ch.deleteExchange(x).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** Takes every message out of a queue (consumed with noAck: they are gone from it afterwards). */
export async function drainQueue(queue: string, url = AMQP_URL): Promise<amqp.GetMessage[]> {
  return withChannel(async (ch) => {
    const out: amqp.GetMessage[] = [];
    for (;;) {
      const m = await ch.get(queue, { noAck: true });
      if (!m) return out;
      out.push(m);
    }
  }, url);
}
