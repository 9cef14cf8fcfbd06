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
import {
  BatchProcessor,
  Consumer,
  type ChannelSource,
  type DeadLetterPublisher,
  type Delivery,
  type Document,
  type ItemOutcome,
  type Output,
} from '@logship/indexer';
import { createEsClient } from '@logship/common/elasticsearch';
import { ElasticsearchOutput } from '@logship/indexer/elasticsearch';
import { EsDouble } from '../helpers/es-double.js';
import { FakeChannel, silent, startConsumer, tick } from '../helpers/consumer-harness.js';
import { waitFor } from '../helpers/wait.js';

/** A consumer whose consume-ok the broker holds back: start() is under way until release(). */
async function startingWithConsumeOkHeld() {
  const ch = new FakeChannel();
  let release: () => void = () => undefined;
  ch.consumeGate = new Promise<void>((r) => (release = r));
  const conn = Object.assign(new EventEmitter(), { createChannel: async () => ch }) as unknown as ChannelSource;
  const consumer = new Consumer(conn, { queue: 'q', prefetch: 100, logger: silent }, { receive: () => undefined, channelClosed: () => undefined });
  const starting = consumer.start();
  await tick();
  return { ch, consumer, starting, release };
}

describe('prompt acks', () => {
  it('a consumer cancelled while its consume-ok is on the way is cancelled when the tag arrives: no deliveries after shutdown began', async () => {
    const { ch, consumer, starting, release } = await startingWithConsumeOkHeld();
    await consumer.cancel();
    release();
    await starting;
    assert.deepEqual(ch.cancelled, ['c1']);
    await consumer.close();
  });

  it('a channel closed by the broker in the same read as consume-ok: start() fails with the broker error, its tag is not kept', async () => {
    const { ch, consumer, starting, release } = await startingWithConsumeOkHeld();
    ch.emit(
      'error',
      Object.assign(new Error('Channel closed by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - access to queue \'q\' refused"'), { code: 403 }),
    );
    ch.die();
    release();
    await assert.rejects(starting, /ACCESS_REFUSED|access/i);
    assert.equal(consumer.connected, false);
    assert.deepEqual(ch.cancelled, ['c1'], "the closed channel's tag is dropped, not kept as the consumer's");
    await consumer.close();
  });

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
    const { ch, consumer, ledger, metrics } = await startConsumer((d) => {
      const id = `e${d.tag}`;
      processor!.add(d, { docs: [{ id, source: JSON.stringify({ id }), index: 'i' }], poison: [] });
    });
    processor = new BatchProcessor({
      output,
      deadLetters: {} as DeadLetterPublisher,
      ledger,
      metrics,
      logger: silent,
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
    assert.equal(processor.unackedDeliveries, 1, 'delivery 1 is still in retry');
    release = true;
    await processor.drain();
    await tick();
    assert.equal(ch.unacked.size, 0);
    assert.deepEqual(ch.errors, []);
    await processor.stop();
    await consumer.close();
  });

  it('with no ack hold (ackHoldMs 0), any order of settling (acks and nacks over several ticks) acks each settled delivery by the next tick, once, never an unknown tag', async () => {
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
          const { ch, consumer, ledger } = await startConsumer((d) => {
            deliveries.push(d);
            ledger.track(d, 1);
          }, 0);
          for (let i = 0; i < order.length; i++) ch.deliver();
          for (let k = 0; k < order.length; k++) {
            const i = order[k]!;
            if (nacks[i]) ledger.requeue(deliveries[i]!, 'test');
            else ledger.eventDone(deliveries[i]!);
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

/** An output whose bulks stay in flight until the test answers them. */
class GatedOutput implements Output {
  readonly name = 'gated';
  readonly reachable = true;
  readonly calls: Array<{ ids: string[]; answer: (outcome?: (id: string) => ItemOutcome) => void }> = [];
  write(docs: readonly Document[]): Promise<ItemOutcome[]> {
    return new Promise((resolve) => {
      this.calls.push({ ids: docs.map((d) => d.id!), answer: (outcome = () => ({ kind: 'ok' })) => resolve(docs.map((d) => outcome(d.id!))) });
    });
  }
  async close() {}
}

/**
 * A consumer, its ledger and a processor with several bulks in flight; a
 * message's content is its event ids, comma-separated.
 */
async function startPipeline(output: Output, options: { bulkConcurrency: number; batchSize: number }) {
  let processor: BatchProcessor | null = null;
  const p = await startConsumer((d, msg) => {
    const ids = msg.content.toString().split(',');
    processor!.add(d, { docs: ids.map((id) => ({ id, source: JSON.stringify({ id }), index: 'i' })), poison: [] });
  });
  processor = new BatchProcessor({
    output,
    deadLetters: {} as DeadLetterPublisher,
    ledger: p.ledger,
    metrics: p.metrics,
    logger: silent,
    batchSize: options.batchSize,
    batchBytes: 1024 * 1024,
    flushIntervalMs: 5,
    retryBackoffMs: 5,
    retryMaxBackoffMs: 20,
    retryTimeoutMs: 60_000,
    bulkConcurrency: options.bulkConcurrency,
  });
  processor.start();
  return { ...p, processor };
}

describe('acks with several bulks in flight', () => {
  it('the ledger answers each delivery once: after a requeue, another requeue, its remaining events done and the channel closing send nothing', async () => {
    const deliveries: Delivery[] = [];
    const { ch, consumer, ledger } = await startConsumer((d) => {
      deliveries.push(d);
      ledger.track(d, 2);
    });
    ch.deliver();
    const d = deliveries[0]!;
    ledger.eventDone(d);
    // one event runs out of retry budget while the other's dead letter gives up too
    ledger.requeue(d, 'retry budget exhausted');
    ledger.requeue(d, 'dead-letter publish kept failing');
    ledger.eventDone(d);
    ledger.eventDone(d);
    await tick();
    ch.die();
    await tick();
    assert.deepEqual(ch.frames, [{ tag: 1, multiple: false, kind: 'nack' }]);
    assert.equal(ledger.unacked, 0);
    assert.deepEqual(ch.errors, []);
    await consumer.close();
  });

  it('a delivery split over two concurrent bulks is acked once after both', async () => {
    const gate = new GatedOutput();
    const { ch, consumer, processor } = await startPipeline(gate, { bulkConcurrency: 2, batchSize: 2 });
    ch.deliver(Buffer.from('w,x,y,z'));
    await waitFor('two bulks in flight', () => gate.calls.length === 2, 5_000, 1);
    gate.calls[1]!.answer();
    await waitFor('one bulk in flight', () => processor.bulksInFlight === 1, 5_000, 1);
    await tick();
    assert.deepEqual(ch.frames, [], 'no frame while w and x are in flight');
    gate.calls[0]!.answer();
    await processor.drain();
    await tick();
    assert.deepEqual(ch.frames, [{ tag: 1, multiple: true, kind: 'ack' }], 'one ack');
    assert.deepEqual(ch.errors, []);
    await processor.stop();
    await consumer.close();
  });

  it('nothing is acked after the channel died while bulks were in flight', async () => {
    const gate = new GatedOutput();
    const { ch, consumer, ledger, processor } = await startPipeline(gate, { bulkConcurrency: 3, batchSize: 1 });
    ch.deliver(Buffer.from('a'));
    ch.deliver(Buffer.from('b,c'));
    await waitFor('three bulks in flight', () => gate.calls.length === 3, 5_000, 1);
    ch.die();
    assert.equal(ledger.unacked, 0, 'the broker requeued them: nothing is unacked any more');
    for (const c of gate.calls) c.answer();
    await processor.drain();
    await tick();
    assert.deepEqual(ch.frames, [], 'no ack or nack on the dead channel');
    assert.deepEqual(ch.errors, []);
    await processor.stop();
    await consumer.close();
  });

  it('an ack decided in the tick the channel died is not sent (the acked prefix, and a delivery acked beyond it)', async () => {
    for (const beyondPrefix of [false, true]) {
      const gate = new GatedOutput();
      const { ch, consumer, processor } = await startPipeline(gate, { bulkConcurrency: 2, batchSize: 1 });
      // acks go out at the end of the tick: the channel dies right after the first ack was decided
      const sendAck = consumer.sendAck.bind(consumer);
      consumer.sendAck = (d) => {
        sendAck(d);
        ch.die();
      };
      ch.deliver(Buffer.from('a'));
      ch.deliver(Buffer.from('b'));
      await waitFor('two bulks in flight', () => gate.calls.length === 2, 5_000, 1);
      // delivery 2 acked while 1 is unacked is beyond the prefix (held, or acked on its own)
      const [first, second] = beyondPrefix ? [gate.calls[1]!, gate.calls[0]!] : [gate.calls[0]!, gate.calls[1]!];
      first.answer();
      await waitFor('one bulk applied', () => processor.bulksInFlight === 1, 5_000, 0);
      second.answer();
      await processor.drain();
      await tick();
      assert.deepEqual(ch.frames, [], beyondPrefix ? 'beyond the prefix' : 'the prefix');
      await processor.stop();
      await consumer.close();
    }
  });

  it('against the Elasticsearch double with 30 % item 429s and 20 ms per bulk, 4 bulks in flight: every event written once, every delivery acked once', async () => {
    const es = new EsDouble();
    const url = await es.start();
    es.setFaults({ itemRate429: 0.3, latencyMs: 20 });
    const output = new ElasticsearchOutput(createEsClient({ esNode: url, esUsername: '', esPassword: '', esApiKey: '', esTimeout: 5_000 }));
    let maxHeld = 0;
    const watch = setInterval(() => (maxHeld = Math.max(maxHeld, es.held)), 1);
    try {
      const { ch, consumer, ledger, processor } = await startPipeline(output, { bulkConcurrency: 4, batchSize: 20 });
      const ids: string[] = [];
      for (let m = 0; m < 200; m++) {
        const events = Array.from({ length: m % 3 === 0 ? 3 : 1 }, (_, k) => `m${m}-${k}`);
        ids.push(...events);
        ch.deliver(Buffer.from(events.join(',')));
      }
      await waitFor('every delivery acked', () => ledger.unacked === 0 && ch.unacked.size === 0, 30_000, 5);
      es.clearFaults();
      assert.deepEqual(ch.errors, []);
      for (let tag = 1; tag <= 200; tag++) assert.deepEqual(ch.settledAs.get(tag), { kind: 'ack' }, `delivery ${tag}`);
      assert.deepEqual(
        es
          .docs('i')
          .map((d) => d.id)
          .sort(),
        ids.sort(),
        'every event stored',
      );
      const statuses = es.bulks.flatMap((b) => b.statuses);
      assert.equal(statuses.filter((s) => s === 409).length, 0, 'no written event was sent again');
      assert.ok(statuses.filter((s) => s === 429).length > 0, 'the fault was injected');
      assert.ok(maxHeld > 1, `several bulks were in flight at Elasticsearch at once (at most ${maxHeld})`);
      await processor.stop();
      await consumer.close();
    } finally {
      clearInterval(watch);
      await output.close();
      await es.stop();
    }
  });
});
