import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { createDataStreamNamer, createIndexNamer } from '@logship/common';
import zlib from 'node:zlib';
import { MAX_INFLATED_BYTES, buildBulkBody, decodeDelivery } from '@logship/indexer';

const namer = createIndexNamer('logs-%{+yyyy.MM.dd}');
const msg = (content: string | Buffer, properties: Record<string, unknown> = {}) => ({
  content: Buffer.isBuffer(content) ? content : Buffer.from(content),
  properties,
});

describe('decoding deliveries', () => {
  it('a logship event is reused as is, with its id and the index of its @timestamp', () => {
    const body = '{"@timestamp":"2026-11-21T23:59:59.000Z","message":"m","event":{"id":"e1"}}';
    const d = decodeDelivery(msg(body, { contentType: 'application/json', messageId: 'e1' }), namer);
    assert.equal(d.poison.length, 0);
    assert.deepEqual(d.docs, [{ id: 'e1', source: body, index: 'logs-2026.11.21' }]);
  });

  it('NDJSON bodies give one document per line, each with its own id; bad lines are poison', () => {
    const body = ['{"@timestamp":"2026-01-01T00:00:00.000Z","event":{"id":"a"}}', '{"@timestamp":"2026-01-02T00:00:00.000Z","event":{"id":"b"}}', '{oops'].join(
      '\n',
    );
    const d = decodeDelivery(msg(body, { contentType: 'application/x-ndjson', messageId: 'batch' }), namer);
    assert.deepEqual(
      d.docs.map((x) => [x.id, x.index]),
      [
        ['a', 'logs-2026.01.01'],
        ['b', 'logs-2026.01.02'],
      ],
    );
    assert.equal(d.poison.length, 1);
    assert.match(d.poison[0]!.reason, /invalid JSON/);
  });

  it('a Logstash JSON event without event.id takes the message id, or none (ES generates one)', () => {
    const body = '{"message":"from logstash","@version":"1","@timestamp":"2026-03-04T05:06:07.000Z"}';
    const withId = decodeDelivery(msg(body, { messageId: 'm-1' }), namer).docs[0]!;
    assert.equal(withId.id, 'm-1');
    assert.deepEqual(JSON.parse(withId.source).event, { id: 'm-1' });
    const without = decodeDelivery(msg(body), namer).docs[0]!;
    assert.equal(without.id, undefined);
    assert.equal(without.index, 'logs-2026.03.04');
  });

  it('a plain-text body (syslog-ng amqp destination) becomes a message, timestamped from the AMQP property', () => {
    const d = decodeDelivery(msg('<13>Nov 21 10:00:00 host app: hello\n', { timestamp: Date.UTC(2026, 4, 6) / 1000 }), namer);
    const src = JSON.parse(d.docs[0]!.source);
    assert.equal(src.message, '<13>Nov 21 10:00:00 host app: hello');
    assert.equal(src['@timestamp'], '2026-05-06T00:00:00.000Z');
    assert.equal(d.docs[0]!.index, 'logs-2026.05.06');
  });

  it('a missing or invalid @timestamp is set, pretty-printed JSON is put on one line', () => {
    const d = decodeDelivery(msg('{\n  "message": "x",\n  "@timestamp": "yesterday"\n}', { contentType: 'application/json' }), namer);
    const source = d.docs[0]!.source;
    assert.ok(!source.includes('\n'));
    assert.ok(!Number.isNaN(Date.parse(JSON.parse(source)['@timestamp'])));
  });

  it('a body declared JSON that does not parse, and an empty body, are poison with a reason', () => {
    const bad = decodeDelivery(msg('{"a":', { contentType: 'application/json' }), namer);
    assert.equal(bad.docs.length, 0);
    assert.match(bad.poison[0]!.reason, /declared application\/json but is invalid JSON/);
    const empty = decodeDelivery(msg(''), namer);
    assert.match(empty.poison[0]!.reason, /empty/);
  });
});

