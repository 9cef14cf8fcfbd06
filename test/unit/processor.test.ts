/** The bulk outcome table applied by the batch processor, with a scripted output. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { Output } from '@logship/indexer';
import { DUP, OK, R400, R429, ScriptedOutput, byId, setup } from '../helpers/processor-harness.js';
import { waitFor } from '../helpers/wait.js';

describe('bulk outcome table in the processor', () => {
  it('201 acks the delivery', async () => {
    const t = setup(byId({}));
    t.deliver('a');
    await t.processor.drain();
    assert.deepEqual(t.acked, [1]);
    await t.processor.stop();
  });

  it('409 acks the delivery and counts a duplicate avoided', async () => {
    const t = setup(byId({ a: DUP }));
    t.deliver('a');
    t.deliver('b');
    await t.processor.drain();
    assert.deepEqual(t.acked, [1, 2]);
    assert.equal(await t.metric('logship_indexer_events_duplicate_total'), 1);
    assert.equal(await t.metric('logship_indexer_events_indexed_total'), 1);
    await t.processor.stop();
  });

  it('429 retries only the failed item, keeps the delivery unacked until it succeeds', async () => {
    const t = setup(byId({ b: (n) => (n < 3 ? R429 : OK) }));
    t.deliver('a');
    t.deliver('b');
    await t.processor.drain();
    assert.deepEqual(t.output.requests, [['a', 'b'], ['b'], ['b']]);
    assert.deepEqual(t.acked, [1, 2]);
    await t.processor.stop();
  });

  it('an output that throws (a bulk body it could not build) retries every item of the batch and acks nothing until they are written', async () => {
    const written = new ScriptedOutput(byId({}));
    let calls = 0;
    let ackedAtRetry = -1;
    let acked: number[] = [];
    const output: Output = {
      name: 'throwing',
      reachable: true,
      async write(docs) {
        if (++calls === 1) throw new Error('bulk body of 120 bytes measured, 119 written');
        ackedAtRetry = acked.length;
        return written.write(docs);
      },
      async close() {},
    };
    const t = setup(byId({}), { output });
    acked = t.acked;
    t.deliver('a');
    t.deliver('b');
    await t.processor.drain();
    assert.equal(calls, 2);
    assert.equal(ackedAtRetry, 0, 'a delivery was acked before its events were written');
    assert.deepEqual(written.requests, [['a', 'b']]);
    assert.deepEqual(t.acked, [1, 2]);
    assert.deepEqual(t.nacked, []);
    assert.deepEqual(t.deadLetters, []);
    await t.processor.stop();
  });

  it('a dead letter whose reason is longer than 2000 characters is logged with it cut, as its header carries it', async () => {
    // Elasticsearch's parse errors quote the refused value: one line per event must not carry the event again
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(l) });
    const t = setup(byId({ a: { kind: 'reject', status: 400, type: 'document_parsing_exception', reason: `failed to parse: ${'v'.repeat(10_000)}` } }), {
      logger,
    });
    t.deliver('a');
    await t.processor.drain();
    assert.equal(t.deadLetters.length, 1);
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; reason?: string }).find((l) => l.msg === 'event dead-lettered');
    assert.ok(logged, lines.join(''));
    assert.equal(logged.reason, `failed to parse: ${'v'.repeat(2000 - 'failed to parse: '.length)}...`);
    await t.processor.stop();
  });

  it('400 dead-letters the event with its reason, then acks', async () => {
    const t = setup(byId({ a: R400 }));
    t.deliver('a');
    await t.processor.drain();
    assert.equal(t.deadLetters.length, 1);
    assert.deepEqual(JSON.parse(t.deadLetters[0]!.body), { id: 'a' });
    assert.equal(t.deadLetters[0]!.headers.type, 'document_parsing_exception');
    assert.equal(t.deadLetters[0]!.headers.status, 400);
    assert.deepEqual(t.acked, [1]);
    await t.processor.stop();
  });

  it('a mixed batch of 201, 409, 429 and 400: each handled, retries never re-send succeeded items', async () => {
    const t = setup(byId({ b: DUP, c: (n) => (n === 1 ? R429 : OK), d: R400 }));
    t.deliver('a');
    t.deliver('b');
    t.deliver('c');
    t.deliver('d');
    await t.processor.drain();
    assert.deepEqual(t.output.requests, [['a', 'b', 'c', 'd'], ['c']]);
    assert.deepEqual(t.acked.sort(), [1, 2, 3, 4]);
    assert.equal(t.deadLetters.length, 1);
    await t.processor.stop();
  });

  it('a delivery carrying several events is acked only when all are settled', async () => {
    let release = false;
    const t = setup(byId({ y: () => (release ? OK : R429) }));
    t.deliver('x', 'y', 'z');
    await waitFor('y sent again', () => (t.output.attempts.get('y') ?? 0) >= 2, 5_000, 1);
    assert.deepEqual(t.acked, [], 'not acked while y is retried');
    assert.equal(t.output.attempts.get('x'), 1, 'x was written in the first bulk');
    release = true;
    await t.processor.drain();
    assert.deepEqual(t.acked, [1]);
    await t.processor.stop();
  });

  it('past the retry budget the delivery is nacked with requeue, never acked', async () => {
    const t = setup(byId({ a: R429 }), { retryTimeoutMs: 30 });
    t.deliver('a');
    await t.processor.drain();
    assert.deepEqual(t.acked, []);
    assert.deepEqual(t.nacked, [[1, true]]);
    await t.processor.stop();
  });

  it('a failed dead-letter publish is retried, not acked', async () => {
    const t = setup(byId({ a: R400 }), { dlqFails: 1 });
    t.deliver('a');
    await t.processor.drain();
    assert.equal(t.deadLetters.length, 1);
    assert.equal(t.dlqAttempts(), 2);
    assert.deepEqual(t.acked, [1]);
    await t.processor.stop();
  });

  it('a dead letter the broker returns keeps its delivery unacked and degraded, while other events are written and acked; once taken it is acked and the error clears', async () => {
    let queueMissing = true;
    const t = setup(byId({ a: R400 }), { dlqFails: () => queueMissing });
    t.deliver('a');
    await waitFor('the dead letter retried', () => t.dlqAttempts() >= 3, 5_000, 1);
    assert.deepEqual(t.acked, [], 'not acked while its dead letter is returned');
    assert.equal(t.processor.deadLetterFailing, 1);
    assert.match(t.processor.lastError!, /returned a dead letter.*x\.dead.*run logship bootstrap/);
    const failedAt = t.processor.lastErrorAt;
    assert.ok(failedAt);
    // other deliveries are not held behind it
    t.deliver('b');
    await waitFor('b acked', () => t.acked.includes(2), 5_000, 1);
    assert.equal(t.deadLetters.length, 0);
    queueMissing = false;
    await t.processor.drain();
    assert.equal(t.deadLetters.length, 1, 'dead-lettered once');
    assert.deepEqual(t.acked, [2, 1]);
    assert.equal(t.processor.deadLetterFailing, 0);
    assert.equal(t.processor.lastError, null, 'cleared on recovery');
    assert.ok(t.processor.lastErrorAt! >= failedAt, 'when it happened is kept');
    assert.equal(await t.metric('logship_indexer_events_dead_lettered_total'), 1);
    await t.processor.stop();
  });

  it('a dead letter that keeps failing past the retry budget nacks its delivery with requeue, never acks it', async () => {
    const t = setup(byId({ a: R400 }), { dlqFails: () => true, retryTimeoutMs: 30 });
    t.deliver('a');
    await t.processor.drain();
    assert.deepEqual(t.acked, []);
    assert.deepEqual(t.nacked, [[1, true]]);
    assert.equal(t.deadLetters.length, 0);
    await t.processor.stop();
  });

  it('lastError is cleared once the retried items went through, and lastErrorAt is kept', async () => {
    const t = setup(byId({ a: (n) => (n < 3 ? R429 : OK) }));
    t.deliver('a');
    await waitFor('a retried', () => (t.output.attempts.get('a') ?? 0) >= 2, 5_000, 1);
    assert.match(t.processor.lastError ?? '', /es_rejected_execution_exception/);
    await t.processor.drain();
    assert.equal(t.processor.lastError, null);
    assert.ok(t.processor.lastErrorAt);
    await t.processor.stop();
  });

  it('no bulk request body exceeds --batch-bytes, counted in UTF-8 bytes with the action lines', async () => {
    // 3-byte characters: the body is about three times the source's string length
    const t = setup(byId({}), { batchBytes: 1000, flushIntervalMs: 1000 });
    const docs = Array.from({ length: 12 }, (_, i) => ({ id: `e${i}`, source: JSON.stringify({ m: '€'.repeat(100) }), index: 'logs-2026.01.01' }));
    for (const d of docs) t.deliverDocs([d]);
    await t.processor.drain();
    assert.equal(t.output.requests.flat().length, 12);
    for (const b of t.output.bodyBytes) assert.ok(b <= 1000, `a bulk body of ${b} bytes > --batch-bytes 1000`);
    assert.ok(
      t.output.requests.some((r) => r.length > 1),
      'batches still hold several events',
    );
    await t.processor.stop();
  });

  it('each bulk is handed the bytes its documents were measured at when queued: its body is not measured again', async () => {
    const t = setup(byId({}), { batchBytes: 1000, flushIntervalMs: 1000 });
    for (let i = 0; i < 12; i++) t.deliverDocs([{ id: `e${i}`, source: JSON.stringify({ m: '€'.repeat(i * 10) }), index: 'logs-2026.01.01' }]);
    await t.processor.drain();
    assert.ok(t.output.requests.length > 1);
    assert.deepEqual(t.output.handedBytes, t.output.bodyBytes);
    await t.processor.stop();
  });

  it('an event larger than --batch-bytes is sent alone, and the events around it in their own requests', async () => {
    const t = setup(byId({}), { batchBytes: 1000, flushIntervalMs: 1000 });
    const small = (id: string) => ({ id, source: JSON.stringify({ m: id }), index: 'i' });
    // 330 characters, 990 bytes of UTF-8: over the limit with its action line
    t.deliverDocs([small('s1')]);
    t.deliverDocs([{ id: 'big', source: JSON.stringify({ m: '€'.repeat(330) }), index: 'i' }]);
    t.deliverDocs([small('s2')]);
    await t.processor.drain();
    assert.deepEqual(t.output.requests, [['s1'], ['big'], ['s2']]);
    assert.ok(t.output.bodyBytes[1]! > 1000, 'the one larger event');
    await t.processor.stop();
  });

  it('a partial batch is written once deliveries stop coming, without waiting for --flush-interval', async () => {
    const t = setup(byId({}), { flushIntervalMs: 600_000 });
    t.deliver('a');
    t.deliver('b');
    await waitFor('the partial batch written', () => t.acked.length === 2, 5_000, 1);
    assert.deepEqual(t.output.requests, [['a', 'b']]);
    await t.processor.stop();
  });

  it('batches by --batch-size', async () => {
    const t = setup(byId({}), { batchSize: 2 });
    t.deliver('a');
    t.deliver('b');
    t.deliver('c');
    await t.processor.drain();
    assert.deepEqual(t.output.requests, [['a', 'b'], ['c']]);
    await t.processor.stop();
  });
});
