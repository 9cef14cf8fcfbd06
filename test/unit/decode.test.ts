import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createIndexNamer } from '@logship/common';
import { decodeDelivery } from '@logship/indexer';

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