describe('the decoding boundary: no message can crash or stall the consumer', () => {
  const ownId = 'ab'.repeat(16);
  const own = (message: string, rest = '') => `{"@timestamp":"2026-02-03T04:05:06.789Z","message":${JSON.stringify(message)},"event":{"id":"${ownId}"}${rest}}`;
  const ownProps = { contentType: 'application/json', contentEncoding: 'utf-8', messageId: ownId, appId: 'logship' };
  const deep = (levels: number, inner = '1') => `{"a":${'['.repeat(levels - 1)}${inner}${']'.repeat(levels - 1)}}`;

  it('an own event with a 12 MB message is taken by the linear scan, without the stack overflow of a regular expression', () => {
    const body = own('x'.repeat(12 * 1024 * 1024));
    const d = decodeDelivery(msg(body, ownProps), namer);
    assert.equal(d.poison.length, 0);
    assert.equal(d.docs.length, 1);
    assert.equal(d.docs[0]!.id, ownId);
    assert.equal(d.docs[0]!.index, 'logs-2026.02.03');
    assert.equal(d.docs[0]!.source.length, body.length);
  });

  it('a foreign JSON object nested 6000 or 100000 levels deep is dead-lettered with its depth, never thrown', () => {
    for (const levels of [6000, 100_000]) {
      const body = deep(levels);
      const d = decodeDelivery(msg(body, { contentType: 'application/json', messageId: 'm' }), namer);
      assert.equal(d.docs.length, 0);
      assert.equal(d.poison.length, 1);
      assert.equal(d.poison[0]!.reason, `nested ${levels} levels deep; Elasticsearch refuses documents nested deeper than 1000`);
      assert.equal(d.poison[0]!.body.toString(), body);
    }
    // one deep line of an NDJSON body is poison, the others are documents
    const ndjson = [
      '{"@timestamp":"2026-01-01T00:00:00.000Z","event":{"id":"a"}}',
      deep(5000),
      '{"@timestamp":"2026-01-01T00:00:00.000Z","event":{"id":"b"}}',
    ].join('\n');
    const d = decodeDelivery(msg(ndjson, { contentType: 'application/x-ndjson' }), namer);
    assert.deepEqual(
      d.docs.map((x) => x.id),
      ['a', 'b'],
    );
    assert.match(d.poison[0]!.reason, /nested 5000 levels deep/);
  });

  it('a body nested 8 million levels deep is dead-lettered by its depth before it is parsed: an indexer with a 256 MB heap survives it', () => {
    // JSON.parse would build the whole tree first (about 1 GB for these 16 MB), and the indexer would
    // die of it, then again on each redelivery; the depth is measured first, by a scan of the text
    const script = `
      import { createIndexNamer } from '@logship/common';
      import { decodeDelivery } from '@logship/indexer';
      const n = 8_000_000;
      for (const [contentType, body] of [
        ['application/json', '{"a":' + '['.repeat(n) + ']'.repeat(n) + '}'],
        ['application/x-ndjson', '{"event":{"id":"a"}}\\n{"a":' + '['.repeat(n) + ']'.repeat(n) + '}\\n{"event":{"id":"b"}}'],
        [undefined, '{"a":' + '{"k":'.repeat(n) + '1' + '}'.repeat(n) + '}'],
      ]) {
        const d = decodeDelivery({ content: Buffer.from(body), properties: { contentType } }, createIndexNamer('logs-%{+yyyy.MM.dd}'));
        console.log(JSON.stringify({ docs: d.docs.map((x) => x.id), poison: d.poison.map((p) => p.reason) }));
      }`;
    const r = spawnSync(process.execPath, ['--max-old-space-size=256', '--conditions=logship-source', '--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, `the decoding process died (${r.signal ?? r.status}): ${r.stderr.slice(-600)}`);
    const reason = 'nested 8000001 levels deep; Elasticsearch refuses documents nested deeper than 1000';
    assert.deepEqual(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
      [
        { docs: [], poison: [reason] },
        { docs: ['a', 'b'], poison: [reason] },
        { docs: [], poison: [reason] },
      ],
    );
  });

  it('nesting up to 1000 levels is accepted, 1001 is dead-lettered (what Elasticsearch refuses)', () => {
    const ok = decodeDelivery(msg(deep(1000), { contentType: 'application/json' }), namer);
    assert.equal(ok.docs.length, 1);
    assert.equal(JSON.parse(ok.docs[0]!.source).a.flat(Number.POSITIVE_INFINITY)[0], 1);
    const tooDeep = decodeDelivery(msg(deep(1001), { contentType: 'application/json' }), namer);
    assert.match(tooDeep.poison[0]!.reason, /nested 1001 levels deep/);
    // brackets inside strings are not nesting
    const brackets = decodeDelivery(msg(`{"message":"${'['.repeat(5000)}"}`, { contentType: 'application/json' }), namer);
    assert.equal(brackets.docs.length, 1);
  });

  it('an own event whose fields after event.id nest deeper than 1000 levels is dead-lettered by the fast path', () => {
    const body = own('m', `,"x":${'['.repeat(2000)}${']'.repeat(2000)}`);
    const d = decodeDelivery(msg(body, ownProps), namer);
    assert.equal(d.docs.length, 0);
    assert.match(d.poison[0]!.reason, /nested 2001 levels deep/);
  });

  it('an unexpected throw inside decoding (a namer that throws) becomes a dead letter with the reason, not a crash', () => {
    const throwing = {
      wildcard: 'x-*',
      dynamic: true,
      nameFor(): string {
        throw new Error('namer exploded');
      },
    };
    for (const [body, props] of [
      [own('m'), ownProps],
      ['{"message":"foreign"}', {}],
      ['plain text', {}],
    ] as const) {
      const d = decodeDelivery(msg(body, props), throwing);
      assert.equal(d.docs.length, 0);
      assert.equal(d.poison.length, 1);
      assert.match(d.poison[0]!.reason, /cannot be decoded: namer exploded/);
      assert.equal(d.poison[0]!.body.toString(), body);
    }
    // NDJSON: each line on its own, so the count of outcomes stays one per line
    const d = decodeDelivery(msg('{"a":1}\n{"b":2}\n', { contentType: 'application/x-ndjson' }), throwing);
    assert.equal(d.poison.length, 2);
    assert.match(d.poison[1]!.reason, /NDJSON line cannot be decoded: namer exploded/);
    assert.equal(d.poison[1]!.body.toString(), '{"b":2}');
  });
});

describe("logship's own single events keep the body's bytes", () => {
  const ownId = 'cd'.repeat(16);
  // the previous format's app_id makes the layout logship's own (no agent needed in these short bodies)
  const props = { contentType: 'application/json', appId: 'logship' };
  const own = (message: string) => `{"@timestamp":"2026-02-03T04:05:06.789Z","message":${JSON.stringify(message)},"event":{"id":"${ownId}"}}`;
  const bulkSource = (docs: Parameters<typeof buildBulkBody>[0]) => buildBulkBody(docs).toString().split('\n')[1];

  it('an ASCII body is the source as bytes (the delivery body itself), with its id and index, and written to the bulk body as is', () => {
    const content = Buffer.from(own('plain ascii'));
    const d = decodeDelivery({ content, properties: props }, namer);
    const doc = d.docs[0]!;
    assert.deepEqual(doc.raw, content);
    assert.equal(doc.rawLength, content.length);
    assert.equal(doc.id, ownId);
    assert.equal(doc.index, 'logs-2026.02.03');
    assert.equal(doc.source, content.toString());
    assert.equal(bulkSource(d.docs), content.toString());
  });

  it('an event keeps a copy of its body, never the socket block the body is a view of (one retrying event would keep all of it)', () => {
    // amqplib hands over each body as a view of the block it read from the socket
    const text = own('in a block');
    const block = Buffer.alloc(65536, 0x20);
    block.write(text, 1000);
    const d = decodeDelivery({ content: block.subarray(1000, 1000 + text.length), properties: props }, namer);
    const raw = d.docs[0]!.raw!;
    assert.notEqual(raw.buffer, block.buffer);
    assert.ok(raw.buffer.byteLength <= 8192, `keeps ${raw.buffer.byteLength} bytes`);
    block.fill(0);
    assert.equal(d.docs[0]!.source, text, 'the bytes are its own');
  });

  it('a body with other characters than ASCII, or invalid UTF-8, keeps its decoded text (the replacement characters included)', () => {
    const invalid = Buffer.from(own('bad X'));
    invalid[invalid.indexOf('X')] = 0xff;
    for (const content of [Buffer.from(own('caf\u00e9 \u20ac')), invalid]) {
      const d = decodeDelivery({ content, properties: props }, namer);
      const doc = d.docs[0]!;
      assert.equal(doc.raw, undefined, 'kept as text');
      assert.equal(doc.rawLength, undefined);
      assert.equal(doc.id, ownId);
      assert.equal(doc.source, content.toString());
      assert.equal(bulkSource(d.docs), content.toString());
    }
  });

  it('a source set after decoding (--data-stream fields) replaces the bytes, in the bulk body too', () => {
    const content = Buffer.from(own('to a data stream'));
    const d = decodeDelivery({ content, properties: props }, createDataStreamNamer('logs-app-default'));
    const doc = d.docs[0]!;
    assert.equal(doc.raw, undefined);
    assert.match(doc.source, /,"data_stream":\{"type":"logs","dataset":"app","namespace":"default"\}\}$/);
    assert.equal(bulkSource(d.docs), doc.source);
  });
});

describe('AMQP properties out of range', () => {
  it('an AMQP timestamp beyond the range of a date does not throw: the document takes the current time', () => {
    const before = Date.now();
    for (const timestamp of [8.64e15 + 1, Number.MAX_VALUE]) {
      const d = decodeDelivery(msg('plain line', { timestamp }), namer);
      assert.equal(d.poison.length, 0);
      const ts = Date.parse(JSON.parse(d.docs[0]!.source)['@timestamp']);
      assert.ok(ts >= before && ts <= Date.now() + 1000);
    }
  });
});

describe('content encodings', () => {
  const event = { '@timestamp': '2026-04-05T06:07:08.000Z', message: 'compressed', event: { id: 'z1' } };
  const json = JSON.stringify(event);

  it('gzip, x-gzip and deflate (zlib or raw) bodies are inflated, whatever the case of the encoding', () => {
    const cases: Array<[string, Buffer]> = [
      ['gzip', zlib.gzipSync(json)],
      ['X-GZIP', zlib.gzipSync(json)],
      ['deflate', zlib.deflateSync(json)],
      ['Deflate', zlib.deflateRawSync(json)],
    ];
    for (const [contentEncoding, body] of cases) {
      const d = decodeDelivery(msg(body, { contentType: 'application/json', contentEncoding }), namer);
      assert.deepEqual(d.poison, [], contentEncoding);
      assert.deepEqual(d.docs, [{ id: 'z1', source: json, index: 'logs-2026.04.05' }], contentEncoding);
    }
    // NDJSON inflated, then one document per line
    const nd = decodeDelivery(
      msg(zlib.gzipSync(`${json}\n${json.replace('z1', 'z2')}\n`), { contentType: 'application/x-ndjson', contentEncoding: 'gzip' }),
      namer,
    );
    assert.deepEqual(
      nd.docs.map((x) => x.id),
      ['z1', 'z2'],
    );
  });

  it('utf-8, utf8, identity and no content_encoding mean an uncompressed body (logship sends utf-8)', () => {
    for (const contentEncoding of ['utf-8', 'UTF8', 'identity', '', undefined]) {
      const d = decodeDelivery(msg(json, { contentType: 'application/json', contentEncoding }), namer);
      assert.equal(d.docs[0]?.source, json, String(contentEncoding));
    }
  });

  it('a gzip bomb past 64 MiB, a corrupt gzip body and an unknown content_encoding are dead-lettered with the reason', () => {
    const bomb = zlib.gzipSync(Buffer.alloc(MAX_INFLATED_BYTES + 1, 0x20));
    const b = decodeDelivery(msg(bomb, { contentEncoding: 'gzip' }), namer);
    assert.equal(b.docs.length, 0);
    assert.match(b.poison[0]!.reason, /content_encoding gzip body inflates to more than 67108864 bytes/);
    assert.equal(b.poison[0]!.body, bomb, 'the dead letter keeps the body as received');

    const corrupt = zlib.gzipSync(json).subarray(0, 20);
    assert.match(decodeDelivery(msg(corrupt, { contentEncoding: 'gzip' }), namer).poison[0]!.reason, /content_encoding gzip body is corrupt/);
    assert.match(decodeDelivery(msg(Buffer.from('not deflate at all'), { contentEncoding: 'deflate' }), namer).poison[0]!.reason, /deflate body is corrupt/);

    const unknown = decodeDelivery(msg(json, { contentType: 'application/json', contentEncoding: 'br' }), namer);
    assert.equal(unknown.docs.length, 0);
    assert.match(unknown.poison[0]!.reason, /unknown content_encoding "br"/);
  });

  it('a body that inflates to nothing is dead-lettered as empty', () => {
    const d = decodeDelivery(msg(zlib.gzipSync(''), { contentEncoding: 'gzip' }), namer);
    assert.match(d.poison[0]!.reason, /empty message body/);
  });
});

describe('JSON objects whatever the content type', () => {
  const body = '{"@timestamp":"2026-06-07T08:09:10.000Z","message":"from bunyan","level":30,"name":"app"}';

  it('a JSON object body is decoded as JSON with text/plain, application/octet-stream (node-amqp) or no content type', () => {
    for (const contentType of ['text/plain', 'application/octet-stream', undefined, 'text/plain; charset=utf-8']) {
      const d = decodeDelivery(msg(`  ${body}\n`, { contentType }), namer);
      assert.equal(d.docs.length, 1, String(contentType));
      const src = JSON.parse(d.docs[0]!.source);
      assert.equal(src['@timestamp'], '2026-06-07T08:09:10.000Z', String(contentType));
      assert.equal(src.message, 'from bunyan');
      assert.equal(src.level, 30);
      assert.equal(d.docs[0]!.index, 'logs-2026.06.07');
    }
  });

  it('a line that starts with { but is not JSON, without a JSON content type, stays a plain-text log line', () => {
    for (const contentType of ['text/plain', undefined]) {
      const d = decodeDelivery(msg('{not json} but a log line', { contentType }), namer);
      assert.equal(d.poison.length, 0);
      assert.equal(JSON.parse(d.docs[0]!.source).message, '{not json} but a log line');
    }
  });

  it('a JSON body with a byte order mark is decoded; +json and text/json content types count as JSON', () => {
    const bom = decodeDelivery(msg(`\uFEFF${body}`, { contentType: 'application/json' }), namer);
    assert.equal(JSON.parse(bom.docs[0]!.source).message, 'from bunyan');
    const vendor = decodeDelivery(msg('[1,2]', { contentType: 'application/vnd.app+json' }), namer);
    assert.match(vendor.poison[0]!.reason, /declared application\/vnd.app\+json but is JSON array/);
  });

  it('invalid UTF-8 in plain text is kept, replaced and tagged _invalidutf8', () => {
    const d = decodeDelivery(msg(Buffer.from([0x61, 0xff, 0xfe, 0x62])), namer);
    const src = JSON.parse(d.docs[0]!.source);
    assert.equal(src.message, 'a\uFFFD\uFFFDb');
    assert.deepEqual(src.tags, ['_invalidutf8']);
  });
});
