/** --index patterns: Joda date tokens, Elasticsearch's index name rules, refusal at startup. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DATE_TOKENS, LogshipError, OPTIONS, createDataStreamNamer, createIndexNamer, validateIndexPattern } from '@logship/common';
import { indexTemplateRequest } from '@logship/common/elasticsearch';
import fc from 'fast-check';
import { refusedAtStartup } from '../helpers/index-patterns.js';

const seed = process.env.LOGSHIP_TEST_SEED ? Number(process.env.LOGSHIP_TEST_SEED) : undefined;

/** Elasticsearch's rules for an index name, written independently of the code under test. */
function esRefuses(name: string): string | undefined {
  if (name.length === 0) return 'empty';
  if (name !== name.toLowerCase()) return 'uppercase';
  if (name === '.' || name === '..') return 'dot';
  if (/^[-_+]/.test(name)) return 'leading - _ +';
  if (/[\\/*?"<>|,# :]/.test(name)) return 'forbidden character';
  if (Buffer.byteLength(name) > 255) return 'longer than 255 bytes';
  return undefined;
}

const DAY = 86_400_000;

/** Monday of ISO week 1: the week holding 4 January (a different route from the code's Thursday rule) */
function week1Monday(year: number): number {
  const jan4 = new Date(0);
  jan4.setUTCFullYear(year, 0, 4);
  return jan4.getTime() - ((jan4.getUTCDay() + 6) % 7) * DAY;
}

/** Reference expansion of one Joda token, for timestamps in years 1-9999. */
function reference(token: string, t: number): string {
  const d = new Date(t);
  const iso = d.toISOString();
  const year = Number(iso.slice(0, 4));
  const day = Math.floor(t / DAY) * DAY;
  let weekYear = year;
  if (day >= week1Monday(year + 1)) weekYear = year + 1;
  else if (day < week1Monday(year)) weekYear = year - 1;
  const week = Math.floor((day - week1Monday(weekYear)) / (7 * DAY)) + 1;
  const jan1 = new Date(0);
  jan1.setUTCFullYear(year, 0, 1);
  const dayOfYear = Math.round((day - jan1.getTime()) / DAY) + 1;
  const two = (n: number) => String(n).padStart(2, '0');
  const table: Record<string, string> = {
    yyyy: iso.slice(0, 4),
    YYYY: iso.slice(0, 4),
    yy: iso.slice(2, 4),
    YY: iso.slice(2, 4),
    xxxx: String(weekYear).padStart(4, '0'),
    xx: two(weekYear % 100),
    MM: iso.slice(5, 7),
    M: String(Number(iso.slice(5, 7))),
    dd: iso.slice(8, 10),
    d: String(Number(iso.slice(8, 10))),
    HH: iso.slice(11, 13),
    H: String(Number(iso.slice(11, 13))),
    ww: two(week),
    w: String(week),
    DDD: String(dayOfYear).padStart(3, '0'),
    D: String(dayOfYear),
    e: String(((d.getUTCDay() + 6) % 7) + 1),
  };
  const out = table[token];
  assert.ok(out !== undefined, `no reference for ${token}`);
  return out;
}

function wildcardRegExp(wildcard: string): RegExp {
  return new RegExp(
    `^${wildcard
      .split('*')
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    's',
  );
}

describe('index name patterns', () => {
  it('logs-%{+YYYY.MM.dd} (the usual Logstash spelling) writes the calendar year, not "yyyy"', () => {
    const namer = createIndexNamer('logs-%{+YYYY.MM.dd}');
    assert.equal(namer.nameFor(Date.UTC(2026, 10, 23, 12)), 'logs-2026.11.23');
    assert.equal(namer.wildcard, 'logs-*');
    assert.equal(createIndexNamer('logs-%{+YY.MM}').nameFor(Date.UTC(2026, 10, 23)), 'logs-26.11');
  });

  it('understands the Joda tokens of the table, in UTC', () => {
    // Sunday 3 January 2021, 07:05 UTC: ISO week 53 of week-year 2020
    const t = Date.UTC(2021, 0, 3, 7, 5);
    const cases: Record<string, string> = {
      '%{+yyyy}': '2021',
      '%{+yy}': '21',
      '%{+xxxx.ww}': '2020.53',
      '%{+xx.w}': '20.53',
      '%{+MM-M}': '01-1',
      '%{+dd-d}': '03-3',
      '%{+DDD-D}': '003-3',
      '%{+HH-H}': '07-7',
      '%{+e}': '7',
    };
    for (const [format, expected] of Object.entries(cases)) {
      assert.equal(createIndexNamer(`i-${format}`).nameFor(t), `i-${expected}`, format);
    }
    // 31 December 2026 is a Thursday: week 53 of 2026; 1 January 2024 a Monday: week 1
    assert.equal(createIndexNamer('w-%{+xxxx.ww.e}').nameFor(Date.UTC(2026, 11, 31)), 'w-2026.53.4');
    assert.equal(createIndexNamer('w-%{+xxxx.ww.e}').nameFor(Date.UTC(2024, 0, 1)), 'w-2024.01.1');
    assert.equal(createIndexNamer('d-%{+DDD}').nameFor(Date.UTC(2024, 11, 31)), 'd-366');
    assert.deepEqual(Object.keys(DATE_TOKENS).sort(), ['D', 'DDD', 'H', 'HH', 'M', 'MM', 'YY', 'YYYY', 'd', 'dd', 'e', 'w', 'ww', 'xx', 'xxxx', 'yy', 'yyyy']);
  });

  it('refuses an unsupported date token such as %{+MMMM} at startup, listing the supported ones', () => {
    refusedAtStartup('logs-%{+MMMM}', /unsupported date token "MMMM" \(supported: yyyy YYYY/);
    refusedAtStartup('logs-%{+yyyy.MM.dd.mm}', /unsupported date token "mm"/);
    refusedAtStartup('logs-%{+yyy}', /unsupported date token "yyy"/);
    refusedAtStartup("logs-%{+yyyy'w'ww}", /quoted text is not supported/);
    refusedAtStartup('logs-%{+}', /date format is empty/);
  });

  it('accepts a field reference after literal text (test/unit/index-fields.test.ts); refuses one first, a bad one, or an unclosed %{', () => {
    assert.equal(validateIndexPattern('logs-%{foo}'), undefined);
    assert.equal(validateIndexPattern('logs-%{[host][name]}-%{+yyyy}'), undefined);
    refusedAtStartup('%{[host][name]}-%{+yyyy}', /must start with literal text/);
    refusedAtStartup('logs-%{[host]name}', /%\{\[host\]name\}: unexpected "name" after the field name/);
    refusedAtStartup('logs-%{+yyyy', /without a closing "}"/);
  });

  it('refuses uppercase letters instead of lowercasing them silently, with the lowercase spelling', () => {
    refusedAtStartup('Logs-%{+YYYY.MM.dd}', /uppercase letters \(L\).*must be lowercase: write "logs-%\{\+YYYY\.MM\.dd\}"/);
    refusedAtStartup('logs-É', /uppercase letters \(É\)/);
  });

  it('refuses every name Elasticsearch refuses, checking the longest expansion for the 255-byte limit', () => {
    for (const c of ['\\', '/', '*', '?', '"', '<', '>', '|', ',', '#', ':', ' ']) {
      refusedAtStartup(`logs${c}x-%{+yyyy}`, /Elasticsearch forbids/);
    }
    refusedAtStartup('logs-%{+yyyy/MM}', /contains "\/"/);
    refusedAtStartup('logs\tx', /whitespace or a control character/);
    refusedAtStartup('.', /"\." or "\.\."/);
    refusedAtStartup('..', /"\." or "\.\."/);
    refusedAtStartup('.logs', /starts with "\."/);
    for (const c of ['-', '_', '+']) refusedAtStartup(`${c}logs-%{+yyyy}`, /must not start with - _ or \+/);
    refusedAtStartup('', /is empty/);
    // 250 + "-" + 4 digits = 255 bytes: accepted; one more byte is refused
    assert.equal(validateIndexPattern(`${'a'.repeat(250)}-%{+yyyy}`), undefined);
    refusedAtStartup(`${'a'.repeat(251)}-%{+yyyy}`, /can expand to 256 bytes/);
    // DDD is 3 digits, D up to 3: the longest expansion counts, not today's
    refusedAtStartup(`${'a'.repeat(253)}%{+D}`, /can expand to 256 bytes/);
    refusedAtStartup(`${'é'.repeat(128)}`, /256 bytes/);
  });

  it('names events without a usable timestamp (NaN, before year 1, after 9999) by the current time', () => {
    const namer = createIndexNamer('logs-%{+yyyy.MM.dd}');
    const today = createIndexNamer('logs-%{+yyyy.MM.dd}').nameFor(Date.now());
    for (const t of [Number.NaN, -8.64e15, 8.64e15, Number.POSITIVE_INFINITY, Date.UTC(10000, 0, 1), -62_135_596_800_001]) {
      assert.equal(namer.nameFor(t), today, String(t));
    }
    const firstDay = new Date(0);
    firstDay.setUTCFullYear(1, 0, 1);
    assert.equal(namer.nameFor(firstDay.getTime()), 'logs-0001.01.01');
    assert.equal(namer.nameFor(Date.UTC(9999, 11, 31, 23)), 'logs-9999.12.31');
  });

  it('caches per day, or per hour when the pattern has an hour token', () => {
    const daily = createIndexNamer('d-%{+yyyy.MM.dd}');
    assert.equal(daily.nameFor(Date.UTC(2026, 0, 1, 1)), 'd-2026.01.01');
    assert.equal(daily.nameFor(Date.UTC(2026, 0, 1, 23)), 'd-2026.01.01');
    assert.equal(daily.nameFor(Date.UTC(2026, 0, 2, 0)), 'd-2026.01.02');
    const hourly = createIndexNamer('h-%{+yyyy.MM.dd}-%{+H}');
    assert.equal(hourly.nameFor(Date.UTC(2026, 0, 1, 1)), 'h-2026.01.01-1');
    assert.equal(hourly.nameFor(Date.UTC(2026, 0, 1, 2)), 'h-2026.01.01-2');
    assert.equal(hourly.wildcard, 'h-*-*');
    assert.equal(createIndexNamer('fixed').nameFor(Number.NaN), 'fixed');
  });
});

// ---- properties ----

const literalChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_.+%{}é€'.split(''));
const literal = fc.string({ unit: literalChar, maxLength: 12 }).filter((s) => !s.includes('%{'));
const separator = fc.constantFrom('', '.', '-', '_');
const TOKENS = ['yyyy', 'YYYY', 'yy', 'YY', 'xxxx', 'xx', 'MM', 'M', 'ww', 'w', 'dd', 'd', 'DDD', 'D', 'e', 'HH', 'H'];
const dateGroup = fc
  .array(fc.tuple(fc.constantFrom(...TOKENS), separator), { minLength: 1, maxLength: 5 })
  // tokens of the same letter side by side would read as one longer run (yyyy + yy = yyyyyy)
  .map((parts) => `%{+${parts.map(([t, s], i) => t + (s === '' && parts[i + 1]?.[0][0] === t[0] ? '.' : s)).join('')}}`);
const validPattern = fc
  .tuple(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'.split('')), fc.array(fc.tuple(literal, dateGroup), { maxLength: 4 }), literal)
  .map(([first, parts, last]) => first + parts.map(([l, g]) => l + g).join('') + last)
  .filter((p) => !p.includes('%{', p.lastIndexOf('}') + 1));
const timestamp = fc.oneof(
  fc.integer({ min: -8.64e15, max: 8.64e15 }),
  fc.integer({ min: Date.UTC(1, 0, 1) - 1e11, max: Date.UTC(1, 0, 1) + 1e11 }),
  fc.integer({ min: Date.UTC(9999, 0, 1), max: Date.UTC(10000, 0, 2) }),
  fc.date({ noInvalidDate: true }).map((d) => d.getTime()),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -1),
  fc.double(),
);

describe('index name properties (fast-check)', () => {
  it('every Joda token of the table expands like an independent reference, for any timestamp from year 1 to 9999', () => {
    const lo = week1Monday(1) + 7 * DAY;
    fc.assert(
      fc.property(fc.constantFrom(...TOKENS), fc.integer({ min: lo, max: Date.UTC(9999, 11, 24) }), (token, t) => {
        assert.equal(createIndexNamer(`r-%{+${token}}`).nameFor(t), `r-${reference(token, t)}`, `${token} @ ${new Date(t).toISOString()}`);
      }),
      { seed, numRuns: 1000 },
    );
    assert.deepEqual(Object.keys(DATE_TOKENS).sort(), [...TOKENS].sort());
  });

  it('for valid patterns and any timestamp, nameFor gives a name Elasticsearch accepts that matches the wildcard', () => {
    fc.assert(
      fc.property(validPattern, fc.array(timestamp, { minLength: 1, maxLength: 8 }), (pattern, times) => {
        assert.equal(validateIndexPattern(pattern), undefined, pattern);
        const namer = createIndexNamer(pattern);
        const matches = wildcardRegExp(namer.wildcard);
        for (const t of times) {
          const name = namer.nameFor(t);
          assert.equal(esRefuses(name), undefined, `${pattern} @ ${t} -> ${name}`);
          assert.match(name, matches, `${name} outside ${namer.wildcard}`);
        }
      }),
      { seed, numRuns: 300 },
    );
  });

  it('yyyy.MM.dd.HH agrees with the ISO spelling of the timestamp for every year from 1 to 9999', () => {
    const namer = createIndexNamer('t-%{+yyyy.MM.dd.HH}');
    const lo = (() => {
      const d = new Date(0);
      d.setUTCFullYear(1, 0, 1);
      return d.getTime();
    })();
    fc.assert(
      fc.property(fc.integer({ min: lo, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }), (t) => {
        const iso = new Date(t).toISOString();
        assert.equal(namer.nameFor(t), `t-${iso.slice(0, 4)}.${iso.slice(5, 7)}.${iso.slice(8, 10)}.${iso.slice(11, 13)}`);
      }),
      { seed, numRuns: 300 },
    );
  });

  it('any string is either refused at startup or only ever yields names Elasticsearch accepts', () => {
    const anyChar = fc.constantFrom(...'abcXYZ019-_+./\\*?"<>|, #:%{}[]\'yMdHwxDeé\t'.split(''));
    fc.assert(
      fc.property(fc.string({ unit: anyChar, maxLength: 30 }), fc.array(timestamp, { minLength: 1, maxLength: 4 }), (pattern, times) => {
        if (validateIndexPattern(pattern) !== undefined) {
          assert.throws(() => createIndexNamer(pattern), LogshipError);
          return;
        }
        const namer = createIndexNamer(pattern);
        for (const t of times) {
          // field references expand per document: from fields a document may hold, or their fallbacks
          const doc = { index: namer.nameFor(t), source: '{"a":"Hostile/../*, #:_All","x":{"y":null},"yMd":"-+."}' };
          namer.perDocument?.(doc);
          const name = doc.index;
          assert.equal(esRefuses(name), undefined, `${JSON.stringify(pattern)} -> ${JSON.stringify(name)}`);
          assert.doesNotMatch(name, /\p{Cc}/u, 'no placeholder or control character left');
          assert.match(name, wildcardRegExp(namer.wildcard));
        }
      }),
      { seed, numRuns: 1000 },
    );
  });

  it('a valid pattern made invalid (uppercase, forbidden character, bad start, unknown token, field reference first or with a bad fallback, too long) is refused', () => {
    const breakIt = fc.constantFrom(
      (p: string) => `${p}X`,
      (p: string) => `${p}/`,
      (p: string) => `${p}*`,
      (p: string) => `${p} `,
      (p: string) => `_${p}`,
      (p: string) => `-${p}`,
      (p: string) => `${p}%{+yyyy.MMM}`,
      (p: string) => `${p}%{+q}`,
      (p: string) => `%{host}${p}`,
      (p: string) => `%{+0}%{host}${p}`,
      (p: string) => `${p}%{[host]:Bad}`,
      (p: string) => `${p}%{+yyyy`,
      (p: string) => `${p}${'x'.repeat(256)}`,
    );
    fc.assert(
      fc.property(validPattern, breakIt, (pattern, mutate) => {
        const broken = mutate(pattern);
        assert.notEqual(validateIndexPattern(broken), undefined, broken);
        assert.throws(() => createIndexNamer(broken), LogshipError);
      }),
      { seed, numRuns: 300 },
    );
  });
  it('a pattern with a field reference is refused unless the literal text before its first %{ is non-empty and ends in "-", "_" or "." (text inside %{+...} does not count)', () => {
    const word = fc.tuple(fc.constantFrom('a', 'l', '0'), fc.string({ unit: fc.constantFrom(...'ab0-_.'.split('')), maxLength: 6 })).map(([a, b]) => a + b);
    const prefix = fc.oneof(fc.constant(''), word);
    const dates = fc.constantFrom('', '%{+0yyyy}-', '%{+yyyy.MM}_', '%{+0}', '%{+dd}', '%{+0yyyy}-x-');
    const ref = fc.constantFrom('%{[a]}', '%{service.name:x}', '%{[a][b]}-%{+HH}');
    fc.assert(
      fc.property(prefix, dates, ref, fc.constantFrom('', '-z', '-%{[c]}'), (p, d, r, tail) => {
        const pattern = p + d + r + tail;
        const problem = validateIndexPattern(pattern);
        if (/[-_.]$/.test(p)) {
          assert.equal(problem, undefined, pattern);
          const [templatePattern] = indexTemplateRequest({ templateName: 't', index: pattern, dataStream: '', ilmPolicy: '', retention: 0 })
            .index_patterns as string[];
          assert.ok(templatePattern!.startsWith(`${p}*`), `${pattern}: ${templatePattern}`);
        } else {
          assert.match(problem ?? 'accepted', /must start with literal text ending in "-", "_" or "\."/, pattern);
          assert.throws(() => createIndexNamer(pattern), LogshipError);
        }
      }),
      { seed, numRuns: 300 },
    );
  });
  it('--data-stream: a "data_stream" inside a nested object keeps the document text (integers past 2^53 intact)', () => {
    const namer = createDataStreamNamer('logs-app-default');
    const fields = '"data_stream":{"type":"logs","dataset":"app","namespace":"default"}';
    const big = '12345678901234567890123';
    const nested = { index: '', source: `{"n":${big},"labels":{"data_stream":"mine"},"m":"a \\"data_stream\\": b"}` };
    namer.perDocument?.(nested);
    assert.equal(nested.source, `{"n":${big},"labels":{"data_stream":"mine"},"m":"a \\"data_stream\\": b",${fields}}`);
    // a top-level one is replaced in place, the rest of the text untouched
    const top = { index: '', source: `{"n":${big},"data_stream":{"type":"x","a":[1,{"b":2}]} , "z":[${big}]}` };
    namer.perDocument?.(top);
    assert.equal(top.source, `{"n":${big},"data_stream":{"type":"logs","dataset":"app","namespace":"default"}, "z":[${big}]}`);
    const last = { index: '', source: `{"data_stream":"x","n":${big},"data\\u005fstream" : null }` };
    namer.perDocument?.(last);
    assert.deepEqual(Object.keys(JSON.parse(last.source)), ['data_stream', 'n']);
    assert.ok(last.source.includes(big) && !last.source.includes('null'), last.source);
    const empty = { index: '', source: '{ }' };
    namer.perDocument?.(empty);
    assert.equal(empty.source, `{${fields}}`);
  });
  it('the help text of --index names every supported date token', () => {
    const words = new Set(OPTIONS.index.doc.split(/[\s():,;]+/));
    for (const token of Object.keys(DATE_TOKENS)) assert.ok(words.has(token), `--index help does not name "${token}": ${OPTIONS.index.doc}`);
  });
});
