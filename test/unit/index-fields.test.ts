/**
 * Field references in --index (%{[service][name]}, %{[service][name]:fallback}):
 * the syntax, the lookup in a document's JSON text, the sanitisation against
 * hostile values, the decoder's fast and slow paths, and the property that
 * every expansion is a name Elasticsearch accepts inside the template's pattern.
 */
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import {
  FIELD_VALUE_MAX,
  LogshipError,
  createIndexNamer,
  dataStreamIndexProblem,
  fieldValue,
  namerFor,
  sanitiseFieldValue,
  validateIndexPattern,
  type IndexNamer,
} from '@logship/common';
import { indexTemplateRequest } from '@logship/common/elasticsearch';
import { decodeDelivery } from '@logship/indexer';
import { EventFactory } from '@logship/shipper';
import fc from 'fast-check';
import { invalidIndexName } from '../helpers/es-double.js';
import { useEsDouble } from '../helpers/es.js';
import { wildcardToRegex } from '../helpers/es-query.js';
import { refusedAtStartup } from '../helpers/index-patterns.js';

const seed = process.env.LOGSHIP_TEST_SEED ? Number(process.env.LOGSHIP_TEST_SEED) : undefined;
const T = Date.UTC(2026, 0, 2, 3);
const PATTERN = 'logs-%{[service][name]}-%{+yyyy.MM.dd}';

/** the index a document of this JSON text goes to */
function indexOf(namer: IndexNamer, source: string, t = T): string {
  const doc = { index: namer.nameFor(t), source };
  namer.perDocument?.(doc);
  return doc.index;
}

