/**
 * Index names from a pattern such as "logs-%{+yyyy.MM.dd}", expanded from an
 * event's @timestamp in UTC. Inside %{+...} the Joda date tokens Logstash users
 * write are understood (DATE_TOKENS); they only produce digits, so event data
 * never steers a document outside the configured pattern. A pattern that
 * Elasticsearch would refuse, for any timestamp, is refused at startup.
 */
import { ErrorCodes, LogshipError } from './errors.js';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** UTC midnight of a proleptic Gregorian date; Date.UTC would read years 0-99 as 1900-1999 */
function utcMidnight(year: number, month: number, day: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month, day);
  return d.getTime();
}

/** Timestamps outside years 1-9999 name the index like an event without a timestamp (now): names keep their width. */
const MIN_MS = utcMidnight(1, 0, 1);
const MAX_MS = utcMidnight(10000, 0, 1) - 1;

function dayOfYear(d: Date): number {
  return Math.floor((utcMidnight(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - utcMidnight(d.getUTCFullYear(), 0, 1)) / DAY_MS) + 1;
}

/** ISO 8601 week: weeks start on Monday; week 1 holds the year's first Thursday */
function isoWeek(d: Date): { weekYear: number; week: number } {
  const weekday = d.getUTCDay() || 7;
  const thursday = new Date(utcMidnight(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) + (4 - weekday) * DAY_MS);
  const weekYear = thursday.getUTCFullYear();
  return { weekYear, week: Math.floor((thursday.getTime() - utcMidnight(weekYear, 0, 1)) / DAY_MS / 7) + 1 };
}

interface DateToken {
  /** longest output, for the 255-byte rule */
  width: number;
  hourly?: boolean;
  render(d: Date): string;
}

/**
 * Joda-Time letters (what Logstash's %{+...} uses). Joda's Y is the year of era,
 * the same number as y for every year logship names (1-9999); it is not Java's
 * week-based year. The week-based year is x, to use with w.
 */
export const DATE_TOKENS: Readonly<Record<string, DateToken>> = {
  yyyy: { width: 4, render: (d) => pad(d.getUTCFullYear(), 4) }, // year, 4 digits (2026)
  YYYY: { width: 4, render: (d) => pad(d.getUTCFullYear(), 4) }, // year, 4 digits (Joda year of era: same as yyyy)
  yy: { width: 2, render: (d) => pad(d.getUTCFullYear() % 100, 2) }, // year, 2 digits (26)
  YY: { width: 2, render: (d) => pad(d.getUTCFullYear() % 100, 2) }, // year, 2 digits (same as yy)
  xxxx: { width: 4, render: (d) => pad(isoWeek(d).weekYear, 4) }, // ISO week-based year, 4 digits (use with ww)
  xx: { width: 2, render: (d) => pad(isoWeek(d).weekYear % 100, 2) }, // ISO week-based year, 2 digits
  MM: { width: 2, render: (d) => pad(d.getUTCMonth() + 1, 2) }, // month, 01-12
  M: { width: 2, render: (d) => String(d.getUTCMonth() + 1) }, // month, 1-12
  ww: { width: 2, render: (d) => pad(isoWeek(d).week, 2) }, // ISO week of the week-based year, 01-53
  w: { width: 2, render: (d) => String(isoWeek(d).week) }, // ISO week, 1-53
  dd: { width: 2, render: (d) => pad(d.getUTCDate(), 2) }, // day of month, 01-31
  d: { width: 2, render: (d) => String(d.getUTCDate()) }, // day of month, 1-31
  DDD: { width: 3, render: (d) => pad(dayOfYear(d), 3) }, // day of year, 001-366
  D: { width: 3, render: (d) => String(dayOfYear(d)) }, // day of year, 1-366
  e: { width: 1, render: (d) => String(d.getUTCDay() || 7) }, // day of week, 1 (Monday) - 7 (Sunday)
  HH: { width: 2, hourly: true, render: (d) => pad(d.getUTCHours(), 2) }, // hour, 00-23
  H: { width: 2, hourly: true, render: (d) => String(d.getUTCHours()) }, // hour, 0-23
};

/** The supported tokens, for messages and the help text of --index. */
export const TOKEN_LIST = Object.keys(DATE_TOKENS).join(' ');

/** Characters Elasticsearch refuses in index names (plus whitespace and control characters, which no one means). */
const FORBIDDEN = /[\\/*?"<>|,#:\s\p{Cc}]/u;

type Piece = string | DateToken;

interface Parsed {
  pieces: Piece[];
  /** the text outside %{...}, where uppercase letters can come from */
  outside: string;
  /** one * per %{+...} */
  wildcard: string;
  /** the pattern with the text outside %{...} lowercased */
  lowercased: string;
  problem?: string;
}

/** Splits a pattern into literal text and date tokens; the first problem found is returned too. */
function parsePattern(pattern: string): Parsed {
  const parsed: Parsed = { pieces: [], outside: '', wildcard: '', lowercased: '' };
  const literal = (text: string) => {
    parsed.pieces.push(text);
    parsed.outside += text;
    parsed.wildcard += text;
    parsed.lowercased += text.toLowerCase();
  };
  let i = 0;
  while (i < pattern.length) {
    const open = pattern.indexOf('%{', i);
    if (open < 0) {
      literal(pattern.slice(i));
      break;
    }
    if (open > i) literal(pattern.slice(i, open));
    const close = pattern.indexOf('}', open + 2);
    if (close < 0) return { ...parsed, problem: `has a "%{" (at position ${open + 1}) without a closing "}"` };
    const inner = pattern.slice(open + 2, close);
    if (!inner.startsWith('+')) {
      return {
        ...parsed,
        problem: `holds %{${inner}}: field references are not supported in --index yet; ` + 'only dates from the event @timestamp, such as %{+yyyy.MM.dd}',
      };
    }
    const problem = parseDateFormat(inner.slice(1), parsed.pieces);
    if (problem) return { ...parsed, problem: `holds %{${inner}}: ${problem}` };
    parsed.wildcard += '*';
    parsed.lowercased += `%{${inner}}`;
    i = close + 1;
  }
  return parsed;
}

function parseDateFormat(format: string, pieces: Piece[]): string | undefined {
  if (format.length === 0) return 'the date format is empty';
  for (const m of format.matchAll(/([A-Za-z])\1*|[^A-Za-z]+/g)) {
    const run = m[0];
    if (!/^[A-Za-z]/.test(run)) {
      if (run.includes("'")) return 'quoted text is not supported (put literal text outside %{+...})';
      pieces.push(run);
      continue;
    }
    const token = DATE_TOKENS[run];
    if (!token) return `unsupported date token "${run}" (supported: ${TOKEN_LIST})`;
    pieces.push(token);
  }
  return undefined;
}

function problemOf(pattern: string, parsed: Parsed): string | undefined {
  const { pieces } = parsed;
  if (pattern.length === 0) return 'is empty';
  if (parsed.outside !== parsed.outside.toLowerCase()) {
    const upper = [...new Set([...parsed.outside].filter((c) => c !== c.toLowerCase()))].join('');
    return `contains uppercase letters (${upper}); Elasticsearch index names must be lowercase: write "${parsed.lowercased}"`;
  }
  const literal = pieces.filter((p): p is string => typeof p === 'string').join('');
  const bad = FORBIDDEN.exec(literal)?.[0];
  if (bad !== undefined) {
    const shown = /\s|\p{Cc}/u.test(bad) ? `whitespace or a control character (${JSON.stringify(bad)})` : `"${bad}"`;
    return `contains ${shown}, which Elasticsearch forbids in index names (\\ / * ? " < > | , # : and spaces)`;
  }
  // dates only produce digits: the longest name is the literals with every token at full width
  const longest = pieces.map((p) => (typeof p === 'string' ? p : '0'.repeat(p.width))).join('');
  if (longest === '.' || longest === '..') return 'is "." or "..", which Elasticsearch forbids';
  if (/^[-_+]/.test(longest)) return `starts with "${longest[0]}"; Elasticsearch index names must not start with - _ or +`;
  if (longest.startsWith('.')) return 'starts with "."; such names are hidden or system indices in Elasticsearch';
  const bytes = Buffer.byteLength(longest);
  if (bytes > 255) return `can expand to ${bytes} bytes; Elasticsearch index names are at most 255 bytes`;
  return undefined;
}

/** Elasticsearch index name rules, checked on the configured pattern: a reason, or undefined when valid. */
export function validateIndexPattern(pattern: string): string | undefined {
  const parsed = parsePattern(pattern);
  return parsed.problem ?? problemOf(pattern, parsed);
}

export interface IndexNamer {
  /** the index for an event whose @timestamp is given in epoch milliseconds (NaN or outside years 1-9999: now) */
  nameFor(timestampMs: number): string;
  /** a wildcard matching every index of the pattern, for templates and counts */
  readonly wildcard: string;
  readonly dynamic: boolean;
  /**
   * Present when a document needs more than nameFor: the decoder calls it on
   * every document after naming it, and it may change the index and the
   * source (data stream fields; index names from event fields).
   */
  readonly perDocument?: (doc: { index: string; source: string }) => void;
}

const JSON_SPACE = new Set([' ', '\t', '\n', '\r']);

/**
 * Where the values of the top-level `key` of a JSON object text are (start,
 * end), without parsing the rest; a key spelled with escapes counts, a key
 * of a nested object does not.
 */
function topLevelValueSpans(text: string, key: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let depth = 0;
  let valueStart = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      if (depth !== 1 || valueStart >= 0) continue;
      let j = i + 1;
      while (j < text.length && JSON_SPACE.has(text[j]!)) j++;
      if (text[j] !== ':') continue;
      const raw = text.slice(start, i + 1);
      if ((raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1)) !== key) continue;
      valueStart = j + 1;
      i = j;
      continue;
    }
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    if (valueStart >= 0 && ((c === ',' && depth === 1) || depth === 0)) {
      spans.push([valueStart, i]);
      valueStart = -1;
    }
  }
  return spans;
}

