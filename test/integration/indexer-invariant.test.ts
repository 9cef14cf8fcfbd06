/**
 * The indexer's invariant under hostile input: a seeded random mix of good
 * logship events and hostile messages (bodies of several MB, nesting up to
 * 100,000 levels, a gzip bomb, corrupt gzip, empty bodies, invalid UTF-8, a
 * JSON content type on text, an unknown content encoding, random bytes) is
 * published to one running indexer. Every event ends in Elasticsearch or in
 * the dead-letter queue within a bounded time, exactly once; the consumer
 * never stops; the indexer's memory stays bounded.
 *
 * The seed is printed; LOGSHIP_TEST_SEED=<seed> replays the same mix.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { describe, it } from 'node:test';
import { MAX_INFLATED_BYTES } from '@logship/indexer';
import amqp from 'amqplib';
import { AMQP_URL, drainQueue, queueDepth } from '../helpers/amqp.js';
import { bootstrap, stopProcess } from '../helpers/pipeline.js';
import { drained } from '../helpers/file-state.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';
import { seeded } from '../helpers/es-query.js';

const SEED = process.env.LOGSHIP_TEST_SEED ? Number(process.env.LOGSHIP_TEST_SEED) : randomBytes(4).readUInt32BE();
const GOOD = 300;
const MB = 1024 * 1024;
/** generous: three 8 MB events can be in flight at once, each as bytes, string and bulk body */
const RSS_BOUND_MB = 400;
/** every event must be settled within this, once all is published */
const SETTLE_WITHIN_MS = 45_000;

type Expect = 'es' | 'dlq' | 'either';
interface Outgoing {
  what: string;
  body: Buffer;
  props: amqp.Options.Publish;
  /** where each event of the message must end, by its id (the message id, or an NDJSON line's event.id) */
  events: Array<{ id: string; expect: Expect }>;
}

