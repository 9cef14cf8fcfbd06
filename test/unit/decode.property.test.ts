/**
 * Properties of the indexer's decoding boundary, on random deliveries: random
 * bytes, JSON objects deep and wide, logship's own layout, NDJSON, invalid
 * UTF-8, bodies of a few MB; random content types; bodies gzip- or
 * deflate-encoded, corrupt, or in an unknown encoding; random message ids.
 *
 *   - decodeDelivery never throws;
 *   - docs + poison is exactly the number of events the body holds: 1 for a
 *     body that is not NDJSON (or cannot be inflated), one per non-blank line
 *     of an NDJSON body (1 when it has none);
 *   - every document is one line; its source is a JSON object, except on the
 *     fast path of logship's own layout (not parsed: Elasticsearch validates
 *     it), whose source starts with that layout; its index comes from the namer.
 *
 * A failure prints fast-check's seed and path; LOGSHIP_TEST_SEED=<seed> replays it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { createIndexNamer, type IndexNamer } from '@logship/common';
import { decodeDelivery, ownEvent as ownEventRule, scanOwnLayout, type MessageLike } from '@logship/indexer';
import fc from 'fast-check';

const SEED = process.env.LOGSHIP_TEST_SEED ? Number(process.env.LOGSHIP_TEST_SEED) : undefined;
const NUM_RUNS = 1000;

/** A namer that records every name it gave, so a document's index can be checked to come from it. */
function recordingNamer(): IndexNamer & { given: Set<string> } {
  const inner = createIndexNamer('prop-%{+yyyy.MM.dd}');
  const given = new Set<string>();
  return {
    given,
    wildcard: inner.wildcard,
    dynamic: inner.dynamic,
    nameFor(ms: number) {
      const name = inner.nameFor(ms);
      given.add(name);
      return name;
    },
  };
}

// ---- bodies -----------------------------------------------------------------

/** strings with the characters that matter to a JSON scanner: quotes, backslashes, brackets, newlines, lone surrogates */
const nasty = fc.string({
  unit: fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
    { weight: 1, arbitrary: fc.constantFrom('"', '\\', '{', '[', ']', '}', '\n', '\r', '\u2028', '\uD800', '\uFEFF', '\u0000') },
  ),
  maxLength: 60,
});
const hexId = fc.stringMatching(/^[0-9a-f]{32}$/);
const isoTimestamp = fc.date({ min: new Date(0), max: new Date(Date.UTC(2100, 0, 1)), noInvalidDate: true }).map((d) => d.toISOString());
const anyTimestamp = fc.oneof(isoTimestamp, fc.integer(), fc.double(), nasty, fc.constant('2026-13-45T99:99:99.999Z'));

const jsonObject = fc
  .record(
    {
      '@timestamp': anyTimestamp,
      message: nasty,
      event: fc.oneof(fc.record({ id: fc.oneof(hexId, nasty) }, { requiredKeys: [] }), fc.jsonValue({ maxDepth: 2 })),
      fields: fc.dictionary(nasty, fc.jsonValue({ maxDepth: 4 }), { maxKeys: 6 }),
    },
    { requiredKeys: [] },
  )
  .chain((o) => fc.boolean().map((pretty) => JSON.stringify(o, null, pretty ? 2 : undefined)));

/** nesting from 1 to 100,000 levels: arrays, objects, or both alternating, optionally after a valid @timestamp */
const deepJson = fc
  .record({
    depth: fc.oneof(fc.integer({ min: 1, max: 1200 }), fc.integer({ min: 1, max: 100_000 })),
    kind: fc.constantFrom('array', 'object', 'mixed'),
    stamped: fc.boolean(),
  })
  .map(({ depth, kind, stamped }) => {
    const n = Math.max(0, depth - 1);
    const open = kind === 'array' ? '['.repeat(n) : kind === 'object' ? '{"k":'.repeat(n) : '[{"k":'.repeat(n >> 1) + (n % 2 ? '[' : '');
    const close = kind === 'array' ? ']'.repeat(n) : kind === 'object' ? '}'.repeat(n) : (n % 2 ? ']' : '') + '}]'.repeat(n >> 1);
    return `{${stamped ? '"@timestamp":"2026-01-01T00:00:00.000Z",' : ''}"a":${open}1${close}}`;
  });

