/**
 * Acks held for the acked prefix (consume/consumer.ts, ACK_HOLD_MS): a
 * delivery settled beyond the settled prefix waits a moment for the prefix
 * to reach it, so that one `multiple` ack covers it, and is acked alone after
 * that; a delivery with a dead-lettered event is never held, and closing
 * sends what is held. Tests that look at the broker's state between ticks
 * give the consumer a hold longer than any stall of a busy host.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { IndexNamer } from '@logship/common';
import { ACK_HOLD_MS, type Delivery, decodeDelivery } from '@logship/indexer';
import { type FakeChannel, startConsumer, tick } from '../helpers/consumer-harness.js';
import { R400, byId, setup } from '../helpers/processor-harness.js';
import { waitFor } from '../helpers/wait.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** a consumer whose deliveries carry `events` events each, tracked by its ledger */
async function consumerOf(events: number, ackHoldMs?: number) {
  const deliveries: Delivery[] = [];
  const c = await startConsumer((d) => {
    deliveries.push(d);
    c.ledger.track(d, events);
  }, ackHoldMs);
  return { ...c, deliveries };
}

/** settles delivery i as the property decided: nacked with requeue, or its one event written */
function settle(c: Awaited<ReturnType<typeof consumerOf>>, i: number, nack: boolean): void {
  if (nack) c.ledger.requeue(c.deliveries[i]!, 'test');
  else c.ledger.eventDone(c.deliveries[i]!);
}

/**
 * A consumer of `order.length` deliveries of one event, settled in `order`
 * (nacked or written as `nacks` decides); `after` runs after the k-th
 * settling with the tags settled so far.
 */
async function settleInOrder(
  ackHoldMs: number,
  order: number[],
  nacks: boolean[],
  after: (c: Awaited<ReturnType<typeof consumerOf>>, k: number, settled: Set<number>) => Promise<void>,
) {
  const c = await consumerOf(1, ackHoldMs);
  for (let i = 0; i < order.length; i++) c.ch.deliver();
  const settled = new Set<number>();
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    settle(c, i, nacks[i]!);
    settled.add(i + 1);
    await after(c, k, settled);
  }
  return c;
}

/** the broker's end state: no unknown tag, nothing unacked, each delivery acked or nacked as it was settled */
function assertSettledAsDecided(ch: FakeChannel, nacks: boolean[]): void {
  assert.deepEqual(ch.errors, []);
  assert.equal(ch.unacked.size, 0, 'every delivery settled on the broker');
  for (let i = 0; i < nacks.length; i++) {
    assert.deepEqual(ch.settledAs.get(i + 1), nacks[i] ? { kind: 'nack', requeue: true } : { kind: 'ack' }, `delivery ${i + 1}`);
  }
}

const seed = process.env.LOGSHIP_TEST_SEED ? Number(process.env.LOGSHIP_TEST_SEED) : undefined;

/** n deliveries settled in some order, each acked or nacked, a tick (or a pause) after some of them */
const settlings = (pauses: boolean) =>
  fc
    .integer({ min: 1, max: 30 })
    .chain((n) =>
      fc.tuple(
        fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
        fc.array(fc.boolean(), { minLength: n, maxLength: n }),
        fc.array(pauses ? fc.constantFrom(0, 1, 2) : fc.constantFrom(0, 1), { minLength: n, maxLength: n }),
      ),
    );

