/**
 * The prefetch window follows the size of the messages (prefetch-window.ts),
 * and the consumer applies a new window by consuming again on its channel.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { createLogger } from '@logship/common';
import { Consumer, FIRST_WINDOW, PrefetchWindow, holdFor, type ChannelSource } from '@logship/indexer';
import { waitFor } from '../helpers/wait.js';

/** the defaults: --batch-size 500, --batch-bytes 5mb, --bulk-concurrency 4, --prefetch 3000 */
const HOLD = holdFor({ batchSize: 500, batchBytes: 5 * 1024 * 1024, bulkConcurrency: 4 });
const PREFETCH = 3000;

/** feeds `count` deliveries of `events` events and `bytes` bytes; returns the last answer that was not null */
function feed(w: PrefetchWindow, count: number, events: number, bytes: number): number | null {
  let asked: number | null = null;
  for (let i = 0; i < count; i++) asked = w.observe(events, bytes) ?? asked;
  return asked;
}

describe('the prefetch window', () => {
  it(`starts at ${FIRST_WINDOW} deliveries, or --prefetch when smaller: a burst of large messages at start stays small`, () => {
    assert.equal(new PrefetchWindow(PREFETCH, HOLD).current, FIRST_WINDOW);
    assert.equal(new PrefetchWindow(20, HOLD).current, 20);
  });

  it('single small events: asks for the events the indexer holds (six batches of 500), never more than --prefetch', () => {
    const w = new PrefetchWindow(PREFETCH, HOLD);
    assert.equal(feed(w, 31, 1, 200), null, 'judged only after 32 deliveries');
    assert.equal(w.observe(1, 200), 3000);
    const capped = new PrefetchWindow(1000, HOLD);
    assert.equal(feed(capped, 32, 1, 200), 1000);
  });

  it('100 events per message: a hundredth of it (30 deliveries), so a worker does not hold 300 000 events', () => {
    const w = new PrefetchWindow(PREFETCH, HOLD);
    assert.equal(feed(w, 32, 100, 20_000), 30);
  });

  it('large messages: the bytes the indexer holds decide (six batches of 5 MiB)', () => {
    const w = new PrefetchWindow(PREFETCH, HOLD);
    // 1 MiB per single-event message: 30 MiB / 1 MiB
    assert.equal(feed(w, 32, 1, 1024 * 1024), 30);
  });

  it('keeps a window within half and twice of what the sizes call for: the consumer re-subscribes rarely', () => {
    const w = new PrefetchWindow(PREFETCH, HOLD);
    w.applied(3000);
    // 15 KiB messages call for 30 MiB / 15 KiB = 2048 deliveries: more than half of 3000
    assert.equal(feed(w, 100, 1, 15 * 1024), null, '2048 is within half and twice of 3000');
    assert.equal(feed(w, 300, 3, 600), 1000, 'a third of it is');
    w.applied(1000);
    assert.equal(feed(w, 31, 3, 600), null, 'a new window waits for 32 deliveries before it is judged');
  });
});

const silent = createLogger({ level: 'silent' });

/** The broker's side of one channel, as far as the window goes: qos, consume (with consume-ok held back on request), cancel. */
class WindowChannel extends EventEmitter {
  /** what the consumer did, in order: "qos 100", "consume c1", "cancel c1" */
  readonly calls: string[] = [];
  /** consume-ok waits for this: deliveries that follow it in the same read reach the consumer first */
  consumeGate: Promise<void> | null = null;
  /** cancel-ok waits for this */
  cancelGate: Promise<void> | null = null;
  private onMessage: ((msg: unknown) => void) | null = null;
  private consumers = 0;
  private tag = 0;
  async prefetch(n: number) {
    this.calls.push(`qos ${n}`);
  }
  async consume(_queue: string, onMessage: (msg: unknown) => void) {
    this.onMessage = onMessage;
    const consumerTag = `c${++this.consumers}`;
    this.calls.push(`consume ${consumerTag}`);
    if (this.consumeGate) await this.consumeGate;
    return { consumerTag };
  }
  async cancel(tag: string) {
    this.calls.push(`cancel ${tag}`);
    if (this.cancelGate) await this.cancelGate;
  }
  async close() {}
  ack() {}
  nack() {}
  deliver(bytes = 200): void {
    this.onMessage!({ fields: { deliveryTag: ++this.tag }, properties: {}, content: Buffer.alloc(bytes) });
  }
}