/** logship's own layout, with a valid, deep or broken rest */
const ownEvent = fc
  .record({
    ts: isoTimestamp,
    message: nasty,
    id: hexId,
    rest: fc.oneof(
      fc.constant(''),
      fc.constant(',"host":{"name":"h"},"input":{"type":"stdin"},"agent":{"type":"logship","version":"0.1.0"},"tags":[],"labels":{}'),
      fc.integer({ min: 900, max: 5000 }).map((d) => `,"x":${'['.repeat(d)}${']'.repeat(d)}`),
      nasty,
    ),
  })
  .map(({ ts, message, id, rest }) => `{"@timestamp":"${ts}","message":${JSON.stringify(message)},"event":{"id":"${id}"}${rest}}`);

/** a few bodies of 0.1 to 3 MB: own events, plain text, JSON objects with one big string */
const big = fc
  .record({ size: fc.integer({ min: 100_000, max: 3_000_000 }), kind: fc.constantFrom('own', 'text', 'json'), id: hexId })
  .map(({ size, kind, id }) => {
    const filler = 'x\\"y'.repeat(size >> 2);
    if (kind === 'own') return `{"@timestamp":"2026-01-01T00:00:00.000Z","message":"${filler}","event":{"id":"${id}"}}`;
    if (kind === 'json') return `{"message":"${filler}"}`;
    return 'x'.repeat(size);
  });

const line = fc.oneof(
  jsonObject,
  ownEvent,
  deepJson.filter((s) => s.length < 20_000),
  nasty,
  nasty.map((s) => `{${s}`),
);
const ndjson = fc
  .record({ lines: fc.array(fc.oneof(line, fc.constantFrom('', '   ', '\r')), { maxLength: 8 }), crlf: fc.boolean(), trailing: fc.boolean() })
  .map(({ lines, crlf, trailing }) => lines.join(crlf ? '\r\n' : '\n') + (trailing ? '\n' : ''));

const invalidUtf8 = fc
  .record({ before: nasty, bad: fc.uint8Array({ minLength: 1, maxLength: 6 }).map((b) => b.map((x) => x | 0x80)), json: fc.boolean() })
  .map(({ before, bad, json }) => {
    const head = Buffer.from(json ? `{"message":"${before.replace(/["\\\n\r]/g, '')}` : before);
    return Buffer.concat([head, Buffer.from([0xff, ...bad]), Buffer.from(json ? '"}' : '')]);
  });

const body: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)) },
  { weight: 4, arbitrary: jsonObject.map((s) => Buffer.from(s)) },
  { weight: 2, arbitrary: deepJson.map((s) => Buffer.from(s)) },
  { weight: 4, arbitrary: ownEvent.map((s) => Buffer.from(s)) },
  { weight: 4, arbitrary: ndjson.map((s) => Buffer.from(s)) },
  { weight: 2, arbitrary: invalidUtf8 },
  { weight: 2, arbitrary: nasty.map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
  { weight: 1, arbitrary: big.map((s) => Buffer.from(s)) },
);

// ---- properties -------------------------------------------------------------

const contentType = fc.oneof(
  fc.constantFrom(
    'application/json',
    'application/x-ndjson',
    'APPLICATION/X-NDJSON; charset=utf-8',
    'text/plain',
    'application/octet-stream',
    'text/json',
    'application/vnd.x+json',
  ),
  fc.constant(undefined),
  nasty,
);

type Encoding =
  | { mode: 'plain'; name: string | undefined }
  | { mode: 'gzip' | 'x-gzip' | 'deflate' | 'deflate-raw' | 'gzip-truncated' | 'gzip-garbage' }
  | { mode: 'unknown'; name: string };
