/** The bulk outcome table applied by the batch processor, with a scripted output. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventEmitter } from 'node:events';
import { gzipSync } from 'node:zlib';
import {
  ErrorCodes,
  LogshipError,
  createIndexerMetrics,
  createLogger,
  createRegistry,
  type Channel,
  type ConsumeMessage,
  type IndexNamer,
  type Logger,
  type RecoveringChannelModel,
} from '@logship/common';
import {
  BatchProcessor,
  DeadLetterPublisher,
  DeliveryLedger,
  MAX_DEAD_LETTER_BYTES,
  buildBulkBody,
  decodeDelivery,
  newDelivery,
  type DeadLetterProperties,
  type Document,
  type ItemOutcome,
  type Output,
  type Poison,
} from '@logship/indexer';
import { waitFor } from '../helpers/wait.js';

type Script = (doc: Document, attempt: number) => ItemOutcome;

class ScriptedOutput implements Output {
  readonly name = 'scripted';
  readonly reachable = true;
  readonly requests: string[][] = [];
  /** byte length of the bulk body each request would have had */
  readonly bodyBytes: number[] = [];
  readonly attempts = new Map<string, number>();
  constructor(private readonly script: Script) {}
  async write(docs: readonly Document[]): Promise<ItemOutcome[]> {
    this.requests.push(docs.map((d) => d.id!));
    this.bodyBytes.push(Buffer.byteLength(buildBulkBody(docs)));
    return docs.map((d) => {
      const n = (this.attempts.get(d.id!) ?? 0) + 1;
      this.attempts.set(d.id!, n);
      return this.script(d, n);
    });
  }
  async close() {}
}

/** the error the publisher raises for a dead letter the broker returned (no dead-letter queue bound) */
const RETURNED = () =>
  new LogshipError(
    ErrorCodes.UNROUTABLE,
    'the broker returned a dead letter: no queue is bound to dead-letter exchange "x.dlx" (is dead-letter queue "x.dead" deleted?)',
    {
      hint: 'run logship bootstrap',
    },
  );

function setup(
  script: Script,
  overrides: Partial<{
    retryTimeoutMs: number;
    batchSize: number;
    batchBytes: number;
    dlqFails: number | (() => boolean);
    flushIntervalMs: number;
    /** replaces the fake DLQ's publish (after it counted the attempt) */
    publish: (body: Buffer, props: DeadLetterProperties) => Promise<void>;
    isLive: () => boolean;
    logger: Logger;
    /** an output of the test's own instead of the scripted one */
    output: Output;
    bulkConcurrency: number;
    retryBackoffMs: number;
  }> = {},
) {
  const output = new ScriptedOutput(script);
  const acked: number[] = [];
  const nacked: Array<[number, boolean]> = [];
  const deadLetters: Array<{ body: string; bytes: number; headers: Record<string, unknown>; props: DeadLetterProperties }> = [];
  let dlqFails = typeof overrides.dlqFails === 'number' ? overrides.dlqFails : 0;
  const dlqFailing = typeof overrides.dlqFails === 'function' ? overrides.dlqFails : () => dlqFails-- > 0;
  let dlqAttempts = 0;
  const fakeDlq = {
    async publish(body: Buffer, why: { type: string; reason: string; status?: number }, props: DeadLetterProperties = {}) {
      dlqAttempts++;
      if (overrides.publish) await overrides.publish(body, props);
      if (dlqFailing()) throw RETURNED();
      deadLetters.push({ body: body.toString(), bytes: body.length, headers: why, props });
    },
  } as unknown as DeadLetterPublisher;
  const registry = createRegistry(false);
  const metrics = createIndexerMetrics(registry);
  const logger = overrides.logger ?? createLogger({ level: 'silent' });
  const ledger = new DeliveryLedger(
    {
      sendAck: (d) => acked.push(d.msg.fields.deliveryTag),
      sendRequeue: (d) => nacked.push([d.msg.fields.deliveryTag, true]),
      isLive: overrides.isLive ?? (() => true),
    },
    metrics,
    logger,
  );
  const processor = new BatchProcessor({
    output: overrides.output ?? output,
    bulkConcurrency: overrides.bulkConcurrency ?? 1,
    deadLetters: fakeDlq,
    ledger,
    metrics,
    logger,
    batchSize: overrides.batchSize ?? 100,
    batchBytes: overrides.batchBytes ?? 5 * 1024 * 1024,
    flushIntervalMs: overrides.flushIntervalMs ?? 5,
    retryBackoffMs: overrides.retryBackoffMs ?? 2,
    retryMaxBackoffMs: overrides.retryBackoffMs ? overrides.retryBackoffMs * 8 : 10,
    retryTimeoutMs: overrides.retryTimeoutMs ?? 60_000,
  });
  processor.start();
  let tag = 0;
  const newTagged = () => newDelivery({ fields: { deliveryTag: ++tag } } as unknown as ConsumeMessage, {} as Channel);
  const deliverDocs = (docs: Document[]) => {
    const d = newTagged();
    processor.add(d, { docs, poison: [] });
    return d;
  };
  const deliver = (...ids: string[]) => deliverDocs(ids.map((id) => ({ id, source: JSON.stringify({ id }), index: 'i' })));
  const deliverPoison = (poison: Poison[]) => {
    const d = newTagged();
    processor.add(d, { docs: [], poison });
    return d;
  };
  const metric = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;
  return { output, processor, acked, nacked, deadLetters, deliver, deliverDocs, deliverPoison, metric, dlqAttempts: () => dlqAttempts };
}