describe('--index field references: syntax', () => {
  it('%{[service][name]}, %{[service.name]} and %{service.name} name the same field; the template pattern has a * for it', () => {
    for (const p of ['logs-%{[service][name]}-%{+yyyy.MM.dd}', 'logs-%{[service.name]}-%{+yyyy.MM.dd}', 'logs-%{service.name}-%{+yyyy.MM.dd}']) {
      const namer = createIndexNamer(p);
      assert.equal(namer.wildcard, 'logs-*-*', p);
      assert.equal(indexOf(namer, '{"service":{"name":"web"}}'), 'logs-web-2026.01.02', p);
      assert.equal(indexOf(namer, '{"service.name":"web"}'), 'logs-web-2026.01.02', p);
      assert.equal(indexOf(namer, '{"service":{"name":"web","x":1}}'), 'logs-web-2026.01.02', p);
    }
    const layout = { templateName: 't', index: PATTERN, dataStream: '', ilmPolicy: '', retention: 0 };
    assert.deepEqual(indexTemplateRequest(layout).index_patterns, ['logs-*-*']);
  });

  it('a missing field takes the fallback after ":", or "unknown" without one (as in Beats format strings)', () => {
    assert.equal(indexOf(createIndexNamer(PATTERN), '{"message":"m"}'), 'logs-unknown-2026.01.02');
    assert.equal(indexOf(createIndexNamer('logs-%{[service][name]:other}-%{+yyyy}'), '{"message":"m"}'), 'logs-other-2026');
    assert.equal(indexOf(createIndexNamer('logs-%{host:no-host_1}'), '{}'), 'logs-no-host_1');
  });

  it('refuses at startup (exit 2) what could name an index outside the pattern or is not a field', () => {
    refusedAtStartup('%{[service][name]}-%{+yyyy}', /must start with literal text.*cover every index/);
    refusedAtStartup('%{+yyyy}-%{[service][name]}', /must start with literal text/);
    refusedAtStartup('logs-%{[a]:Other}', /fallback "Other" must be lowercase/);
    refusedAtStartup('logs-%{[a]:}', /fallback "" must be/);
    refusedAtStartup('logs-%{[a]:_x}', /fallback "_x"/);
    refusedAtStartup('logs-%{[a]:a.b}', /fallback "a\.b"/);
    refusedAtStartup('logs-%{[a]:a/b}', /fallback "a\/b"/);
    refusedAtStartup('logs-%{[a]x}', /unexpected "x" after the field name/);
    refusedAtStartup('logs-%{[a..b]}', /empty part/);
    refusedAtStartup('logs-%{[]}', /each name in brackets/);
    refusedAtStartup('logs-%{:x}', /field name is empty/);
    refusedAtStartup('logs-%{a[b]}', /each name in brackets/);
    refusedAtStartup('logs-%{[a]', /without a closing "}"/);
    // 245 + "-" + 2 * 7 (fallbacks) fits, but each value would only get 4 characters, less than "unknown"
    refusedAtStartup(`${'a'.repeat(245)}-%{[x]}-%{[y]}`, /leaves 4 bytes for each field value, fewer than its fallback's 7/);
    refusedAtStartup(`${'a'.repeat(256)}-%{[x]}`, /can expand to 257 bytes without its field values/);
    assert.equal(validateIndexPattern(`${'a'.repeat(246)}-%{[x]:abc}`), undefined);
  });

  it('a date-format literal does not count as the literal text a field pattern starts with: %{+0yyyy}-%{[service][name]} and %{+0}%{[a]} exit 2 (templates *-* and ** over the whole cluster)', () => {
    refusedAtStartup(
      '%{+0yyyy}-%{[service][name]}',
      /starts with a %\{\.\.\.\} reference; .*must start with literal text ending in "-", "_" or "\.".*cover every index of the cluster/,
    );
    refusedAtStartup('%{+0}%{[a]}', /starts with a %\{\.\.\.\} reference; .*must start with literal text ending in "-", "_" or "\."/);
    refusedAtStartup('%{+yyyy.MM}_%{[a]}', /must start with literal text/);
    // literal text must end in "-", "_" or ".": logs%{...} would give the template logs*, over logstash-* too
    refusedAtStartup(
      'logs%{[service][name]}',
      /starts with the literal text "logs", which does not end in "-", "_" or "\.".*template "logs\*" would otherwise cover/,
    );
    refusedAtStartup('svc%{[a]}', /literal text "svc"/);
    refusedAtStartup('logs%{+yyyy}-%{[a]}', /literal text "logs"/);
    assert.equal(validateIndexPattern('logship-%{+0yyyy}-%{[service][name]}'), undefined);
    assert.equal(validateIndexPattern('logship_%{[a]}'), undefined);
    assert.equal(validateIndexPattern('app.%{[a]}'), undefined);
    assert.equal(validateIndexPattern('%{+0yyyy}-logs'), undefined, 'dates only: no field, no rule');
  });

  it('a field value is cut so the whole name stays within 255 bytes', () => {
    const long = 'x'.repeat(10_000);
    assert.equal(indexOf(createIndexNamer(PATTERN), JSON.stringify({ service: { name: long } })), `logs-${'x'.repeat(FIELD_VALUE_MAX)}-2026.01.02`);
    const tight = createIndexNamer(`${'a'.repeat(200)}-%{[x]}-%{[y]}-%{+yyyy.MM.dd}`);
    assert.equal(tight.fieldCap, Math.floor((255 - 200 - 3 - 10) / 2));
    const name = indexOf(tight, JSON.stringify({ x: long, y: long }));
    assert.equal(Buffer.byteLength(name), 200 + 3 + 10 + 2 * 21);
    assert.equal(invalidIndexName(name), undefined);
  });

  it('field references cannot name a data stream: refused with --data-stream, saying why', () => {
    const config = { index: PATTERN, dataStream: 'logs-app-default' };
    assert.match(
      dataStreamIndexProblem(config) ?? '',
      /names indices from event fields, which --data-stream logs-app-default cannot do: a data stream has one name/,
    );
    assert.throws(
      () => namerFor(config),
      (err: unknown) => err instanceof LogshipError && err.exitCode === 2,
    );
    assert.equal(dataStreamIndexProblem({ index: 'logs-%{+yyyy.MM.dd}', dataStream: 'logs-app-default' }), undefined);
    assert.equal(dataStreamIndexProblem({ index: PATTERN, dataStream: '' }), undefined);
  });

  it('costs nothing per document without a field reference: no perDocument hook', () => {
    assert.equal(createIndexNamer('logs-%{+yyyy.MM.dd}').perDocument, undefined);
    assert.equal(createIndexNamer('fixed').perDocument, undefined);
    assert.equal(typeof createIndexNamer(PATTERN).perDocument, 'function');
  });
});

describe('--index field references: hostile values', () => {
  const namer = createIndexNamer('logs-%{[service][name]:fallback}-%{+yyyy.MM.dd}');
  const cases: Array<[string, unknown, string]> = [
    ['a slash', 'a/b', 'a_b'],
    ['dot dot', '..', 'fallback'],
    ['a path escaping upwards', '../../etc/passwd', 'etc_passwd'],
    ['a dot', '.', 'fallback'],
    ['a wildcard', '*', 'fallback'],
    ['a wildcard inside', 'a*', 'a_'],
    ['a comma (two indices)', 'a,b', 'a_b'],
    ['uppercase', 'Web-API', 'web-api'],
    ['unicode letters', 'café', 'caf_'],
    ['only unicode', '日本語', 'fallback'],
    ['an emoji', '😀', 'fallback'],
    ['the Kelvin sign, which JavaScript lowercases to k', '\u212a', 'fallback'],
    ['a 10 kB string', 'y'.repeat(10_000), 'y'.repeat(FIELD_VALUE_MAX)],
    ['10 kB of slashes then a letter', `${'/'.repeat(10_000)}z`, 'z'],
    ['_all', '_all', 'all'],
    ['a leading dash', '-rf', 'rf'],
    ['a leading plus', '+x', 'x'],
    ['leading dashes and underscores', '--__-x', 'x'],
    ['a hash', '#1', '1'],
    ['a colon (cross-cluster)', 'remote:logs', 'remote_logs'],
    ['spaces', 'my service', 'my_service'],
    ['only spaces', '   ', 'fallback'],
    ['a newline and a NUL', 'a\nb\u0000c', 'a_b_c'],
    ['quotes and brackets', '"a"<b>|c?', 'a_b_c_'],
    ['an empty string', '', 'fallback'],
    ['__proto__', '__proto__', 'proto__'],
    ['constructor', 'constructor', 'constructor'],
    ['an object', { a: 1 }, 'fallback'],
    ['an empty object', {}, 'fallback'],
    ['an array', ['a', 'b'], 'fallback'],
    ['an empty array', [], 'fallback'],
    ['null', null, 'fallback'],
    ['a number', 42, '42'],
    ['a negative decimal', -1.5, '1_5'],
    ['a boolean', true, 'true'],
  ];
  for (const [label, value, expected] of cases) {
    it(`${label}: ${JSON.stringify(value)?.slice(0, 40)} -> logs-${expected.slice(0, 20)}-...`, () => {
      const name = indexOf(namer, JSON.stringify({ '@timestamp': '2026-01-02T03:00:00.000Z', service: { name: value } }));
      assert.equal(name, `logs-${expected}-2026.01.02`);
      assert.equal(invalidIndexName(name), undefined, name);
    });
  }

  it('prototype keys as field names are plain keys: %{[__proto__][x]}, %{[constructor]}', () => {
    assert.equal(indexOf(createIndexNamer('p-%{[__proto__][x]}'), '{"__proto__":{"x":"Polluted"}}'), 'p-polluted');
    assert.equal(indexOf(createIndexNamer('p-%{[constructor]}'), '{"a":1}'), 'p-unknown');
    assert.equal(indexOf(createIndexNamer('p-%{[constructor][name]}'), '{"constructor":{"name":"Object"}}'), 'p-object');
    assert.equal(({} as Record<string, unknown>).x, undefined, 'nothing polluted');
  });

  it('sanitiseFieldValue never gives more than the cap, nor a leading - or _', () => {
    assert.equal(sanitiseFieldValue('ab/cd', 3), 'ab_');
    assert.equal(sanitiseFieldValue('AB', 1), 'a');
    assert.equal(sanitiseFieldValue('_-_', 5), '');
  });
});

describe('--index field references: lookup in the document text', () => {
  const at = (text: string, path = ['service', 'name']) => fieldValue(text, path);

  it('finds nested and dotted keys, the last one when repeated, and keys spelled with escapes', () => {
    assert.deepEqual(at('{"service":{"name":"a"},"service.name":"b"}'), { text: 'b' });
    assert.deepEqual(at('{"service.name":"b","service":{"name":"a"}}'), { text: 'a' });
    assert.deepEqual(at('{ "service" : { "id" : 1 , "name" : "a" } }'), { text: 'a' });
    assert.deepEqual(at('{"serv\\u0069ce":{"n\\u0061me":"\\u0041\\"b"}}'), { text: 'A"b' });
    assert.deepEqual(at('{"a":{"b":{"c":7}}}', ['a', 'b', 'c']), { text: '7' });
    assert.deepEqual(at('{"a.b":{"c":7}}', ['a', 'b', 'c']), { text: '7' });
    assert.deepEqual(at('{"a":{"b.c":7}}', ['a', 'b', 'c']), { text: '7' });
  });

  it('does not take a key of another object, a key inside a string or array, or a longer or shorter key', () => {
    assert.equal(at('{"x":{"service":{"name":"no"}}}'), 'absent');
    assert.equal(at('{"m":"\\"service\\":{\\"name\\":\\"no\\"}"}'), 'absent');
    assert.equal(at('{"service":[{"name":"no"}]}'), 'absent');
    assert.equal(at('{"services":{"name":"no"},"service":{"names":"no"}}'), 'absent');
    assert.equal(at('{"service":{"name":{"x":1}}}'), 'unusable');
    assert.equal(at('{"service":"flat"}'), 'absent');
    assert.deepEqual(at('{"service":{"x":[{"name":"no"}],"y":{"name":"no"},"name":"yes"}}'), { text: 'yes' });
    assert.deepEqual(at('{"m":"}}}","service":{"name":"yes"}}'), { text: 'yes' });
  });

  it('never throws on text that is not JSON: broken escapes, unterminated strings, stray brackets', () => {
    for (const text of ['', 'x', '{', '}', '{"service":{"name":"\\x"}}', '{"service":{"name":"a', '{"service":{"name":', ']]{"service"', '"a":"b"']) {
      const v = at(text);
      assert.ok(v === 'absent' || v === 'unusable' || typeof v === 'object', text);
    }
    assert.equal(at('{"service":{"name":"\\x"}}'), 'unusable');
  });
});

describe('--index field references through the decoder', () => {
  const namer = createIndexNamer('logs-%{[service][name]:other}-%{+yyyy.MM.dd}');
  const msg = (content: string, properties: Record<string, unknown> = {}) => ({ content: Buffer.from(content), properties });

  /** the decoded delivery of one JSON body, and the texts JSON.parse was given while decoding it */
  function decodeCounting(body: string, props: Record<string, unknown>, n: IndexNamer) {
    const parse = mock.method(JSON, 'parse');
    try {
      const decoded = decodeDelivery(msg(body, props), n);
      return { decoded, parsed: parse.mock.calls.map((c) => String(c.arguments[0])) };
    } finally {
      parse.mock.restore();
    }
  }

  it("logship's own events take the fast path (nothing parsed) and are named from their fields, hostile host and path too", () => {
    const byHost = createIndexNamer('logs-%{[host][name]}-%{[log][file][path]:stdin}-%{+yyyy}');
    for (const [hostName, filePath, expected] of [
      ['Web-01 "EU"', '/var/log/../app.log', /^logs-web-01_eu_-var_log_app_log-\d{4}$/],
      ['日本', undefined, /^logs-unknown-stdin-\d{4}$/],
    ] as const) {
      const factory = new EventFactory({ hostName, inputType: filePath ? 'file' : 'stdin', scope: 'run', codec: 'plain', ...(filePath ? { filePath } : {}) });
      const ev = factory.make('a line with "service":{"name":"no"} in it', 7, false);
      const { decoded, parsed } = decodeCounting(ev.json, { contentType: 'application/json', messageId: ev.id }, byHost);
      assert.equal(decoded.poison.length, 0);
      assert.equal(decoded.docs[0]!.source, ev.json, 'the event as shipped is the document');
      assert.match(decoded.docs[0]!.index, expected);
      // the event is never parsed; only a field value spelled with escapes is (the host name's \")
      assert.deepEqual(parsed, hostName.includes('"') ? [JSON.stringify(hostName)] : [], 'the fast path parses nothing but an escaped value');
    }
  });

  it('events of the json codec (parsed: their fields come first) are named from their fields', () => {
    const factory = new EventFactory({ hostName: 'h', inputType: 'stdin', scope: 'run', codec: 'json' });
    const lines = ['{"service":{"name":"Billing API"},"message":"m1"}', '{"message":"m2"}', '{"service":{"name":"../x"},"message":"m3"}'];
    const expected = ['logs-billing_api-', 'logs-other-', 'logs-x-'];
    for (const [i, line] of lines.entries()) {
      const ev = factory.make(line, i, false);
      const { decoded } = decodeCounting(ev.json, { contentType: 'application/json', messageId: ev.id }, namer);
      assert.equal(decoded.poison.length, 0);
      assert.ok(decoded.docs[0]!.index.startsWith(expected[i]!), decoded.docs[0]!.index);
    }
  });

  it('foreign JSON (any content type), NDJSON lines and plain text are named from their fields, hostile ones too, none dead-lettered', () => {
    const foreign = decodeDelivery(
      msg('{"@timestamp":"2026-05-06T00:00:00Z","service":{"name":"Auth/../*"}}', { contentType: 'application/octet-stream' }),
      namer,
    );
    assert.deepEqual(
      foreign.docs.map((d) => d.index),
      ['logs-auth_-2026.05.06'],
    );
    const lines = [
      '{"@timestamp":"2026-05-06T00:00:00Z","service.name":"a"}',
      '{"@timestamp":"2026-05-06T00:00:00Z","service":{"name":["x"]}}',
      '{"service":null}',
    ];
    const nd = decodeDelivery(msg(lines.join('\n'), { contentType: 'application/x-ndjson' }), namer);
    assert.equal(nd.poison.length, 0);
    assert.deepEqual(
      nd.docs.map((d) => d.index.slice(0, 'logs-other-'.length)),
      ['logs-a-2026', 'logs-other-', 'logs-other-'],
    );
    const text = decodeDelivery(msg('a plain line'), createIndexNamer('t-%{message}'));
    assert.deepEqual(
      text.docs.map((d) => d.index),
      ['t-a_plain_line'],
    );
  });
});

describe('the Elasticsearch double refuses index names like Elasticsearch, through the official client', () => {
  const { es, client } = useEsDouble();

  it('answers 400 invalid_index_name_exception for each bad name, and writes the other items', async () => {
    const bad = ['Logs', 'a/b', 'a*', 'a,b', '_all', '-x', '+x', 'a#b', 'a:b', 'a b', '.', '..', 'a'.repeat(256), 'a"b', 'a<b', 'a|b', 'a?b', 'a\\b'];
    const operations = [...bad, 'ok-index'].flatMap((index, i) => [{ create: { _index: index, _id: String(i) } }, { m: i }]);
    const r = await client.bulk({ operations });
    assert.equal(r.errors, true);
    bad.forEach((name, i) => {
      const item = r.items[i]!.create!;
      assert.equal(item.status, 400, name);
      assert.equal(item.error?.type, 'invalid_index_name_exception', name);
      assert.match(item.error?.reason ?? '', /^Invalid index name \[/, name);
    });
    assert.equal(r.items[bad.length]!.create!.status, 201);
    assert.equal(es.indices.size, 1);
  });
});

// ---- properties ----

/** the value of a field as Elasticsearch maps it, from the parsed document (the reference for the text scan) */
function reference(doc: unknown, path: string[]): unknown {
  let found: unknown = 'absent';
  const visit = (obj: unknown, from: number) => {
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return;
    for (const [key, value] of Object.entries(obj)) {
      const parts = key.split('.');
      if (parts.length > path.length - from || parts.some((p, i) => p !== path[from + i])) continue;
      if (from + parts.length === path.length) found = value;
      else visit(value, from + parts.length);
    }
  };
  visit(doc, 0);
  return found;
}

const name = fc.constantFrom('a', 'b', 'a.b', 'c', '__proto__', 'constructor', 'x"y', 'é');
const hostile = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom(...'aZ09-_+./\\*?"<>|, #:\u0000\n'.split('')), maxLength: 40 }),
  fc.constantFrom('..', '.', '_all', '-', '__proto__', 'constructor', 'A'.repeat(3000), `${'é'.repeat(200)}x`),
  fc.jsonValue({ maxDepth: 2 }),
);
const tree = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof({ depthSize: 'small' }, hostile, fc.dictionary(name, tie('node'), { maxKeys: 4 }), fc.array(tie('node'), { maxLength: 3 })),
})).node;

