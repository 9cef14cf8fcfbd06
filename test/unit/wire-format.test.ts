/**
 * The wire format is one module for both sides: what the shipper publishes
 * (EventWriter and EventFactory bodies through the MessageEncoder, with its
 * properties) takes the indexer's fast path, without a property that costs
 * the broker; messages in the format before v1 are still read the same.
 */
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { createIndexNamer, previousPublishProperties, publishProperties } from '@logship/common';
import { decodeDelivery, type Decoded, type MessageLike } from '@logship/indexer';
import { EventFactory, EventWriter, MessageEncoder, type OutgoingMessage } from '@logship/shipper';

const namer = createIndexNamer('logs-%{+yyyy.MM.dd}');

/** decodes and counts JSON.parse calls: the fast path parses nothing */
function decodeCounting(msg: MessageLike): { decoded: Decoded; parses: number } {
  const parse = mock.method(JSON, 'parse');
  try {
    const decoded = decodeDelivery(msg, namer);
    return { decoded, parses: parse.mock.callCount() };
  } finally {
    parse.mock.restore();
  }
}

/** what a decoding gives the rest of the indexer (a document's own fields are its representation) */
function observed(d: Decoded) {
  return { docs: d.docs.map((x) => ({ id: x.id, index: x.index, source: x.source, raw: x.raw, rawLength: x.rawLength })), poison: d.poison };
}

function asDelivery(m: OutgoingMessage<unknown>): MessageLike {
  return { content: Buffer.from(m.body), properties: m.properties as MessageLike['properties'] };
}

/** messages of the encoder for a few lines, each line once through the byte path and once through the string path */
function shipped(eventsPerMessage: number, filePath?: string): OutgoingMessage<unknown[]>[] {
  const scope = { hostName: 'web-01 "eu"', inputType: filePath ? 'file' : 'stdin', scope: 'run-1', ...(filePath ? { filePath } : {}) };
  const writer = new EventWriter(scope);
  const factory = new EventFactory({ ...scope, codec: 'plain' });
  const enc = new MessageEncoder<unknown>(eventsPerMessage);
  const out: OutgoingMessage<unknown[]>[] = [];
  const lines = ['plain line', 'a "quoted" \\ line with \u00e9 and \t tabs', '{"looks":"like json"}', 'x'.repeat(5000)];
  let n = 0;
  for (const [i, line] of lines.entries()) {
    const bytes = Buffer.from(line);
    const a = enc.addLine(writer, bytes, 0, bytes.length, n++, i === 3);
    if (a) out.push(a);
    const b = enc.add(factory.make(line, n++, i === 3, i === 1 ? ['extra'] : []));
    if (b) out.push(b);
  }
  const rest = enc.flush();
  if (rest) out.push(rest);
  return out;
}

describe('wire format v1', () => {
  it('publishes persistent, mandatory, content_type and message_id only (no timestamp, app_id, content_encoding)', () => {
    assert.deepEqual(publishProperties('m1', false), { persistent: true, mandatory: true, contentType: 'application/json', messageId: 'm1' });
    assert.deepEqual(publishProperties('m2', true), { persistent: true, mandatory: true, contentType: 'application/x-ndjson', messageId: 'm2' });
    for (const m of [...shipped(1), ...shipped(3)]) assert.deepEqual(Object.keys(m.properties).sort(), ['contentType', 'mandatory', 'messageId', 'persistent']);
  });

  for (const [label, perMessage, filePath] of [
    ['one event per message, stdin', 1, undefined],
    ['one event per message, file', 1, '/var/log/app "x".log'],
    ['NDJSON of 3 events, stdin', 3, undefined],
    ['NDJSON of 3 events, file', 3, '/var/log/app.log'],
  ] as const) {
    it(`the shipper's output takes the indexer's fast path without app_id: ${label}`, () => {
      const messages = shipped(perMessage, filePath);
      assert.ok(messages.length >= 2);
      for (const m of messages) {
        const { decoded, parses } = decodeCounting(asDelivery(m));
        assert.equal(parses, 0, 'nothing parsed: the fast path');
        assert.equal(decoded.poison.length, 0);
        assert.equal(decoded.docs.length, m.events);
        const lines = Buffer.from(m.body).toString('utf8').split('\n');
        decoded.docs.forEach((d, i) => {
          assert.equal(d.source, lines[i], 'the event as shipped is the document');
          assert.equal(d.id, (JSON.parse(lines[i]!) as { event: { id: string } }).event.id);
          assert.match(d.index, /^logs-\d{4}\.\d\d\.\d\d$/);
        });
      }
    });
  }

  it('a message in the previous format (timestamp, app_id, content_encoding) is decoded as the same message in v1, on the fast path too', () => {
    for (const m of [...shipped(1), ...shipped(3, '/var/log/a.log')]) {
      const v1 = decodeCounting(asDelivery(m));
      const previous = decodeCounting({
        content: Buffer.from(m.body),
        properties: previousPublishProperties(m.messageId, m.events > 1, Date.UTC(2020, 0, 1)),
      });
      assert.deepEqual(observed(previous.decoded), observed(v1.decoded));
      assert.equal(previous.parses, 0);
    }
  });

  it('a previous-format message whose event lacks the agent (another writer of the layout) still takes the fast path by its app_id', () => {
    const body = `{"@timestamp":"2026-02-03T04:05:06.789Z","message":"m","event":{"id":"${'ab'.repeat(16)}"}}`;
    const { decoded, parses } = decodeCounting({ content: Buffer.from(body), properties: previousPublishProperties('x', false) });
    assert.equal(parses, 0);
    assert.deepEqual(
      decoded.docs.map((d) => [d.id, d.source]),
      [['ab'.repeat(16), body]],
    );
  });

  it("a foreign JSON message that starts in the layout but is not logship's (no agent, no app_id) is parsed, not taken as is", () => {
    const body = `{"@timestamp":"2026-02-03T04:05:06.789Z","message":"m","event":{"id":"${'ab'.repeat(16)}"},"agent":{"type":"filebeat"}}`;
    const { decoded, parses } = decodeCounting({ content: Buffer.from(body), properties: { contentType: 'application/json', messageId: 'x' } });
    assert.ok(parses > 0, 'the general path parsed it');
    assert.equal(decoded.docs[0]!.id, 'ab'.repeat(16));
  });
});