const byId =
  (table: Record<string, ItemOutcome | ((attempt: number) => ItemOutcome)>): Script =>
  (doc, attempt) => {
    const row = table[doc.id!] ?? { kind: 'ok' };
    return typeof row === 'function' ? row(attempt) : row;
  };

const OK: ItemOutcome = { kind: 'ok' };
const DUP: ItemOutcome = { kind: 'duplicate' };
const R429: ItemOutcome = { kind: 'retry', status: 429, reason: 'es_rejected_execution_exception' };
const R400: ItemOutcome = { kind: 'reject', status: 400, type: 'document_parsing_exception', reason: 'failed to parse' };

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

/** An output whose bulks stay in flight until the test answers them, each with its own outcomes. */
class GatedOutput implements Output {
  readonly name = 'gated';
  readonly reachable = true;
  readonly calls: Array<{ ids: string[]; startedAt: number; answered: boolean; answer: (outcome?: (id: string) => ItemOutcome) => void }> = [];
  inFlight = 0;
  maxInFlight = 0;
  write(docs: readonly Document[]): Promise<ItemOutcome[]> {
    return new Promise((resolve) => {
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      const call = {
        ids: docs.map((d) => d.id!),
        startedAt: Date.now(),
        answered: false,
        answer: (outcome: (id: string) => ItemOutcome = () => OK) => {
          if (call.answered) throw new Error('a bulk answered twice');
          call.answered = true;
          this.inFlight--;
          resolve(docs.map((d) => outcome(d.id!)));
        },
      };
      this.calls.push(call);
    });
  }
  async close() {}
}

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

