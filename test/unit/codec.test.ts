import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeLine } from '@logship/shipper';

const ctx = { id: 'abc', hostName: 'web-01', inputType: 'stdin', truncated: false };

describe('codec', () => {
  it('plain: the line is the message, in the ECS shape of DESIGN.md', () => {
    const ev = decodeLine('hello', 'plain', ctx);
    assert.equal(ev.message, 'hello');
    assert.deepEqual(ev.event, { id: 'abc' });
    assert.deepEqual(ev.host, { name: 'web-01' });
    assert.deepEqual(ev.input, { type: 'stdin' });
    assert.equal(ev.agent.type, 'logship');
    assert.deepEqual(ev.tags, []);
    assert.deepEqual(ev.labels, {});
    assert.ok(!Number.isNaN(Date.parse(ev['@timestamp'])));
  });

  it('json: fields are kept, logship fields win, a valid @timestamp is kept', () => {
    const ev = decodeLine('{"message":"m","level":"warn","@timestamp":"2026-01-02T03:04:05Z","event":{"id":"spoof","kind":"x"}}', 'json', ctx);
    assert.equal(ev.message, 'm');
    assert.equal(ev.level, 'warn');
    assert.equal(ev['@timestamp'], '2026-01-02T03:04:05.000Z');
    assert.deepEqual(ev.event, { id: 'abc', kind: 'x' });
  });

  it('json: a malformed line keeps the raw line and gets _jsonparsefailure', () => {
    for (const bad of ['{"a":', 'not json', '[1,2]', '42', 'null']) {
      const ev = decodeLine(bad, 'json', ctx);
      assert.equal(ev.message, bad);
      assert.deepEqual(ev.tags, ['_jsonparsefailure'], bad);
    }
  });

  it('a truncated line is tagged _truncated (and is not parsed as JSON)', () => {
    const ev = decodeLine('{"a":1}', 'json', { ...ctx, truncated: true });
    assert.deepEqual(ev.tags, ['_truncated', '_jsonparsefailure']);
  });
});
