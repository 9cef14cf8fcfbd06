/** The bulk outcome table applied by the batch processor, with a scripted output. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createIndexerMetrics, createLogger, createRegistry } from '@logship/common';
import { BatchProcessor, type DeadLetterPublisher, type Delivery, type Document, type ItemOutcome, type Output } from '@logship/indexer';

type Script = (doc: Document, attempt: number) => ItemOutcome;

class ScriptedOutput implements Output {
  readonly name = 'scripted';
  readonly reachable = true;
  readonly requests: string[][] = [];
  private attempts = new Map<string, number>();
  constructor(private readonly script: Script) {}
  async write(docs: readonly Document[]): Promise<ItemOutcome[]> {
    this.requests.push(docs.map((d) => d.id!));
    return docs.map((d) => {
      const n = (this.attempts.get(d.id!) ?? 0) + 1;
      this.attempts.set(d.id!, n);
      return this.script(d, n);
    });
  }
  async close() {}
}

function setup(script: Script, overrides: Partial<{ retryTimeoutMs: number; batchSize: number; dlqFails: number }> = {}) {
  const output = new ScriptedOutput(script);
  const acked: number[] = [];
  const nacked: Array<[number, boolean]> = [];
  const deadLetters: Array<{ body: string; headers: Record<string, unknown> }> = [];
  let dlqFails = overrides.dlqFails ?? 0;
  const fakeDlq = {
    async publish(body: Buffer, why: { type: string; reason: string; status?: number }) {
      if (dlqFails-- > 0) throw new Error('channel closed');
      deadLetters.push({ body: body.toString(), headers: why });
    },
  } as unknown as DeadLetterPublisher;
  const processor = new BatchProcessor({
    output,
    deadLetters: fakeDlq,
    settler: {
      ack: (d) => {
        acked.push(d.msg.fields.deliveryTag);
        return true;
      },
      nack: (d, requeue) => {
        nacked.push([d.msg.fields.deliveryTag, requeue]);
        return true;
      },
      isLive: () => true,
    },
    metrics: createIndexerMetrics(createRegistry(false)),
    logger: createLogger({ level: 'silent' }),
    batchSize: overrides.batchSize ?? 100,
    batchBytes: 5 * 1024 * 1024,
    flushIntervalMs: 5,
    retryBackoffMs: 2,
    retryMaxBackoffMs: 10,
    retryTimeoutMs: overrides.retryTimeoutMs ?? 60_000,
  });
  processor.start();
  let tag = 0;
  const deliver = (...ids: string[]) => {
    const d = { msg: { fields: { deliveryTag: ++tag } }, channel: {}, remaining: 0, settled: false, receivedAt: Date.now() } as unknown as Delivery;
    processor.add(d, { docs: ids.map((id) => ({ id, source: JSON.stringify({ id }), index: 'i' })), poison: [] });
    return d;
  };
  return { output, processor, acked, nacked, deadLetters, deliver };
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
    await t.processor.drain();
    assert.deepEqual(t.acked, [1]);
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
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(t.acked, [], 'not acked while y is retried');
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
    assert.deepEqual(t.acked, [1]);
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