describe('dead letters the broker can take', () => {
  it('poison whose content_encoding cannot be removed is dead-lettered as received, with its content_encoding and content type kept', async () => {
    const t = setup(byId({}));
    const namer = { nameFor: () => 'i' } as unknown as IndexNamer;
    const corrupt = decodeDelivery(
      { content: Buffer.from('not gzip at all'), properties: { contentType: 'application/json', contentEncoding: 'gzip' } },
      namer,
    );
    const unknown = decodeDelivery({ content: Buffer.from('zstd bytes'), properties: { contentType: 'text/plain', contentEncoding: 'zstd' } }, namer);
    t.deliverPoison(corrupt.poison);
    t.deliverPoison(unknown.poison);
    await t.processor.drain();
    assert.deepEqual(
      t.deadLetters.map((l) => [l.body, l.props.contentType, l.props.contentEncoding]),
      [
        ['not gzip at all', 'application/json', 'gzip'],
        ['zstd bytes', 'text/plain', 'zstd'],
      ],
    );
    assert.deepEqual(t.acked, [1, 2]);
    await t.processor.stop();
  });

  it('a body declared application/json that is not JSON is dead-lettered with its content type, and without an encoding once inflated', async () => {
    const t = setup(byId({}));
    const namer = { nameFor: () => 'i' } as unknown as IndexNamer;
    const gz = decodeDelivery({ content: gzipSync('{"truncated": '), properties: { contentType: 'application/json', contentEncoding: 'gzip' } }, namer);
    t.deliverPoison(gz.poison);
    await t.processor.drain();
    assert.equal(t.deadLetters.length, 1);
    assert.equal(t.deadLetters[0]!.body, '{"truncated": ', 'the inflated body');
    assert.equal(t.deadLetters[0]!.props.contentType, 'application/json');
    assert.equal(t.deadLetters[0]!.props.contentEncoding, undefined, 'the body is no longer gzip');
    await t.processor.stop();
  });

  it('a dead letter larger than MAX_DEAD_LETTER_BYTES is cut to it, with its original size in the truncated property, and acked', async () => {
    const t = setup(byId({}));
    const size = MAX_DEAD_LETTER_BYTES + 1000;
    t.deliverPoison([{ reason: 'x', body: Buffer.alloc(size, 0x61), contentType: 'text/plain' }]);
    await t.processor.drain();
    assert.equal(t.deadLetters.length, 1);
    assert.equal(t.deadLetters[0]!.bytes, MAX_DEAD_LETTER_BYTES);
    assert.equal(t.deadLetters[0]!.props.truncatedFrom, size);
    assert.equal(t.deadLetters[0]!.props.contentType, 'text/plain');
    assert.deepEqual(t.acked, [1]);
    await t.processor.stop();
  });

  it('a dead letter the broker refuses for its size (max_message_size) is not retried as it is: a truncated copy is dead-lettered and the delivery acked', async () => {
    const brokerMax = 1024 * 1024;
    const sizes: number[] = [];
    const t = setup(byId({}), {
      publish: async (body) => {
        sizes.push(body.length);
        if (body.length > brokerMax) {
          throw new LogshipError(ErrorCodes.NOT_CONFIRMED, 'the broker did not confirm a dead letter to exchange "x.dlx": channel closed', {
            cause: new Error(
              `Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - message size ${body.length} is larger than configured max size ${brokerMax}"`,
            ),
          });
        }
      },
    });
    const size = 2 * brokerMax;
    t.deliverPoison([{ reason: 'x', body: Buffer.alloc(size, 0x61) }]);
    await waitFor('acked', () => t.acked.length === 1, 5_000, 1);
    assert.equal(t.deadLetters.length, 1);
    assert.ok(t.deadLetters[0]!.bytes <= brokerMax, `cut short (${t.deadLetters[0]!.bytes} bytes)`);
    assert.equal(t.deadLetters[0]!.props.truncatedFrom, size);
    assert.deepEqual(sizes, [size, t.deadLetters[0]!.bytes], 'refused once, then the truncated copy');
    assert.deepEqual(t.nacked, []);
    await t.processor.stop();
  });

  it('a dead-letter publish that never confirms is given up past the retry budget: the delivery is nacked with requeue, not held', async () => {
    const t = setup(byId({ a: R400 }), { retryTimeoutMs: 50, publish: () => new Promise<void>(() => {}) });
    t.deliver('a');
    await waitFor('the delivery nacked', () => t.nacked.length > 0, 5_000, 1);
    assert.deepEqual(t.nacked, [[1, true]]);
    assert.deepEqual(t.acked, []);
    assert.equal(t.processor.unackedDeliveries, 0, 'not held');
    await t.processor.stop();
  });

  it('an unexpected failure while dead-lettering is logged, never an unhandled rejection', async () => {
    const errors: string[] = [];
    const noop = () => {};
    const logger = { error: (_o: unknown, msg: string) => errors.push(msg), warn: noop, info: noop, debug: noop, fatal: noop } as unknown as Logger;
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      const t = setup(byId({}), {
        logger,
        isLive: () => {
          throw new Error('settler broke');
        },
      });
      t.deliverPoison([{ reason: 'x', body: Buffer.from('p') }]);
      await waitFor('the failure logged', () => errors.some((m) => /dead-lettering failed unexpectedly/.test(m)), 5_000, 1);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(unhandled, []);
      await t.processor.stop();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('dead-letter publisher', () => {
  function fakeConn() {
    const published: Array<{ body: Buffer; options: Record<string, unknown> }> = [];
    const ch = Object.assign(new EventEmitter(), {
      publish(_ex: string, _rk: string, body: Buffer, options: Record<string, unknown>, cb: (err: unknown) => void) {
        published.push({ body, options });
        setImmediate(() => cb(null));
        return true;
      },
      async close() {},
    });
    const conn = { createConfirmChannel: async () => ch } as unknown as RecoveringChannelModel;
    return { conn, published };
  }

  it('publishes the content type, the content encoding and the truncated size of a dead letter as its properties', async () => {
    const { conn, published } = fakeConn();
    const pub = new DeadLetterPublisher(conn, 'x.dlx', 'rk', createLogger({ level: 'silent' }), 'x.dead');
    await pub.publish(Buffer.from('gz'), { type: 'undecodable', reason: 'r' }, { contentType: 'text/plain', contentEncoding: 'gzip', truncatedFrom: 99 });
    await pub.publish(Buffer.from('{}'), { type: 't', reason: 'r' });
    assert.equal(published[0]!.options.contentType, 'text/plain');
    assert.equal(published[0]!.options.contentEncoding, 'gzip');
    assert.equal((published[0]!.options.headers as Record<string, unknown>)['x-logship-truncated'], 99);
    assert.equal(published[1]!.options.contentType, 'application/json');
    assert.equal(published[1]!.options.contentEncoding, undefined);
    assert.equal((published[1]!.options.headers as Record<string, unknown>)['x-logship-truncated'], undefined);
    await pub.close();
  });
});
