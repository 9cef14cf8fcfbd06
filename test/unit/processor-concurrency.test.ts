/** Several bulks in flight (--bulk-concurrency): the processor's limits, backoff, retries and acks across concurrent bulks. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Logger } from '@logship/common';
import { GatedOutput, OK, R400, R429, byId, setup } from '../helpers/processor-harness.js';
import { waitFor } from '../helpers/wait.js';

describe('several bulks in flight (--bulk-concurrency)', () => {
  it('bulks in flight reach --bulk-concurrency and never exceed it', async () => {
    const gate = new GatedOutput();
    const t = setup(byId({}), { output: gate, bulkConcurrency: 3, batchSize: 1 });
    for (let i = 0; i < 10; i++) t.deliver(`e${i}`);
    for (let answered = 0; answered < 10; answered++) {
      await waitFor('a bulk in flight', () => gate.calls.some((c) => !c.answered), 5_000, 1);
      // answer the newest first: the order in which bulks finish does not matter
      [...gate.calls]
        .reverse()
        .find((c) => !c.answered)!
        .answer();
    }
    await t.processor.drain();
    assert.equal(gate.maxInFlight, 3);
    assert.deepEqual(
      t.acked.sort((a, b) => a - b),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    await t.processor.stop();
  });

  it('bulks are cut so that --bulk-concurrency of them fit in the prefetch window: a full window is four bulks in flight, not one', async () => {
    const gate = new GatedOutput();
    // prefetch 8 single-event deliveries, batches of up to 100, 4 in flight, no flush by time
    const t = setup(byId({}), { output: gate, bulkConcurrency: 4, batchSize: 100, prefetch: 8, flushIntervalMs: 60_000 });
    for (let i = 0; i < 8; i++) t.deliver(`e${i}`);
    await waitFor('four bulks in flight', () => gate.inFlight === 4, 5_000, 1);
    assert.deepEqual(
      gate.calls.map((c) => c.ids.length),
      [2, 2, 2, 2],
    );
    for (const c of gate.calls) c.answer();
    await t.processor.drain();
    assert.equal(t.acked.length, 8);
    await t.processor.stop();
  });

  it('with many events per delivery the window holds whole batches: bulks stay at --batch-size', async () => {
    const gate = new GatedOutput();
    const t = setup(byId({}), { output: gate, bulkConcurrency: 4, batchSize: 100, prefetch: 8, flushIntervalMs: 60_000 });
    for (let m = 0; m < 8; m++) t.deliverDocs(Array.from({ length: 100 }, (_, i) => ({ id: `m${m}-${i}`, source: '{}', index: 'i' })));
    await waitFor('four bulks in flight', () => gate.inFlight === 4, 5_000, 1);
    assert.ok(
      gate.calls.every((c) => c.ids.length === 100),
      gate.calls.map((c) => c.ids.length).join(' '),
    );
    while (gate.calls.some((c) => !c.answered)) {
      for (const c of gate.calls.filter((x) => !x.answered)) c.answer();
      await new Promise((r) => setTimeout(r, 5));
    }
    await t.processor.drain();
    assert.equal(t.acked.length, 8);
    await t.processor.stop();
  });

  it('a 429 on one in-flight bulk backs off the others: no bulk starts before the backoff is over, then the retry goes alone, before new documents', async () => {
    const gate = new GatedOutput();
    const warnings: string[] = [];
    const noop = () => {};
    const logger = { warn: (_o: unknown, msg: string) => warnings.push(msg), error: noop, info: noop, debug: noop, fatal: noop } as unknown as Logger;
    const t = setup(byId({}), { output: gate, bulkConcurrency: 3, batchSize: 1, retryBackoffMs: 100, logger });
    for (const id of ['a', 'b', 'c', 'd', 'e']) t.deliver(id);
    await waitFor('three bulks in flight', () => gate.calls.length === 3, 5_000, 1);
    const failedAt = Date.now();
    gate.calls[0]!.answer(() => R429);
    // the others fail too, while the backoff runs: they join it, they do not lengthen it
    gate.calls[1]!.answer(() => R429);
    gate.calls[2]!.answer();
    await waitFor('the first retry', () => gate.calls.length > 3, 5_000, 1);
    assert.deepEqual(gate.calls[3]!.ids, ['a'], 'the failed items go first, before d and e');
    assert.ok(gate.calls[3]!.startedAt - failedAt >= 50, `the retry waited the backoff (${gate.calls[3]!.startedAt - failedAt} ms)`);
    assert.equal(gate.inFlight, 1, 'one bulk at a time while items wait for their retry');
    gate.calls[3]!.answer();
    await waitFor('the second retry', () => gate.calls.length > 4, 5_000, 1);
    assert.deepEqual(gate.calls[4]!.ids, ['b']);
    assert.equal(gate.inFlight, 1);
    gate.calls[4]!.answer();
    // retries done: new documents, several at once again
    await waitFor('d and e in flight together', () => gate.inFlight === 2, 5_000, 1);
    assert.deepEqual(
      gate.calls
        .slice(5)
        .map((c) => c.ids[0])
        .sort(),
      ['d', 'e'],
    );
    for (const c of gate.calls.slice(5)) c.answer();
    await t.processor.drain();
    assert.equal(warnings.filter((w) => /retrying them/.test(w)).length, 1, `one backoff for both failed bulks: ${warnings.join(', ')}`);
    assert.deepEqual(
      t.acked.sort((x, y) => x - y),
      [1, 2, 3, 4, 5],
    );
    await t.processor.stop();
  });

  it('only the failed items of concurrent bulks are retried', async () => {
    const gate = new GatedOutput();
    const t = setup(byId({}), { output: gate, bulkConcurrency: 2, batchSize: 2 });
    // two deliveries of two events: b and c are written while their deliveries still wait for a and d
    t.deliver('a', 'b');
    t.deliver('c', 'd');
    await waitFor('two bulks in flight', () => gate.calls.length === 2, 5_000, 1);
    gate.calls[1]!.answer((id) => (id === 'd' ? R429 : OK));
    gate.calls[0]!.answer((id) => (id === 'a' ? R429 : OK));
    await waitFor('the retry', () => gate.calls.length === 3, 5_000, 1);
    assert.deepEqual(gate.calls[2]!.ids.sort(), ['a', 'd'], 'a and d only, in one bulk');
    gate.calls[2]!.answer();
    await t.processor.drain();
    assert.equal(gate.calls.length, 3);
    assert.deepEqual(
      t.acked.sort((x, y) => x - y),
      [1, 2],
    );
    await t.processor.stop();
  });

  it('a delivery whose dead letter keeps failing while its other event runs out of retry budget in a concurrent bulk is requeued once', async () => {
    const t = setup(byId({ w: R400, x: R429 }), { bulkConcurrency: 2, batchSize: 1, dlqFails: () => true, retryTimeoutMs: 30 });
    t.deliver('w', 'x');
    await waitFor('requeued', () => t.nacked.length > 0, 5_000, 1);
    await t.processor.drain();
    // both paths (the dead letter, the bulk retry) give up on it; the broker hears it once
    await waitFor('the dead letter given up', () => t.processor.deadLetterFailing === 0, 5_000, 1);
    assert.deepEqual(t.nacked, [[1, true]]);
    assert.deepEqual(t.acked, []);
    await t.processor.stop();
  });

  it('a delivery split over two concurrent bulks is acked once, after both', async () => {
    const gate = new GatedOutput();
    const t = setup(byId({}), { output: gate, bulkConcurrency: 2, batchSize: 2 });
    t.deliver('w', 'x', 'y', 'z');
    await waitFor('two bulks in flight', () => gate.calls.length === 2, 5_000, 1);
    gate.calls[1]!.answer();
    await waitFor('the second bulk applied', () => t.processor.bulksInFlight === 1, 5_000, 1);
    assert.deepEqual(t.acked, [], 'not acked while w and x are in flight');
    gate.calls[0]!.answer();
    await t.processor.drain();
    assert.deepEqual(t.acked, [1]);
    assert.deepEqual(t.nacked, []);
    await t.processor.stop();
  });

  it('a delivery split over two concurrent bulks, one event dead-lettered: acked once, after the dead letter and the other bulk', async () => {
    const gate = new GatedOutput();
    let confirm!: () => void;
    const confirmed = new Promise<void>((r) => (confirm = r));
    const t = setup(byId({}), { output: gate, bulkConcurrency: 2, batchSize: 2, publish: () => confirmed });
    t.deliver('w', 'x', 'y', 'z');
    await waitFor('two bulks in flight', () => gate.calls.length === 2, 5_000, 1);
    gate.calls[0]!.answer((id) => (id === 'w' ? R400 : OK));
    gate.calls[1]!.answer();
    await waitFor('the dead letter under way', () => t.dlqAttempts() === 1, 5_000, 1);
    await waitFor('both bulks applied', () => t.processor.bulksInFlight === 0, 5_000, 1);
    assert.deepEqual(t.acked, [], 'not acked before the broker confirmed the dead letter');
    confirm();
    await t.processor.drain();
    assert.deepEqual(t.acked, [1]);
    assert.equal(t.deadLetters.length, 1);
    await t.processor.stop();
  });

  it('a delivery split over two concurrent bulks and requeued past the retry budget by one is requeued once, and the other bulk neither acks nor requeues it again', async () => {
    const gate = new GatedOutput();
    const t = setup(byId({}), { output: gate, bulkConcurrency: 2, batchSize: 2, retryTimeoutMs: 0 });
    t.deliver('w', 'x', 'y', 'z');
    await waitFor('two bulks in flight', () => gate.calls.length === 2, 5_000, 1);
    gate.calls[0]!.answer((id) => (id === 'w' ? R429 : OK));
    await waitFor('requeued', () => t.nacked.length === 1, 5_000, 1);
    gate.calls[1]!.answer(() => R429);
    await t.processor.drain();
    assert.deepEqual(t.nacked, [[1, true]]);
    assert.deepEqual(t.acked, []);
    assert.equal(t.processor.unackedDeliveries, 0);
    assert.equal(gate.calls.length, 2, 'nothing of a requeued delivery is written again');
    await t.processor.stop();
  });

  it('drain writes every batch and waits for every bulk in flight', async () => {
    const gate = new GatedOutput();
    const t = setup(byId({}), { output: gate, bulkConcurrency: 4, batchSize: 1, flushIntervalMs: 60_000 });
    for (const id of ['a', 'b', 'c']) t.deliver(id);
    let drained = false;
    const draining = t.processor.drain().then(() => (drained = true));
    await waitFor('three bulks in flight', () => gate.calls.length === 3, 5_000, 1);
    gate.calls[0]!.answer();
    gate.calls[1]!.answer();
    await waitFor('two acked', () => t.acked.length === 2, 5_000, 1);
    assert.equal(drained, false, 'not drained while a bulk is in flight');
    gate.calls[2]!.answer();
    await draining;
    assert.equal(t.acked.length, 3);
    await t.processor.stop();
  });
});