describe('--index field references: properties (fast-check)', () => {
  it('the text scan finds what a parse finds, for any document and field', () => {
    fc.assert(
      fc.property(fc.dictionary(name, tree, { maxKeys: 5 }), fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 3 }), (doc, path) => {
        const text = JSON.stringify(doc);
        const want = reference(JSON.parse(text), path);
        const got = fieldValue(text, path);
        if (want === 'absent') assert.equal(got, 'absent');
        else if (typeof want === 'string') assert.deepEqual(got, { text: want });
        else if (typeof want === 'number' || typeof want === 'boolean') assert.deepEqual(got, { text: JSON.stringify(want) });
        else assert.equal(got, 'unusable');
      }),
      { seed, numRuns: 500 },
    );
  });

  it('every expansion, whatever the field holds, is a name the double accepts inside the template pattern', () => {
    const prefix = fc.constantFrom('logs-', 'a-', 'x1_', `${'p'.repeat(150)}-`, 'svc.', 'logship-%{+0yyyy}-');
    const ref = fc.tuple(fc.constantFrom('[a]', '[a][b]', 'a.b', '[c]'), fc.constantFrom('', ':other', ':x-1'));
    const between = fc.constantFrom('', '-', '.', '_', '-%{+yyyy.MM.dd}', '%{+HH}');
    const pattern = fc
      .tuple(prefix, fc.array(fc.tuple(ref, between), { minLength: 1, maxLength: 3 }))
      .map(([p, refs]) => p + refs.map(([[f, fb], b]) => `%{${f}${fb}}${b}`).join(''));
    fc.assert(
      fc.property(pattern, fc.dictionary(name, tree, { maxKeys: 5 }), fc.integer({ min: 0, max: 4e12 }), (p, doc, t) => {
        if (validateIndexPattern(p) !== undefined) return; // the long prefix with three fields: refused at startup
        const namer = createIndexNamer(p);
        const [templatePattern] = indexTemplateRequest({ templateName: 't', index: p, dataStream: '', ilmPolicy: '', retention: 0 }).index_patterns as string[];
        const index = indexOf(namer, JSON.stringify(doc), t);
        assert.equal(invalidIndexName(index), undefined, `${p} -> ${index}`);
        assert.match(index, wildcardToRegex(templatePattern!), `${index} outside ${templatePattern}`);
        assert.match(index, /^[a-z0-9._-]+$/);
        assert.match(templatePattern!, /^[a-z0-9][a-z0-9._-]*[-_.]\*/, 'the template starts with the literal text of the pattern');
      }),
      { seed, numRuns: 500 },
    );
  });
});
