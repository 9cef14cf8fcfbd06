/** The Elasticsearch output against the double: request-level failures are retried, never dead-lettered; a 413 is split, and dead-lettered for a single event. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { createEsClient } from '@logship/common/elasticsearch';
import type { Document } from '@logship/indexer';
import { ElasticsearchOutput } from '@logship/indexer/elasticsearch';
import { DEFAULT_MAX_CONTENT_LENGTH, EsDouble } from '../helpers/es-double.js';

const docs: Document[] = [
  { id: 'a', source: '{"message":"a"}', index: 'out-1' },
  { id: 'b', source: '{"message":"b"}', index: 'out-1' },
];

describe('Elasticsearch output', () => {
  const es = new EsDouble();
  let output: ElasticsearchOutput;
  /** `length` events of about 180 bytes each in a bulk body (six are over a limit of 600 bytes, three fit) */
  const smallBatch = (tag: string, index: string, length = 6): Document[] =>
    Array.from({ length }, (_, i) => ({ id: `${tag}-${i}`, source: JSON.stringify({ message: `${i} ${'x'.repeat(120)}` }), index }));
  /** an output that has seen no 413 yet (each output remembers the sizes answered 413) */
  const freshOutput = () => new ElasticsearchOutput(createEsClient({ esNode: es.url, esUsername: '', esPassword: '', esApiKey: '', esTimeout: 2000 }));
  before(async () => {
    const url = await es.start();
    output = new ElasticsearchOutput(createEsClient({ esNode: url, esUsername: '', esPassword: '', esApiKey: '', esTimeout: 300 }));
  });
  after(async () => {
    await output.close();
    await es.stop();
  });

  it('writes with create and _id = event.id: 201 then 409 on a second write', async () => {
    assert.deepEqual(
      (await output.write(docs)).map((o) => o.kind),
      ['ok', 'ok'],
    );
    assert.deepEqual(
      (await output.write(docs)).map((o) => o.kind),
      ['duplicate', 'duplicate'],
    );
    assert.deepEqual(es.bulks[0]!.ids, ['a', 'b']);
    assert.equal(output.reachable, true);
  });

  it('a timeout is retried for every item', async () => {
    es.setFaults({ latencyMs: 1000 });
    const outcomes = await output.write([{ id: 't', source: '{}', index: 'out-1' }]);
    es.clearFaults();
    assert.equal(outcomes[0]!.kind, 'retry');
    assert.match((outcomes[0] as { reason: string }).reason, /timed out/i);
    assert.equal(output.reachable, false);
  });

  it('a 503 and a refused connection are retried for every item', async () => {
    es.setFaults({ down: '503' });
    const a = await output.write(docs);
    es.setFaults({ down: 'refuse' });
    const b = await output.write(docs);
    es.clearFaults();
    assert.deepEqual(
      [...a, ...b].map((o) => o.kind),
      ['retry', 'retry', 'retry', 'retry'],
    );
    assert.equal((a[0] as { status?: number }).status, 503);
  });

  it('recovers: the next write after the fault succeeds', async () => {
    const outcomes = await output.write([{ id: 'after', source: '{}', index: 'out-1' }]);
    assert.equal(outcomes[0]!.kind, 'ok');
    assert.equal(output.reachable, true);
  });

  it('an answer that stalls after its headers times out (--es-timeout) and is retried for every item: the retry finds them written (409)', async () => {
    // a node that wrote the documents, sent its headers and half its answer, then hung: the client's
    // --es-timeout covers the body too (Node's http in the client's HttpConnection would wait for ever)
    const stalled = [
      { id: 'stall-1', source: '{"message":"s1"}', index: 'out-5' },
      { id: 'stall-2', source: '{"message":"s2"}', index: 'out-5' },
    ];
    const stalledBefore = es.stalledAnswers;
    es.setFaults({ stallBody: true });
    let first: Awaited<ReturnType<ElasticsearchOutput['write']>>;
    let timer: NodeJS.Timeout | undefined;
    try {
      first = await Promise.race([
        output.write(stalled),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('the stalled answer was never given up: the write hangs')), 10_000);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      es.clearFaults();
    }
    // (a late answer of an earlier test may stall too)
    assert.ok(es.stalledAnswers > stalledBefore, 'the headers and half the body were sent');
    assert.deepEqual(
      first.map((o) => o.kind),
      ['retry', 'retry'],
    );
    // undici's body timeout (--es-timeout), not the headers timeout ("Request timed out"): the headers came
    assert.match((first[0] as { reason: string }).reason, /Body Timeout/);
    assert.equal(es.docs('out-5').length, 2, 'the node had written them before it stalled');
    assert.deepEqual(
      (await output.write(stalled)).map((o) => o.kind),
      ['duplicate', 'duplicate'],
    );
  });

  it('a bulk of 5 MB answered 503 is retried at once: the error keeps no redacted copy of the body', async () => {
    // the client's default redaction ('replace') copies an error's request, the bulk body key by
    // key, to redact it: about 4 s of blocked event loop and 800 MB for a bulk of --batch-bytes 5mb
    const batch = Array.from({ length: 10 }, (_, i) => ({ id: `red-${i}`, source: JSON.stringify({ message: 'r'.repeat(500 * 1024) }), index: 'out-7' }));
    es.setFaults({ down: '503' });
    const started = Date.now();
    let outcomes: Awaited<ReturnType<ElasticsearchOutput['write']>>;
    try {
      outcomes = await output.write(batch);
    } finally {
      es.clearFaults();
    }
    const ms = Date.now() - started;
    assert.deepEqual(new Set(outcomes.map((o) => o.kind)), new Set(['retry']));
    assert.ok(ms < 2000, `the failed bulk took ${ms} ms`);
  });

  it('a 413 that comes after the latency fault (a far cluster) is split the same way', async () => {
    es.maxContentLength = 600;
    es.setFaults({ latencyMs: 60 });
    const fresh = freshOutput();
    const refusedBefore = es.tooLarge;
    const started = Date.now();
    try {
      const batch = smallBatch('far', 'out-6');
      const outcomes = await fresh.write(batch);
      assert.deepEqual(
        outcomes.map((o) => o.kind),
        ['ok', 'ok', 'ok', 'ok', 'ok', 'ok'],
      );
      const refused = es.tooLarge - refusedBefore;
      assert.ok(refused >= 1, 'the whole batch was refused first');
      // every answer waited out the latency, the 413s too
      const answers = refused + es.bulks.filter((b) => b.indices[0] === 'out-6').length;
      assert.ok(Date.now() - started >= answers * 60, `${answers} answers in ${Date.now() - started} ms`);
      assert.equal(es.docs('out-6').length, 6);
    } finally {
      es.maxContentLength = DEFAULT_MAX_CONTENT_LENGTH;
      es.clearFaults();
      await fresh.close();
    }
  });

  it('a batch as large as one answered 413 a moment ago is split before it is sent (no 413 again), and one log line says to lower --batch-bytes', async () => {
    // behind a limit (nginx's 1 MB client_max_body_size, a lowered http.max_content_length) every batch would
    // otherwise be sent whole, refused and halved again: 15 requests, 7 of them refused, for 5 MB behind 1 MB
    es.maxContentLength = 600;
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(l) });
    const remembering = new ElasticsearchOutput(createEsClient({ esNode: es.url, esUsername: '', esPassword: '', esApiKey: '', esTimeout: 2000 }), '', {
      logger,
    });
    const batch = (tag: string, length = 6) => smallBatch(tag, 'out-8', length);
    try {
      const refusedBefore = es.tooLarge;
      assert.deepEqual(new Set((await remembering.write(batch('first', 12))).map((o) => o.kind)), new Set(['ok']));
      assert.ok(es.tooLarge - refusedBefore >= 2, 'the first batch and its halves were refused');
      const refusedAfterFirst = es.tooLarge;
      assert.deepEqual(new Set((await remembering.write(batch('second'))).map((o) => o.kind)), new Set(['ok']));
      assert.deepEqual(new Set((await remembering.write(batch('third'))).map((o) => o.kind)), new Set(['ok']));
      assert.equal(es.tooLarge, refusedAfterFirst, 'the next batches were split before they were sent');
      // smaller than the size remembered (about 1.1 KB) and still over the limit: refused, split, and no second line
      assert.deepEqual(new Set((await remembering.write(batch('fourth', 5))).map((o) => o.kind)), new Set(['ok']));
      assert.equal(es.tooLarge, refusedAfterFirst + 1);
      assert.equal(es.docs('out-8').length, 29);
      const advice = lines.map((l) => JSON.parse(l) as { msg: string; refusedBytes?: number; acceptedBytes?: number }).filter((l) => l.refusedBytes);
      assert.equal(advice.length, 1, lines.join(''));
      // the smallest size refused (6 events, about 1.1 KB; the 12 were 2.2 KB) and the largest taken (3 events)
      assert.ok(advice[0]!.refusedBytes! > 600 && advice[0]!.refusedBytes! < 1500, JSON.stringify(advice[0]));
      assert.ok(advice[0]!.acceptedBytes! <= 600, JSON.stringify(advice[0]));
      assert.match(advice[0]!.msg, new RegExp(`set --batch-bytes to ${advice[0]!.acceptedBytes} or less`));
      // one event larger than the size remembered is still sent alone (only its own 413 would dead-letter it)
      es.maxContentLength = DEFAULT_MAX_CONTENT_LENGTH;
      const alone = await remembering.write([{ id: 'alone', source: JSON.stringify({ message: 'z'.repeat(2000) }), index: 'out-8' }]);
      assert.deepEqual(
        alone.map((o) => o.kind),
        ['ok'],
      );
    } finally {
      es.maxContentLength = DEFAULT_MAX_CONTENT_LENGTH;
      await remembering.close();
    }
  });

  it('a 413 is forgotten after a while (a raised limit is found again): the next large batch is sent whole', async () => {
    es.maxContentLength = 600;
    const forgetful = new ElasticsearchOutput(createEsClient({ esNode: es.url, esUsername: '', esPassword: '', esApiKey: '', esTimeout: 2000 }), '', {
      rememberRefusalMs: 50,
    });
    const batch = (tag: string) => smallBatch(tag, 'out-9');
    try {
      await forgetful.write(batch('a'));
      const refused = es.tooLarge;
      await new Promise((r) => setTimeout(r, 120));
      es.maxContentLength = DEFAULT_MAX_CONTENT_LENGTH; // the limit was raised meanwhile
      assert.deepEqual(new Set((await forgetful.write(batch('b'))).map((o) => o.kind)), new Set(['ok']));
      assert.equal(es.tooLarge, refused);
      const whole = es.bulks.filter((b) => b.indices[0] === 'out-9' && b.ids.length === 6);
      assert.equal(whole.length, 1, 'the second batch went as one request');
    } finally {
      es.maxContentLength = DEFAULT_MAX_CONTENT_LENGTH;
      await forgetful.close();
    }
  });

  it('a bulk answered 413 (over http.max_content_length) is split until each part fits: no innocent event is dead-lettered', async () => {
    es.maxContentLength = 600;
    const fresh = freshOutput();
    const refusedBefore = es.tooLarge;
    try {
      const batch = smallBatch('split', 'out-2');
      const outcomes = await fresh.write(batch);
      assert.deepEqual(
        outcomes.map((o) => o.kind),
        ['ok', 'ok', 'ok', 'ok', 'ok', 'ok'],
      );
      assert.ok(es.tooLarge > refusedBefore, 'the whole batch was refused first');
      assert.equal(es.docs('out-2').length, 6);
      assert.equal(fresh.reachable, true, 'a 413 is an answer: Elasticsearch is reachable');
    } finally {
      es.maxContentLength = DEFAULT_MAX_CONTENT_LENGTH;
      await fresh.close();
    }
  });

  it('a bulk of megabytes answered 413 on its headers, while the client still sends it (as Elasticsearch does), is split until each part fits', async () => {
    // Elasticsearch answers as soon as content-length is over http.max_content_length and reads the
    // rest of the body: a client that fails the request when the answer comes before it finished
    // sending (Node's http in the client's HttpConnection, from about 8 MB) would retry it for ever
    es.maxContentLength = 1024 * 1024;
    const refusedBefore = es.tooLarge;
    try {
      const batch = Array.from({ length: 24 }, (_, i) => ({
        id: `mb-${i}`,
        source: JSON.stringify({ message: `${i} ${'m'.repeat(400 * 1024)}` }),
        index: 'out-4',
      }));
      // megabytes take longer to send than this suite's --es-timeout of 300 ms
      const patient = new ElasticsearchOutput(createEsClient({ esNode: es.url, esUsername: '', esPassword: '', esApiKey: '', esTimeout: 30_000 }));
      const outcomes = await patient.write(batch);
      await patient.close();
      assert.deepEqual(new Set(outcomes.map((o) => o.kind)), new Set(['ok']), JSON.stringify(outcomes.filter((o) => o.kind !== 'ok').slice(0, 2)));
      assert.ok(es.tooLarge - refusedBefore >= 4, 'the 9.6 MB batch and its halves down to 1.2 MB were refused first');
      assert.equal(es.docs('out-4').length, 24);
    } finally {
      es.maxContentLength = DEFAULT_MAX_CONTENT_LENGTH;
    }
  });

  it('a single event answered 413 is dead-lettered with status 413 and the reason, never retried', async () => {
    es.maxContentLength = 600;
    const refusedBefore = es.tooLarge;
    try {
      const big = { id: 'big', source: JSON.stringify({ message: 'y'.repeat(1000) }), index: 'out-3' };
      const outcomes = await output.write([
        { id: 'before', source: '{"message":"a"}', index: 'out-3' },
        big,
        { id: 'after', source: '{"message":"b"}', index: 'out-3' },
      ]);
      assert.deepEqual(
        outcomes.map((o) => o.kind),
        ['ok', 'reject', 'ok'],
      );
      const r = outcomes[1] as { status: number; type: string; reason: string };
      assert.equal(r.status, 413);
      assert.equal(r.type, 'request_entity_too_large');
      assert.match(r.reason, /this one event is \d+ bytes.*http\.max_content_length/);
      assert.ok(es.tooLarge - refusedBefore <= 3, `${es.tooLarge - refusedBefore} requests refused: split, not retried`);
      assert.deepEqual(
        es
          .docs('out-3')
          .map((d) => d.id)
          .sort(),
        ['after', 'before'],
      );
      // each outcome in the place of its event, the halves in order; one event too large says nothing about --batch-bytes
      const lines: string[] = [];
      const fresh = new ElasticsearchOutput(createEsClient({ esNode: es.url, esUsername: '', esPassword: '', esApiKey: '', esTimeout: 2000 }), '', {
        logger: pino({ level: 'info' }, { write: (l: string) => lines.push(l) }),
      });
      const first = await fresh.write([
        { ...big, id: 'big-first' },
        { id: 'then-1', source: '{"message":"c"}', index: 'out-3' },
        { id: 'then-2', source: '{"message":"d"}', index: 'out-3' },
      ]);
      const alone = await fresh.write([{ ...big, id: 'big-alone' }]);
      await fresh.close();
      assert.deepEqual(
        [...first, ...alone].map((o) => o.kind),
        ['reject', 'ok', 'ok', 'reject'],
      );
      assert.deepEqual(
        lines.filter((l) => l.includes('refusedBytes')),
        [],
      );
    } finally {
      es.maxContentLength = DEFAULT_MAX_CONTENT_LENGTH;
    }
  });
});
