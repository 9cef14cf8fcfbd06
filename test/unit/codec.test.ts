import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEventTimestamp } from '@logship/common';
import { EventFactory, MAX_JSON_DEPTH, eventFromLine } from '@logship/shipper';

const ctx = { id: 'abc', hostName: 'web-01', inputType: 'stdin', truncated: false };
const fileCtx = { ...ctx, inputType: 'file', filePath: '/var/log/app.log', offset: 42 };

/** the event of one json line, as a plain object */
function json(line: unknown, c: typeof ctx | typeof fileCtx = ctx): Record<string, unknown> {
  return eventFromLine(typeof line === 'string' ? line : JSON.stringify(line), 'json', c) as Record<string, unknown>;
}

const isNow = (iso: unknown) => typeof iso === 'string' && Math.abs(Date.parse(iso) - Date.now()) < 60_000;

describe('codec', () => {
  it('plain: the line is the message, in the ECS shape of docs/DESIGN.md', () => {
    const ev = eventFromLine('hello', 'plain', ctx);
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
    const ev = eventFromLine('{"message":"m","level":"warn","@timestamp":"2026-01-02T03:04:05Z","event":{"id":"spoof","kind":"x"}}', 'json', ctx);
    assert.equal(ev.message, 'm');
    assert.equal(ev.level, 'warn');
    assert.equal(ev['@timestamp'], '2026-01-02T03:04:05.000Z');
    assert.deepEqual(ev.event, { id: 'abc', kind: 'x' });
  });

  it('json: a malformed line keeps the raw line and gets _jsonparsefailure', () => {
    for (const bad of ['{"a":', 'not json', '[1,2]', '42', 'null']) {
      const ev = eventFromLine(bad, 'json', ctx);
      assert.equal(ev.message, bad);
      assert.deepEqual(ev.tags, ['_jsonparsefailure'], bad);
    }
  });

  it('a truncated line is tagged _truncated (and is not parsed as JSON)', () => {
    const ev = eventFromLine('{"a":1}', 'json', { ...ctx, truncated: true });
    assert.deepEqual(ev.tags, ['_truncated', '_jsonparsefailure']);
  });
});

describe('json codec: a line nested too deep', () => {
  it('a line nested 5000 deep is shipped as its raw text, tagged _jsonparsefailure and _jsontoodeep, never thrown', () => {
    for (const line of [`${'['.repeat(5000)}${']'.repeat(5000)}`, `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`, `{"x":${'['.repeat(100_000)}`]) {
      const ev = eventFromLine(line, 'json', ctx);
      assert.equal(ev.message, line);
      assert.deepEqual(ev.tags, ['_jsonparsefailure', '_jsontoodeep']);
    }
  });

  it('the event factory serializes a too-deep line and counts it as a json failure', () => {
    const factory = new EventFactory({ hostName: 'h', inputType: 'stdin', codec: 'json', scope: 'run' });
    const line = `{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`;
    const made = factory.make(line, 7, false);
    assert.equal(made.jsonFailure, true);
    const ev = JSON.parse(made.json) as { message: string; tags: string[] };
    assert.equal(ev.message, line);
    assert.deepEqual(ev.tags, ['_jsonparsefailure', '_jsontoodeep']);
  });

  it(`${MAX_JSON_DEPTH} levels are parsed; one more is too deep; brackets in strings do not count`, () => {
    const at = (d: number) => `{"a":${'['.repeat(d - 1)}${']'.repeat(d - 1)}}`;
    assert.deepEqual(json(at(MAX_JSON_DEPTH)).tags, []);
    assert.deepEqual(json(at(MAX_JSON_DEPTH + 1)).tags, ['_jsonparsefailure', '_jsontoodeep']);
    const inString = { message: '['.repeat(5000), b: '"{\\'.repeat(2000) };
    const ev = json(inString);
    assert.deepEqual(ev.tags, []);
    assert.equal(ev.message, inString.message);
  });
});