describe('acks held for the acked prefix (ACK_HOLD_MS)', () => {
  it('any order of settling with acks held: after each tick the broker holds the deliveries not settled and the acked ones beyond the first of them; at the end only multiple acks and nacks were sent', async () => {
    await fc.assert(
      fc.asyncProperty(settlings(false), async ([order, nacks, tickAfter]) => {
        // a hold no run outlasts: every ack beyond the prefix waits for it
        const { ch, consumer } = await settleInOrder(60_000, order, nacks, async ({ ch }, k, settled) => {
          if (!tickAfter[k]) return;
          await tick();
          const open = [...Array(order.length).keys()].map((j) => j + 1).filter((t) => !settled.has(t));
          const first = open[0] ?? Number.POSITIVE_INFINITY;
          // held: acked (not nacked) after the first delivery not settled
          const held = [...settled].filter((t) => t > first && !nacks[t - 1]);
          assert.deepEqual(
            [...ch.unacked].sort((a, b) => a - b),
            [...open, ...held].sort((a, b) => a - b),
          );
        });
        await tick();
        assertSettledAsDecided(ch, nacks);
        assert.deepEqual(
          ch.frames.filter((f) => f.kind === 'ack' && !f.multiple),
          [],
          'no ack alone: the prefix reached every held one',
        );
        await consumer.close();
      }),
      { seed, numRuns: 200 },
    );
  });

  it('any order of settling with holds that run out between settlings: each delivery settled on the broker once, as it was settled, never an unknown tag', async () => {
    const hold = 3;
    await fc.assert(
      fc.asyncProperty(settlings(true), async ([order, nacks, pauseAfter]) => {
        const { ch, consumer } = await settleInOrder(hold, order, nacks, async ({ ch }, k, settled) => {
          if (pauseAfter[k] === 1) await tick();
          if (pauseAfter[k] === 2) await sleep(hold + 2);
          // never settled on the broker before the ledger settled it
          for (const t of [...Array(order.length).keys()].map((j) => j + 1)) {
            if (!settled.has(t)) assert.ok(ch.unacked.has(t), `delivery ${t} is not settled yet`);
          }
        });
        await sleep(hold + 5);
        assertSettledAsDecided(ch, nacks);
        assert.ok(ch.frames.length <= order.length, 'one frame per delivery at most');
        await consumer.close();
      }),
      { seed, numRuns: 60 },
    );
  });

  it('an ack beyond the acked prefix waits for it: one multiple ack covers both when the delivery ahead of it is acked, and nothing more when its hold runs out', async () => {
    const hold = 300;
    const { ch, consumer, ledger, deliveries } = await consumerOf(1, hold);
    ch.deliver();
    ch.deliver();
    ledger.eventDone(deliveries[1]!);
    await tick();
    assert.deepEqual(ch.frames, [], 'delivery 2 is held while 1 is unacked');
    ledger.eventDone(deliveries[0]!);
    await tick();
    assert.deepEqual(ch.frames, [{ tag: 2, multiple: true, kind: 'ack' }]);
    await sleep(hold + 50);
    assert.deepEqual(ch.frames, [{ tag: 2, multiple: true, kind: 'ack' }]);
    assert.deepEqual(ch.errors, []);
    await consumer.close();
  });

  it('an ack beyond the acked prefix is sent alone once its hold ran out while the delivery ahead of it stays unacked', async () => {
    const hold = 200;
    const { ch, consumer, ledger, deliveries } = await consumerOf(1, hold);
    ch.deliver();
    ch.deliver();
    ch.deliver();
    const acked = performance.now();
    ledger.eventDone(deliveries[1]!);
    await tick();
    ledger.eventDone(deliveries[2]!);
    await tick();
    assert.deepEqual(ch.frames, []);
    await waitFor('delivery 2 acked alone', () => ch.frames.length > 0, 5_000, 1);
    const waited = performance.now() - acked;
    assert.ok(waited >= hold - 1, `held ${waited} ms`);
    await waitFor('delivery 3 acked alone', () => ch.frames.length === 2, 5_000, 1);
    assert.deepEqual(ch.frames, [
      { tag: 2, multiple: false, kind: 'ack' },
      { tag: 3, multiple: false, kind: 'ack' },
    ]);
    assert.deepEqual([...ch.unacked], [1], 'delivery 1 (in retry, say) stays unacked');
    ledger.eventDone(deliveries[0]!);
    await tick();
    // 2 and 3 were acked alone: naming them again would be an unknown delivery tag
    assert.deepEqual(ch.frames.at(-1), { tag: 1, multiple: true, kind: 'ack' });
    assert.deepEqual(ch.errors, []);
    await consumer.close();
  });

  it('by default the hold is ACK_HOLD_MS (25 ms)', async () => {
    assert.equal(ACK_HOLD_MS, 25);
    const { ch, consumer, ledger, deliveries } = await consumerOf(1);
    ch.deliver();
    ch.deliver();
    const acked = performance.now();
    ledger.eventDone(deliveries[1]!);
    await waitFor('delivery 2 acked alone', () => ch.frames.length > 0, 5_000, 1);
    const waited = performance.now() - acked;
    assert.ok(waited >= ACK_HOLD_MS - 1, `held ${waited} ms`);
    assert.deepEqual(ch.frames, [{ tag: 2, multiple: false, kind: 'ack' }]);
    await consumer.close();
  });

  it('a delivery with a dead-lettered event is acked at once beyond the acked prefix, never held (a redelivery would dead-letter it again), whichever of its events settles last', async () => {
    for (const deadLetterFirst of [false, true]) {
      const { ch, consumer, ledger, deliveries } = await consumerOf(2, 60_000);
      ch.deliver();
      ch.deliver();
      const d = deliveries[1]!;
      if (deadLetterFirst) ledger.eventDeadLettered(d);
      else ledger.eventDone(d);
      await tick();
      assert.deepEqual(ch.frames, [], 'one event still unsettled');
      if (deadLetterFirst) ledger.eventDone(d);
      else ledger.eventDeadLettered(d);
      await tick();
      assert.deepEqual(ch.frames, [{ tag: 2, multiple: false, kind: 'ack' }], deadLetterFirst ? 'dead letter first' : 'write first');
      assert.deepEqual([...ch.unacked], [1]);
      assert.deepEqual(ch.errors, []);
      await consumer.close();
    }
  });

  it('the processor marks a delivery dead-lettered for a rejected event and for a poison message, and not for written events', async () => {
    const t = setup(byId({ bad: R400 }));
    const namer = { nameFor: () => 'i' } as unknown as IndexNamer;
    const rejected = t.deliver('bad', 'fine');
    const poison = t.deliverPoison(decodeDelivery({ content: Buffer.from('not json'), properties: { contentType: 'application/json' } }, namer).poison);
    const written = t.deliver('good');
    await t.processor.drain();
    assert.deepEqual([...t.acked].sort(), [1, 2, 3]);
    assert.deepEqual([rejected.deadLettered, poison.deadLettered, written.deadLettered], [true, true, false]);
    await t.processor.stop();
  });

  it('closing the consumer sends held acks at once, and an ack decided while it closes before its channel closes', async () => {
    const { ch, consumer, ledger, deliveries } = await consumerOf(1, 60_000);
    ch.deliver();
    ch.deliver();
    ch.deliver();
    ledger.eventDone(deliveries[1]!);
    await tick();
    assert.deepEqual(ch.frames, []);
    // delivery 3 settles while close() waits for the broker's cancel-ok
    const cancel = ch.cancel.bind(ch);
    ch.cancel = async (tag: string) => {
      ledger.eventDone(deliveries[2]!);
      await tick();
      await cancel(tag);
    };
    const closedWith: Array<{ tag: number; multiple: boolean; kind: 'ack' | 'nack' }> = [];
    const close = ch.close.bind(ch);
    ch.close = async () => {
      closedWith.push(...ch.frames);
      await close();
    };
    await consumer.close();
    assert.deepEqual(closedWith, [
      { tag: 2, multiple: false, kind: 'ack' },
      { tag: 3, multiple: false, kind: 'ack' },
    ]);
    assert.deepEqual([...ch.unacked], [1]);
    assert.deepEqual(ch.errors, []);
  });

  it('a held ack is never sent once its channel died (the broker redelivers the message)', async () => {
    const { ch, consumer, ledger, deliveries } = await consumerOf(1);
    ch.deliver();
    ch.deliver();
    ledger.eventDone(deliveries[1]!);
    await tick();
    ch.die();
    await sleep(ACK_HOLD_MS + 30);
    assert.deepEqual(ch.frames, []);
    assert.deepEqual(ch.errors, []);
    await consumer.close();
    assert.deepEqual(ch.frames, [], 'not at close either');
  });
});