/**
 * A data stream's namer: every document goes to the stream and carries
 * data_stream.type/dataset/namespace (Elasticsearch maps them as
 * constant_keyword: a document with other values is refused, so an event's
 * own data_stream object is replaced).
 */
export function createDataStreamNamer(name: string): IndexNamer {
  const problem = validateDataStreamName(name);
  if (problem) throw new LogshipError(ErrorCodes.CONFIG_INVALID, `--data-stream "${name}" ${problem}`);
  const [type, dataset, namespace] = name.split('-') as [string, string, string];
  const fields = { type, dataset, namespace };
  const json = JSON.stringify(fields);
  return {
    nameFor: () => name,
    wildcard: name,
    dynamic: false,
    perDocument(doc) {
      // sources are one JSON object, edited as text: a parse and reserialization would round integers past 2^53
      const text = doc.source.trim();
      if (!text.startsWith('{') || !text.endsWith('}')) {
        const obj = JSON.parse(doc.source) as Record<string, unknown>;
        obj.data_stream = fields;
        doc.source = JSON.stringify(obj);
        return;
      }
      const spans = text.includes('data_stream') || text.includes('\\u') ? topLevelValueSpans(text, 'data_stream') : [];
      if (spans.length === 0) {
        doc.source = /^\{\s*\}$/.test(text) ? `{"data_stream":${json}}` : `${text.slice(0, -1)},"data_stream":${json}}`;
        return;
      }
      let out = text;
      for (const [start, end] of spans.reverse()) out = `${out.slice(0, start)}${json}${out.slice(end)}`;
      doc.source = out;
    },
  };
}

