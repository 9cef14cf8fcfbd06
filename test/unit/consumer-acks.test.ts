/**
 * Prompt acks: a settled delivery is acked even while an earlier one waits in
 * retry (issue: acks held behind a retried delivery were redelivered after a
 * kill -9, and their events dead-lettered twice). A fake channel plays the
 * broker's side of basic.ack, including its "unknown delivery tag" rule.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createIndexerMetrics, createLogger, createRegistry, type RecoveringChannelModel } from '@logship/common';
import { BatchProcessor, Consumer, type DeadLetterPublisher, type Delivery, type Document, type ItemOutcome, type Output } from '@logship/indexer';
import { waitFor } from '../helpers/wait.js';

type OnMessage = (msg: unknown) => void;

/** The broker's view of one channel: unacked tags, and the acks that named a tag it did not know. */
class FakeChannel extends EventEmitter {
  readonly unacked = new Set<number>();
  readonly errors: string[] = [];
  readonly frames: Array<{ tag: number; multiple: boolean; kind: 'ack' | 'nack' }> = [];
  /** how the broker settled each tag: the frame that removed it (an ack or a nack, with its requeue flag) */
  readonly settledAs = new Map<number, { kind: 'ack' | 'nack'; requeue?: boolean }>();
  private onMessage: OnMessage | null = null;
  private tag = 0;
  async prefetch() {}
  async consume(_queue: string, onMessage: OnMessage) {
    this.onMessage = onMessage;
    return { consumerTag: 'c1' };
  }
  async cancel() {}
  async close() {}
  deliver(): number {
    const deliveryTag = ++this.tag;
    this.unacked.add(deliveryTag);
    this.onMessage!({ fields: { deliveryTag }, properties: {}, content: Buffer.alloc(0) });
    return deliveryTag;
  }
  private settle(msg: { fields: { deliveryTag: number } }, multiple: boolean, kind: 'ack' | 'nack', requeue?: boolean) {
    const tag = msg.fields.deliveryTag;
    this.frames.push({ tag, multiple, kind });
    if (!this.unacked.has(tag)) this.errors.push(`PRECONDITION_FAILED - unknown delivery tag ${tag}`);
    const as = kind === 'ack' ? { kind } : { kind, requeue };
    const covered = multiple ? [...this.unacked].filter((t) => t <= tag) : this.unacked.has(tag) ? [tag] : [];
    for (const t of covered) {
      this.unacked.delete(t);
      this.settledAs.set(t, as);
    }
  }
  ack(msg: { fields: { deliveryTag: number } }, multiple = false) {
    this.settle(msg, multiple, 'ack');
  }
  nack(msg: { fields: { deliveryTag: number } }, multiple = false, requeue = true) {
    this.settle(msg, multiple, 'nack', requeue);
  }
}

async function startConsumer(onDelivery: (d: Delivery) => void) {
  const ch = new FakeChannel();
  const conn = Object.assign(new EventEmitter(), { createChannel: async () => ch }) as unknown as RecoveringChannelModel;
  const consumer = new Consumer(conn, { queue: 'q', prefetch: 100, logger: createLogger({ level: 'silent' }) }, onDelivery);
  await consumer.start();
  return { ch, consumer };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('prompt acks', () => {
  it('deliveries settled behind one that waits in 429 retry are acked before it settles', async () => {
    let release = false;
    const output: Output = {
      name: 'scripted',
      reachable: true,
      async write(docs: readonly Document[]): Promise<ItemOutcome[]> {
        return docs.map((d) => (d.id === 'e1' && !release ? { kind: 'retry', status: 429, reason: 'es_rejected_execution_exception' } : { kind: 'ok' }));
      },
      async close() {},
    };
    let processor: BatchProcessor | null = null;
    const { ch, consumer } = await startConsumer((d) => {
      const id = `e${d.msg.fields.deliveryTag}`;
      processor!.add(d, { docs: [{ id, source: JSON.stringify({ id }), index: 'i' }], poison: [] });
    });
    processor = new BatchProcessor({
      output,
      deadLetters: {} as DeadLetterPublisher,
      settler: consumer,
      metrics: createIndexerMetrics(createRegistry(false)),
      logger: createLogger({ level: 'silent' }),
      batchSize: 100,
      batchBytes: 1024 * 1024,
      flushIntervalMs: 5,
      retryBackoffMs: 5,
      retryMaxBackoffMs: 20,
      retryTimeoutMs: 60_000,
    });
    processor.start();
    for (let i = 0; i < 10; i++) ch.deliver();
    await waitFor('deliveries 2..10 acked while 1 waits', () => ch.unacked.size === 1 && ch.unacked.has(1), 5_000, 2);
    assert.equal(processor.unsettledDeliveries, 1, 'delivery 1 is still in retry');
    release = true;
    await processor.drain();
    await tick();
    assert.equal(ch.unacked.size, 0);
    assert.deepEqual(ch.errors, []);
    await processor.stop();
    await consumer.close();
  });

  it('any order of settling (acks and nacks over several ticks) acks each settled delivery by the next tick, once, never an unknown tag', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 1, max: 30 })
          .chain((n) =>
            fc.tuple(
              fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
              fc.array(fc.boolean(), { minLength: n, maxLength: n }),
              fc.array(fc.boolean(), { minLength: n, maxLength: n }),
            ),
          ),
        async ([order, nacks, tickAfter]) => {
          const deliveries: Delivery[] = [];
          const { ch, consumer } = await startConsumer((d) => deliveries.push(d));
          for (let i = 0; i < order.length; i++) ch.deliver();
          for (let k = 0; k < order.length; k++) {
            const i = order[k]!;
            if (nacks[i]) consumer.nack(deliveries[i]!, true);
            else consumer.ack(deliveries[i]!);
            if (tickAfter[k]) {
              await tick();
              // promptly: after a tick the broker holds exactly the deliveries not settled yet
              const open = order.slice(k + 1).map((j) => j + 1);
              assert.deepEqual(
                [...ch.unacked].sort((a, b) => a - b),
                open.sort((a, b) => a - b),
              );
            }
          }
          await tick();
          assert.deepEqual(ch.errors, []);
          assert.equal(ch.unacked.size, 0, 'every delivery settled on the broker');
          // each as it was settled: a nacked delivery is nacked with requeue, never acked (not by a multiple ack either)
          for (let i = 0; i < order.length; i++) {
            assert.deepEqual(ch.settledAs.get(i + 1), nacks[i] ? { kind: 'nack', requeue: true } : { kind: 'ack' }, `delivery ${i + 1}`);
          }
          // one frame per delivery at most (coalesced acks may cover several)
          assert.ok(ch.frames.length <= order.length);
          await consumer.close();
        },
      ),
      { seed: process.env.LOGSHIP_TEST_SEED ? Number(process.env.LOGSHIP_TEST_SEED) : undefined, numRuns: 200 },
    );
  });
});