/** A consumer with the default window on a WindowChannel; every delivery is measured as one event, like the indexer does. */
function windowConsumer(ch: WindowChannel) {
  const conn = Object.assign(new EventEmitter(), { createChannel: async () => ch }) as unknown as ChannelSource;
  const consumer: Consumer = new Consumer(
    conn,
    { queue: 'q', prefetch: PREFETCH, hold: HOLD, logger: silent },
    { receive: (_d, msg) => consumer.measured(1, msg.content.length), channelClosed: () => undefined },
  );
  return consumer;
}

describe('the consumer applies a new window', () => {
  it('by consuming again on the same channel: cancel, qos, consume, after 32 deliveries of the first window', async () => {
    const ch = new WindowChannel();
    const consumer = windowConsumer(ch);
    await consumer.start();
    assert.deepEqual(ch.calls, ['qos 100', 'consume c1']);
    for (let i = 0; i < 32; i++) ch.deliver();
    await waitFor('the window resized', () => ch.calls.includes('consume c2'), 5_000, 1);
    assert.deepEqual(ch.calls, ['qos 100', 'consume c1', 'cancel c1', 'qos 3000', 'consume c2']);
    assert.equal(consumer.prefetch, 3000);
    await consumer.close();
  });

  it('while the window grows, prefetch is the new window: a full first window is not cut into small bulks for a window about to grow', async () => {
    // the batch processor cuts bulks of prefetch x events per delivery / --bulk-concurrency, and writes at once
    // when the window is full: with the first window of 100 that is four bulks of 25, which would take every
    // bulk slot while the next deliveries arrive
    const ch = new WindowChannel();
    const consumer = windowConsumer(ch);
    await consumer.start();
    assert.equal(consumer.prefetch, FIRST_WINDOW);
    let release: () => void = () => undefined;
    ch.cancelGate = new Promise<void>((r) => (release = r));
    for (let i = 0; i < 32; i++) ch.deliver();
    await waitFor('the resize begun', () => ch.calls.includes('cancel c1'), 5_000, 1);
    assert.deepEqual(ch.calls, ['qos 100', 'consume c1', 'cancel c1'], 'cancel-ok is still on its way');
    assert.equal(consumer.prefetch, 3000);
    ch.cancelGate = null;
    release();
    await waitFor('consuming again', () => ch.calls.includes('consume c2'), 5_000, 1);
    assert.equal(consumer.prefetch, 3000, 'the window applied');
    await consumer.close();
  });

  it('a window that could not be applied is not reported: prefetch is the window the broker was last asked for', async () => {
    const ch = new WindowChannel();
    const consumer = windowConsumer(ch);
    await consumer.start();
    ch.prefetch = async (n: number) => {
      ch.calls.push(`qos ${n}`);
      throw new Error('channel closed');
    };
    for (let i = 0; i < 32; i++) ch.deliver();
    await waitFor('the resize tried', () => ch.calls.includes('qos 3000'), 5_000, 1);
    await waitFor('the resize given up', () => consumer.prefetch === FIRST_WINDOW, 5_000, 1);
    await consumer.close();
  });

  it('a first window delivered before consume-ok is handled grows as soon as the tag is known: it does not wait for an ack', async () => {
    // amqplib hands over the deliveries that follow consume-ok in one read before the tag reaches the consumer:
    // the whole first window can arrive first, and no more come until one is acked (after a bulk's answer)
    const ch = new WindowChannel();
    let release: () => void = () => undefined;
    ch.consumeGate = new Promise<void>((r) => (release = r));
    const consumer = windowConsumer(ch);
    const starting = consumer.start();
    await waitFor('consume sent', () => ch.calls.includes('consume c1'), 5_000, 1);
    for (let i = 0; i < FIRST_WINDOW; i++) ch.deliver();
    assert.deepEqual(ch.calls, ['qos 100', 'consume c1'], 'no tag to cancel yet');
    ch.consumeGate = null;
    release();
    await starting;
    await waitFor('the window resized', () => ch.calls.includes('consume c2'), 5_000, 1);
    assert.deepEqual(ch.calls, ['qos 100', 'consume c1', 'cancel c1', 'qos 3000', 'consume c2']);
    await consumer.close();
  });
});