/** The namer of a configuration: --data-stream when set (then --index is ignored), else --index. */
export function namerFor(config: { index: string; dataStream?: string }): IndexNamer {
  return config.dataStream ? createDataStreamNamer(config.dataStream) : createIndexNamer(config.index);
}

/** Throws LogshipError(CONFIG_INVALID) for a pattern validateIndexPattern refuses. */
export function createIndexNamer(pattern: string): IndexNamer {
  const parsed = parsePattern(pattern);
  const refused = parsed.problem ?? problemOf(pattern, parsed);
  if (refused) throw new LogshipError(ErrorCodes.CONFIG_INVALID, `--index "${pattern}" ${refused}`);
  const { pieces, wildcard } = parsed;
  const dynamic = pieces.some((p) => typeof p !== 'string');
  if (!dynamic) return { nameFor: () => pattern, wildcard, dynamic };
  // adjacent literals merged: the hot path renders as few pieces as possible
  const compiled: Piece[] = [];
  for (const p of pieces) {
    const last = compiled[compiled.length - 1];
    if (typeof p === 'string' && typeof last === 'string') compiled[compiled.length - 1] = last + p;
    else compiled.push(p);
  }
  const bucketMs = pieces.some((p) => typeof p !== 'string' && p.hourly) ? HOUR_MS : DAY_MS;
  // one-bucket cache: events of a run mostly share a day (or an hour)
  let cachedBucket = Number.NaN;
  let cachedName = '';
  return {
    wildcard,
    dynamic,
    nameFor(timestampMs: number) {
      const t = timestampMs >= MIN_MS && timestampMs <= MAX_MS ? timestampMs : Date.now();
      const bucket = Math.floor(t / bucketMs);
      if (bucket !== cachedBucket) {
        const d = new Date(t);
        let name = '';
        for (const p of compiled) name += typeof p === 'string' ? p : p.render(d);
        cachedName = name;
        cachedBucket = bucket;
      }
      return cachedName;
    },
  };
}

/**
 * Data stream names of the Elastic naming scheme, TYPE-DATASET-NAMESPACE
 * (logs-app-default): lowercase, dataset and namespace without "-", the whole
 * at most 100 bytes so backing indices (.ds-NAME-yyyy.MM.dd-000001) stay short.
 * A reason, or undefined when valid.
 */
export function validateDataStreamName(name: string): string | undefined {
  const parts = name.split('-');
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) {
    return 'must be TYPE-DATASET-NAMESPACE, such as logs-app-default (dataset and namespace hold no "-")';
  }
  if (!/^[a-z0-9_.-]+$/.test(name)) return 'must hold only lowercase letters, digits, "_" and "." besides its two "-"';
  if (/^[._+]/.test(name)) return 'must not start with "." "_" or "+"';
  if (Buffer.byteLength(name) > 100) return 'must be at most 100 bytes';
  return undefined;
}