describe("json codec: fields that collide with logship's own (README table, one test per row)", () => {
  it('@timestamp: ISO-8601 with a real date is kept as UTC; without a zone it is UTC; a date alone is midnight', () => {
    const cases: Array<[string, string]> = [
      ['2026-01-02T03:04:05Z', '2026-01-02T03:04:05.000Z'],
      ['2026-01-02T03:04:05.123456789+01:00', '2026-01-02T02:04:05.123Z'],
      ['2026-01-02T03:04:05-0230', '2026-01-02T05:34:05.000Z'],
      ['2026-01-02 03:04:05,5+02', '2026-01-02T01:04:05.500Z'],
      ['2026-01-02T03:04:05', '2026-01-02T03:04:05.000Z'],
      ['2026-01-02T03:04', '2026-01-02T03:04:00.000Z'],
      ['2026-01-02', '2026-01-02T00:00:00.000Z'],
      ['2024-02-29T12:00:00Z', '2024-02-29T12:00:00.000Z'],
      ['0099-06-01T00:00:00Z', '0099-06-01T00:00:00.000Z'],
    ];
    for (const [value, want] of cases) {
      const ev = json({ '@timestamp': value, message: 'm' });
      assert.equal(ev['@timestamp'], want, value);
      assert.deepEqual(ev.tags, [], value);
      assert.equal(ev['_@timestamp'], undefined, value);
    }
  });

  it('@timestamp: a number is an epoch, seconds below 1e11 (fractions kept to the ms), milliseconds above', () => {
    const cases: Array<[number, string]> = [
      [1700000000, '2023-11-14T22:13:20.000Z'],
      [1700000000.25, '2023-11-14T22:13:20.250Z'],
      [1700000000123, '2023-11-14T22:13:20.123Z'],
      [0, '1970-01-01T00:00:00.000Z'],
      [-86400, '1969-12-31T00:00:00.000Z'],
    ];
    for (const [value, want] of cases) {
      const ev = json({ '@timestamp': value });
      assert.equal(ev['@timestamp'], want, String(value));
      assert.deepEqual(ev.tags, [], String(value));
    }
  });

  it('@timestamp: anything else gets the time read, tag _timestampparsefailure and the original in _@timestamp', () => {
    const bad: unknown[] = [
      '2026-02-30',
      '2026-02-30T00:00:00Z',
      '2025-02-29',
      '2026-13-01',
      '2026-01-01T24:00:00Z',
      '2026-01-01T23:60:00Z',
      '2026-01-01T23:59:60Z',
      '2026-01-01T00:00:00+25:00',
      '12',
      '1700000000',
      'yesterday',
      '',
      '0000-01-01',
      '2026-1-2',
      true,
      { $date: 1 },
      [2026, 1, 2],
      1e20,
      '../../etc/passwd',
    ];
    for (const value of bad) {
      const ev = json({ '@timestamp': value, message: 'm' });
      assert.ok(isNow(ev['@timestamp']), `${JSON.stringify(value)} -> ${String(ev['@timestamp'])}`);
      assert.deepEqual(ev.tags, ['_timestampparsefailure'], JSON.stringify(value));
      assert.deepEqual(ev['_@timestamp'], value, JSON.stringify(value));
    }
  });

  it('@timestamp: missing or null is the time read, with no tag', () => {
    for (const line of [{ message: 'm' }, { message: 'm', '@timestamp': null }]) {
      const ev = json(line);
      assert.ok(isNow(ev['@timestamp']));
      assert.deepEqual(ev.tags, []);
      assert.equal('_@timestamp' in ev, false);
    }
  });

  it('message: a string is kept; missing is the raw line; another type is the raw line, the original in _message', () => {
    assert.equal(json({ message: '' }).message, '');
    const noMessage = '{"msg":"hi","level":"info"}';
    assert.equal(json(noMessage).message, noMessage);
    const objectMessage = '{"message":{"text":"hi"}}';
    const ev = json(objectMessage);
    assert.equal(ev.message, objectMessage);
    assert.deepEqual(ev._message, { text: 'hi' });
    assert.equal(json({ message: 42 })._message, 42);
  });

  it("event: an object is merged and event.id is logship's; a different id or a non-object is kept in _event", () => {
    assert.deepEqual(json({ event: { kind: 'k', dataset: 'd' } }).event, { kind: 'k', dataset: 'd', id: 'abc' });
    assert.equal('_event' in json({ event: { kind: 'k' } }), false);
    const spoof = json({ event: { id: 'spoof', kind: 'x' } });
    assert.deepEqual(spoof.event, { id: 'abc', kind: 'x' });
    assert.deepEqual(spoof._event, { id: 'spoof', kind: 'x' });
    const text = json({ event: 'login' });
    assert.deepEqual(text.event, { id: 'abc' });
    assert.equal(text._event, 'login');
  });

  it('host: an object is merged and host.name is --host-name; a string host or a different name is kept in _host', () => {
    const str = json({ host: 'str' });
    assert.deepEqual(str.host, { name: 'web-01' });
    assert.equal(str._host, 'str');
    const obj = json({ host: { ip: '10.0.0.1', name: 'container-7' } });
    assert.deepEqual(obj.host, { ip: '10.0.0.1', name: 'web-01' });
    assert.deepEqual(obj._host, { ip: '10.0.0.1', name: 'container-7' });
    const same = json({ host: { ip: '10.0.0.1', name: 'web-01' } });
    assert.deepEqual(same.host, { ip: '10.0.0.1', name: 'web-01' });
    assert.equal('_host' in same, false);
    assert.equal('_host' in json({ host: { ip: '10.0.0.1' } }), false);
  });

  it("tags: a string is a one-element array; array items are text (null dropped); logship's tags are appended; an object goes to _tags", () => {
    assert.deepEqual(json({ tags: 'x' }).tags, ['x']);
    assert.deepEqual(json({ tags: 7 }).tags, ['7']);
    assert.deepEqual(json({ tags: ['a', 1, true, null, { k: 'v' }, ['n'], 'a'] }).tags, ['a', '1', 'true', '{"k":"v"}', '["n"]']);
    const withFailure = json({ tags: ['a'], '@timestamp': 'bad' });
    assert.deepEqual(withFailure.tags, ['a', '_timestampparsefailure']);
    const obj = json({ tags: { a: 1 } });
    assert.deepEqual(obj.tags, []);
    assert.deepEqual(obj._tags, { a: 1 });
    const factory = new EventFactory({ hostName: 'h', inputType: 'file', codec: 'json', scope: 's', filePath: '/f' });
    const joined = JSON.parse(factory.make('{"tags":"x"}', 0, false, ['multiline']).json) as { tags: string[] };
    assert.deepEqual(joined.tags, ['x', 'multiline']);
  });

  it('labels: string values kept, other values as their JSON text, null dropped; a non-object goes to _labels', () => {
    const ev = json({ labels: { env: 'prod', shard: 3, canary: false, owner: null, extra: { a: 1 } } });
    assert.deepEqual(ev.labels, { env: 'prod', shard: '3', canary: 'false', extra: '{"a":1}' });
    assert.equal('_labels' in ev, false);
    const bad = json({ labels: ['prod'] });
    assert.deepEqual(bad.labels, {});
    assert.deepEqual(bad._labels, ['prod']);
  });

  it("log: an object is kept (log.level); for files log.file.path and log.offset are logship's; a non-object goes to _log", () => {
    assert.deepEqual(json({ log: { level: 'info' } }).log, { level: 'info' });
    const file = json({ log: { level: 'info' } }, fileCtx);
    assert.deepEqual(file.log, { level: 'info', file: { path: '/var/log/app.log' }, offset: 42 });
    assert.equal('_log' in file, false);
    const spoof = json({ log: { file: { path: '/etc/shadow' }, offset: 1 } }, fileCtx);
    assert.deepEqual(spoof.log, { file: { path: '/var/log/app.log' }, offset: 42 });
    assert.deepEqual(spoof._log, { file: { path: '/etc/shadow' }, offset: 1 });
    const docker = json({ log: 'container output\n', stream: 'stdout' });
    assert.equal('log' in docker, false);
    assert.equal(docker._log, 'container output\n');
    const dockerFile = json({ log: 'x' }, fileCtx);
    assert.deepEqual(dockerFile.log, { file: { path: '/var/log/app.log' }, offset: 42 });
    assert.equal(dockerFile._log, 'x');
  });

  it("input and agent: always logship's; a different value is kept in _input / _agent", () => {
    const ev = json({ input: { type: 'kafka' }, agent: 'filebeat' });
    assert.deepEqual(ev.input, { type: 'stdin' });
    assert.deepEqual(ev._input, { type: 'kafka' });
    assert.equal(ev._agent, 'filebeat');
    assert.deepEqual((ev.agent as { type: string }).type, 'logship');
    const same = json({ input: { type: 'stdin' } });
    assert.equal('_input' in same, false);
  });

  it('other fields, including odd names, are kept as they are', () => {
    const line = '{"__proto__":{"polluted":1},"constructor":"c","a.b":1,"nested":{"x":[1,{"y":null}]}}';
    const ev = json(line);
    assert.deepEqual(Object.getOwnPropertyDescriptor(ev, '__proto__')?.value, { polluted: 1 });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(ev.constructor, 'c');
    assert.equal(ev['a.b'], 1);
    assert.deepEqual(ev.nested, { x: [1, { y: null }] });
    assert.match(JSON.stringify(ev), /"__proto__":\{"polluted":1\}/);
  });

  it('parseEventTimestamp is the rule the codec applies', () => {
    assert.equal(parseEventTimestamp('2026-02-28'), '2026-02-28T00:00:00.000Z');
    assert.equal(parseEventTimestamp('2026-02-29'), undefined);
    assert.equal(parseEventTimestamp(1700000000), '2023-11-14T22:13:20.000Z');
    assert.equal(parseEventTimestamp('1700000000'), undefined);
  });
});