const encoding: fc.Arbitrary<Encoding> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(undefined, '', 'utf-8', 'UTF8', 'identity', ' Binary ').map((name) => ({ mode: 'plain' as const, name })) },
  { weight: 4, arbitrary: fc.constantFrom('gzip', 'x-gzip', 'deflate', 'deflate-raw', 'gzip-truncated', 'gzip-garbage').map((mode) => ({ mode })) },
  { weight: 1, arbitrary: fc.constantFrom('br', 'compress', 'zstd', 'base64', 'gzip, deflate').map((name) => ({ mode: 'unknown' as const, name })) },
);

interface Case {
  plain: Buffer;
  contentType: string | undefined;
  encoding: Encoding;
  appId: string | undefined;
  messageId: string | undefined;
  timestamp: number | undefined;
  garbage: Uint8Array;
}

function encode(c: Case): { content: Buffer; encodingName: string | undefined; inflatable: boolean } {
  const e = c.encoding;
  switch (e.mode) {
    case 'plain':
      return { content: c.plain, encodingName: e.name, inflatable: true };
    case 'gzip':
    case 'x-gzip':
      return { content: zlib.gzipSync(c.plain), encodingName: e.mode, inflatable: true };
    case 'deflate':
      return { content: zlib.deflateSync(c.plain), encodingName: 'deflate', inflatable: true };
    case 'deflate-raw':
      return { content: zlib.deflateRawSync(c.plain), encodingName: 'deflate', inflatable: true };
    case 'gzip-truncated': {
      const gz = zlib.gzipSync(c.plain);
      return { content: gz.subarray(0, gz.length - 1 - (c.garbage.length % (gz.length - 1))), encodingName: 'gzip', inflatable: false };
    }
    case 'gzip-garbage': {
      // never the gzip magic number: certain to be refused
      const g = Buffer.from(c.garbage);
      if (g.length > 0) g[0] = 0;
      return { content: g, encodingName: 'gzip', inflatable: false };
    }
    case 'unknown':
      return { content: c.plain, encodingName: e.name, inflatable: false };
  }
}

/** How many events the body holds: what docs + poison must add up to. */
function expectedEvents(c: Case, content: Buffer, inflatable: boolean): number {
  if (content.length === 0 || !inflatable || c.plain.length === 0) return 1;
  const type = (c.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-ndjson') return 1;
  const lines = c.plain
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim() !== '').length;
  return Math.max(1, lines);
}

const deliveryCase: fc.Arbitrary<Case> = fc.record({
  plain: body,
  contentType,
  encoding,
  appId: fc.constantFrom(undefined, 'logship', 'bunyan'),
  messageId: fc.option(fc.oneof(hexId, nasty), { nil: undefined }),
  timestamp: fc.option(fc.oneof(fc.integer({ min: -1, max: 2 ** 31 }), fc.double(), fc.constant(8.64e15)), { nil: undefined }),
  garbage: fc.uint8Array({ maxLength: 200 }),
});

