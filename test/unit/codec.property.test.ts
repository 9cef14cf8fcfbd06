/**
 * Properties of the json codec on random lines: random JSON values deep and
 * wide, objects whose keys collide with logship's own fields (@timestamp,
 * message, event, host, log, input, agent, tags, labels, their `_` copies,
 * __proto__), lines nested far deeper than the limit, and random text.
 *
 *   - EventFactory.make never throws, and every line ends as exactly one event;
 *   - the event is valid JSON of one line, with logship's event.id, host.name,
 *     input.type and agent.type; @timestamp is an ISO date of the years
 *     0000-9999; tags are unique strings; labels map to strings;
 *   - a line that is a JSON object within the depth limit keeps its other
 *     fields as they are, and is not a json failure; anything else is the
 *     raw line, tagged _jsonparsefailure and counted as a json failure.
 *
 * A failure prints fast-check's seed and path; LOGSHIP_TEST_SEED=<seed> replays it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventFactory, MAX_JSON_DEPTH } from '@logship/shipper';
import fc from 'fast-check';

const SEED = process.env.LOGSHIP_TEST_SEED ? Number(process.env.LOGSHIP_TEST_SEED) : undefined;
const OWN = ['@timestamp', 'message', 'event', 'host', 'log', 'input', 'agent', 'tags', 'labels'];
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const factories = {
  stdin: new EventFactory({ hostName: 'web-01', inputType: 'stdin', codec: 'json', scope: 'run-1' }),
  file: new EventFactory({ hostName: 'web-01', inputType: 'file', codec: 'json', scope: 'file-1', filePath: '/var/log/a.log' }),
};

const nasty = fc.string({
  unit: fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
    { weight: 1, arbitrary: fc.constantFrom('"', '\\', '{', '[', ']', '}', '\n', '\r', '\u2028', '\uD800', '\u0000', '2026-02-30') },
  ),
  maxLength: 30,
});
const value = fc.jsonValue({ maxDepth: 4 });
const timestampish = fc.oneof(
  fc.date({ min: new Date(Date.UTC(-100, 0, 1)), max: new Date(Date.UTC(10100, 0, 1)), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.integer({ min: -1e15, max: 1e15 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom('2026-02-30', '12', '1700000000', '2026-01-02', '2026-01-02T03:04:05+01:00', ''),
  nasty,
  value,
);
/** an object whose keys collide with logship's (and with the `_` copies it writes) */
const colliding = fc.dictionary(
  fc.constantFrom(...OWN, ...OWN.map((k) => `_${k}`), '__proto__', 'constructor', 'other', 'a.b'),
  fc.oneof(value, timestampish, fc.dictionary(fc.constantFrom('id', 'name', 'type', 'file', 'offset', 'level', 'x'), value)),
  { maxKeys: 12 },
);
/** nesting around or far beyond the limit */
const deep = fc.tuple(fc.integer({ min: MAX_JSON_DEPTH - 2, max: 20_000 }), fc.constantFrom('[', '{"a":'), fc.boolean()).map(([d, open, closed]) => {
  const body = `${open.repeat(d)}1`;
  return closed ? `${body}${(open === '[' ? ']' : '}').repeat(d)}` : body;
});

const line = fc.oneof(
  { weight: 4, arbitrary: colliding.map((o) => JSON.stringify(o)) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 8 }).map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: fc.json({ maxDepth: 3 }) },
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: nasty },
  { weight: 1, arbitrary: fc.oneof(value, colliding).map((v) => JSON.stringify(v, null, 2)) },
);

/** the line as JSON.parse sees it, when it is an object within the depth limit */
function asObject(text: string): Record<string, unknown> | undefined {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') max = Math.max(max, ++depth);
    else if ((c === ']' || c === '}') && depth > 0) depth--;
  }
  if (max > MAX_JSON_DEPTH) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

describe('json codec (property)', () => {
  it("every line becomes exactly one well-formed event with logship's own fields; nothing throws", () => {
    fc.assert(
      fc.property(line, fc.constantFrom('stdin', 'file') as fc.Arbitrary<'stdin' | 'file'>, fc.nat(1e9), fc.boolean(), (text, input, n, truncated) => {
        const factory = factories[input];
        const made = factory.make(text, n, truncated);
        assert.equal(made.id, factory.id(n));
        assert.ok(!made.json.includes('\n'), 'one line');
        const ev = JSON.parse(made.json) as Record<string, unknown>;
        assert.ok(ev && typeof ev === 'object' && !Array.isArray(ev));
        assert.deepEqual((ev.event as { id: unknown }).id, made.id);
        assert.equal((ev.host as { name: unknown }).name, 'web-01');
        assert.deepEqual(ev.input, { type: input });
        assert.equal((ev.agent as { type: unknown }).type, 'logship');
        assert.match(String(ev['@timestamp']), ISO);
        const tags = ev.tags as unknown[];
        assert.ok(Array.isArray(tags) && tags.every((t) => typeof t === 'string'));
        assert.equal(new Set(tags).size, tags.length, 'unique tags');
        const labels = ev.labels as Record<string, unknown>;
        assert.ok(labels && typeof labels === 'object' && !Array.isArray(labels));
        for (const v of Object.values(labels)) assert.equal(typeof v, 'string');
        assert.equal(typeof ev.message, 'string');
        if (input === 'file') assert.deepEqual((ev.log as { file: unknown; offset: unknown }).file, { path: '/var/log/a.log' });
        if (input === 'file') assert.equal((ev.log as { offset: unknown }).offset, n);

        const obj = truncated ? undefined : asObject(text);
        if (obj === undefined) {
          assert.equal(made.jsonFailure, true);
          assert.equal(ev.message, text);
          assert.ok(tags.includes('_jsonparsefailure'));
          if (truncated) assert.equal(tags[0], '_truncated');
          return;
        }
        assert.equal(made.jsonFailure, false);
        assert.ok(!tags.includes('_jsonparsefailure'));
        // every field logship does not own (and does not write a copy into) is kept as it is
        for (const [k, v] of Object.entries(obj)) {
          if (OWN.includes(k) || (k.startsWith('_') && OWN.includes(k.slice(1)))) continue;
          assert.deepEqual(Object.getOwnPropertyDescriptor(ev, k)?.value, v, k);
        }
        if (typeof obj.message === 'string') assert.equal(ev.message, obj.message);
        else assert.equal(ev.message, text);
      }),
      { seed: SEED, numRuns: 1500 },
    );
  });
});