function buildMix(random: () => number): Outgoing[] {
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const hex = () => Array.from({ length: 32 }, () => '0123456789abcdef'[int(0, 15)]).join('');
  let seq = 0;
  const nextId = () => `m-${seq++}`;
  const own = (id: string, message: string, tail = ',"host":{"name":"inv"},"input":{"type":"stdin"},"tags":[],"labels":{}') =>
    `{"@timestamp":"${new Date(Date.UTC(2026, 0, int(1, 28))).toISOString()}","message":${JSON.stringify(message)},"event":{"id":"${id}"}${tail}}`;
  const ownProps = (id: string): amqp.Options.Publish => ({
    persistent: true,
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    messageId: id,
    appId: 'logship',
  });
  const single = (what: string, body: Buffer | string, props: amqp.Options.Publish, expect: Expect): Outgoing => {
    const id = nextId();
    return { what, body: Buffer.isBuffer(body) ? body : Buffer.from(body), props: { persistent: true, messageId: id, ...props }, events: [{ id, expect }] };
  };
  const deep = (levels: number) => `{"a":${'['.repeat(levels - 1)}1${']'.repeat(levels - 1)}}`;

  const out: Outgoing[] = [];
  for (let i = 0; i < GOOD; i++) {
    const id = hex();
    out.push({ what: 'good', body: Buffer.from(own(id, `good event ${i}`)), props: ownProps(id), events: [{ id, expect: 'es' }] });
  }
  // three bodies of 6 to 9 MB: a logship event, plain text, a JSON object sent as octet-stream
  const bigId = hex();
  out.push({ what: 'big own event', body: Buffer.from(own(bigId, 'x'.repeat(int(6, 9) * MB))), props: ownProps(bigId), events: [{ id: bigId, expect: 'es' }] });
  out.push(single('big plain text', 'y'.repeat(int(6, 9) * MB), { contentType: 'text/plain' }, 'es'));
  out.push(
    single('big JSON object as octet-stream', JSON.stringify({ message: 'z'.repeat(int(6, 9) * MB) }), { contentType: 'application/octet-stream' }, 'es'),
  );
  // nesting
  out.push(single('nested 100000 deep', deep(100_000), { contentType: 'application/json' }, 'dlq'));
  out.push(single('nested 1001..100000 deep', deep(int(1001, 100_000)), { contentType: 'application/json' }, 'dlq'));
  out.push(single('nested 6000 deep, no content type', deep(6000), {}, 'dlq'));
  const deepOwn = hex();
  out.push({
    what: 'own event nested 5000 deep after event.id',
    body: Buffer.from(own(deepOwn, 'm', `,"x":${'['.repeat(5000)}${']'.repeat(5000)}`)),
    props: ownProps(deepOwn),
    events: [{ id: deepOwn, expect: 'dlq' }],
  });
  out.push(single('nested 900 deep (accepted)', deep(900), { contentType: 'application/json' }, 'es'));
  // encodings
  out.push(single('gzip bomb', zlib.gzipSync(Buffer.alloc(MAX_INFLATED_BYTES + MB)), { contentType: 'application/json', contentEncoding: 'gzip' }, 'dlq'));
  out.push(single('corrupt gzip', zlib.gzipSync('{"message":"cut short"}').subarray(0, int(5, 20)), { contentEncoding: 'gzip' }, 'dlq'));
  out.push(
    single(
      'good gzip',
      zlib.gzipSync(JSON.stringify({ message: 'inflated', n: int(0, 1e6) })),
      { contentType: 'application/json', contentEncoding: 'gzip' },
      'es',
    ),
  );
  out.push(single('unknown content encoding', '{"message":"br?"}', { contentType: 'application/json', contentEncoding: 'br' }, 'dlq'));
  // bodies
  out.push(single('empty body', Buffer.alloc(0), {}, 'dlq'));
  out.push(single('invalid UTF-8 text', Buffer.from([0x61, 0xff, 0xc3, 0x28, 0x62]), {}, 'es'));
  out.push(
    single(
      'invalid UTF-8 inside JSON',
      Buffer.concat([Buffer.from('{"message":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
      { contentType: 'application/json' },
      'es',
    ),
  );
  out.push(single('JSON content type on text', 'this is not json', { contentType: 'application/json' }, 'dlq'));
  out.push(single('text starting with {', '{not json} just a line', { contentType: 'text/plain' }, 'es'));
  const types = ['application/json', 'text/plain', 'application/octet-stream', undefined, 'application/x-ndjson'];
  for (let i = 0; i < 10; i++) {
    const contentType = types[int(0, types.length - 1)];
    // random bytes with an NDJSON content type may hold several lines: one NDJSON "line" of bytes without newlines keeps one event
    const bytes = Buffer.from(
      Array.from({ length: int(1, 2000) }, () => int(0, 255)).map((b) => (contentType === 'application/x-ndjson' && b === 10 ? 32 : b)),
    );
    out.push(single(`random bytes as ${contentType}`, bytes, contentType ? { contentType } : {}, 'either'));
  }
  // an NDJSON batch of five good lines and one broken one
  const lineIds = Array.from({ length: 5 }, hex);
  const ndjsonId = nextId();
  out.push({
    what: 'NDJSON with a broken line',
    body: Buffer.from([...lineIds.map((id) => own(id, `line ${id}`)), '{"broken":'].join('\n')),
    props: { persistent: true, contentType: 'application/x-ndjson', messageId: ndjsonId, appId: 'logship' },
    events: [...lineIds.map((id) => ({ id, expect: 'es' as const })), { id: `${ndjsonId}/broken`, expect: 'dlq' as const }],
  });
  // shuffle (Fisher-Yates, seeded)
  for (let i = out.length - 1; i > 0; i--) {
    const j = int(0, i);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

describe('indexer invariant under hostile input', { skip: process.env.LOGSHIP_TEST_ES_NODE ? 'counts documents in the double' : false }, () => {
  const pipe = usePipeline();
  const es = pipe.es;

  it('every message of a random hostile mix ends in Elasticsearch or the dead-letter queue, once; the consumer never stops; memory stays bounded', async (t) => {
    console.log(`indexer invariant: seed ${SEED} (LOGSHIP_TEST_SEED=${SEED} replays this mix)`);
    const mix = buildMix(seeded(SEED));
    const total = mix.reduce((s, m) => s + m.events.length, 0);
    const { n, env } = pipe.topology(t, 'invariant');
    await bootstrap(env);
    const p = await pipe.startIndexer(t, env, ['--flush-interval', '100ms']);
    const pid = p.child.pid!;
    let peakRss = rssMb(pid);
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, rssMb(pid));
    }, 50);
    pipe.defer(t, () => clearInterval(sampler));
    const conn = await amqp.connect(AMQP_URL);
    try {
      const ch = await conn.createConfirmChannel();
      for (const m of mix) ch.publish(n.exchange, n.routingKey, m.body, m.props);
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
    const published = Date.now();

    const settled = async () => (await es.count(n.indexWildcard)) + (await queueDepth(n.deadLetterQueue)).messageCount;
    await waitFor(
      `all ${total} events in Elasticsearch or the dead-letter queue (seed ${SEED})`,
      async () => (await settled()) >= total,
      SETTLE_WITHIN_MS,
      200,
    );
    const tookMs = Date.now() - published;
    // the counts are final only once nothing is ready and the indexer holds no delivery (none is requeued later)
    await waitFor(`the queue empty and every delivery settled (seed ${SEED})`, () => drained(n.queue, p.url), SETTLE_WITHIN_MS, 200);

    const health = (await (await fetch(`${p.url}/health`)).json()) as { status: string; inflight: { unackedDeliveries: number } };
    assert.notEqual(health.status, 'down', `the indexer is still up (seed ${SEED})`);
    assert.equal(health.inflight.unackedDeliveries, 0, 'no delivery left unacked');
    const q = await queueDepth(n.queue);
    assert.equal(q.consumerCount, 1, 'the consumer never stopped');
    assert.equal(q.messageCount, 0, 'no message left ready');

    const docs = await es.all(n.indexWildcard);
    const letters = await drainQueue(n.deadLetterQueue);
    assert.equal(docs.length + letters.length, total, `documents + dead letters == events sent (seed ${SEED})`);
    const ids = new Set(docs.map((d) => d.id));
    assert.equal(ids.size, docs.length, 'no event indexed twice');
    const sentIds = new Set(mix.flatMap((m) => m.events.map((e) => e.id)));
    for (const id of ids) assert.ok(sentIds.has(id), `document ${id} comes from a message that was sent`);
    const misplaced = mix.flatMap((m) =>
      m.events
        .filter((e) => (e.expect === 'es' && !ids.has(e.id)) || (e.expect === 'dlq' && ids.has(e.id)))
        .map((e) => `${m.what} (${e.id}): expected ${e.expect}`),
    );
    assert.deepEqual(misplaced, [], `every event where it belongs (seed ${SEED})`);

    const reasons = letters.map((l) => String(l.properties.headers?.['x-logship-error-reason']));
    for (const want of [
      /nested 100000 levels deep/,
      /inflates to more than/,
      /empty message body/,
      /unknown content_encoding "br"/,
      /declared application\/json but is invalid JSON/,
      /content_encoding gzip body is corrupt/,
    ]) {
      assert.ok(
        reasons.some((r) => want.test(r)),
        `a dead letter says ${want}; reasons: ${reasons.join(' | ').slice(0, 2000)}`,
      );
    }
    // poison dead-lettered as received keeps what a replay needs to decode it
    const byReason = (re: RegExp) => letters.find((l) => re.test(String(l.properties.headers?.['x-logship-error-reason'])));
    const br = byReason(/unknown content_encoding "br"/);
    assert.equal(br?.properties.contentEncoding, 'br', 'the unknown encoding kept on its dead letter');
    assert.equal(br?.properties.contentType, 'application/json', 'and its content type');
    assert.equal(byReason(/content_encoding gzip body is corrupt/)?.properties.contentEncoding, 'gzip', 'corrupt gzip keeps its encoding');
    console.log(
      `indexer invariant: ${mix.length} messages, ${total} events: ${docs.length} indexed, ${letters.length} dead-lettered in ${tookMs} ms; indexer peak RSS ${peakRss.toFixed(0)} MB`,
    );
    assert.ok(peakRss < RSS_BOUND_MB, `indexer RSS peaked at ${peakRss.toFixed(0)} MB (bound ${RSS_BOUND_MB} MB)`);

    const res = await stopProcess(p);
    assert.equal(res.code, 0, res.stderr.slice(-4000));
  });
});