describe('decoding properties (fast-check)', () => {
  it('every delivery ends as exactly one outcome per event, documents are one line of JSON from the namer, nothing throws', () => {
    fc.assert(
      fc.property(deliveryCase, (c) => {
        const { content, encodingName, inflatable } = encode(c);
        const msg: MessageLike = {
          content,
          properties: { contentType: c.contentType, contentEncoding: encodingName, appId: c.appId, messageId: c.messageId, timestamp: c.timestamp },
        };
        const namer = recordingNamer();
        const d = decodeDelivery(msg, namer); // a throw fails the property

        assert.equal(d.docs.length + d.poison.length, expectedEvents(c, content, inflatable), 'one outcome per event');
        for (const p of d.poison) {
          assert.ok(typeof p.reason === 'string' && p.reason.length > 0, 'poison has a reason');
          assert.ok(Buffer.isBuffer(p.body), 'poison keeps its bytes');
        }
        for (const doc of d.docs) {
          assert.ok(!doc.source.includes('\n'), 'a source is one line');
          assert.ok(namer.given.has(doc.index), `index ${doc.index} comes from the namer`);
          assert.ok(doc.id === undefined || (typeof doc.id === 'string' && doc.id !== ''), 'an id is a non-empty string or none');
          const fast = ownEventRule(doc.source, c.appId);
          if (fast) {
            assert.equal(doc.id, fast.id, 'the fast path takes event.id');
          } else {
            const v: unknown = JSON.parse(doc.source);
            assert.ok(typeof v === 'object' && v !== null && !Array.isArray(v), 'a source is a JSON object');
            const ts = (v as Record<string, unknown>)['@timestamp'];
            assert.ok(typeof ts === 'string' && !Number.isNaN(Date.parse(ts)), 'a document has a valid @timestamp');
          }
        }
      }),
      { numRuns: NUM_RUNS, ...(SEED !== undefined ? { seed: SEED } : {}) },
    );
  });

  it('the linear scan of the own layout recognises exactly what the former regular expression did', () => {
    // the former fast path (it overflows irregexp's stack on a message of about 10 MB); its `.` does not match line terminators
    const OWN_LAYOUT = /^\{"@timestamp":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)","message":"(?:[^"\\]|\\.)*","event":\{"id":"([0-9a-f]{32})"\}/;
    const edit = fc.record({
      at: fc.nat(),
      op: fc.constantFrom('replace', 'insert', 'delete'),
      ch: fc.constantFrom('"', '\\', '{', '}', 'a', 'Z', '0', ':', ',', 'g'),
    });
    fc.assert(
      fc.property(ownEvent, fc.array(edit, { maxLength: 3 }), (valid, edits) => {
        let line = valid;
        for (const e of edits) {
          const at = e.at % (line.length + 1);
          line =
            e.op === 'insert'
              ? line.slice(0, at) + e.ch + line.slice(at)
              : e.op === 'replace'
                ? line.slice(0, at) + e.ch + line.slice(at + 1)
                : line.slice(0, at) + line.slice(at + 1);
        }
        fc.pre(!/[\n\r\u2028\u2029]/.test(line));
        const m = OWN_LAYOUT.exec(line);
        const expected = m && !Number.isNaN(Date.parse(m[1]!)) ? { id: m[2], timestampMs: Date.parse(m[1]!) } : undefined;
        const got = scanOwnLayout(line);
        assert.deepEqual(got && { id: got.id, timestampMs: got.timestampMs }, expected, line.slice(0, 300));
        if (got) assert.equal(line.slice(got.idAt, got.idAt + got.id.length), got.id);
      }),
      { numRuns: 2000, ...(SEED !== undefined ? { seed: SEED } : {}) },
    );
  });

  it('an inflated body decodes exactly as the same body sent uncompressed', () => {
    fc.assert(
      fc.property(body, contentType, fc.constantFrom('gzip', 'deflate'), (plain, ct, enc) => {
        const props = { contentType: ct, messageId: 'm-1', timestamp: 1_700_000_000 };
        const packed = enc === 'gzip' ? zlib.gzipSync(plain) : zlib.deflateSync(plain);
        const a = decodeDelivery({ content: plain, properties: props }, recordingNamer());
        const b = decodeDelivery({ content: packed, properties: { ...props, contentEncoding: enc } }, recordingNamer());
        if (plain.length === 0) return; // empty: poison either way, with the reason worded for each
        assert.deepEqual(
          b.docs.map((x) => [x.id, x.index, x.source]),
          a.docs.map((x) => [x.id, x.index, x.source]),
        );
        assert.deepEqual(
          b.poison.map((p) => p.reason),
          a.poison.map((p) => p.reason),
        );
      }),
      { numRuns: 300, ...(SEED !== undefined ? { seed: SEED } : {}) },
    );
  });
});
