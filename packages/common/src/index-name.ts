/**
 * Index names from a pattern such as "logs-%{+yyyy.MM.dd}", expanded from an
 * event's @timestamp in UTC. Inside %{+...} the Joda date tokens Logstash users
 * write are understood (DATE_TOKENS); they only produce digits, so event data
 * never steers a document outside the configured pattern. Field references
 * (`%{[service][name]}`, index-fields.ts) expand to the field's value made
 * safe, or a fallback. A pattern that Elasticsearch would refuse, for any
 * timestamp and any field value, is refused at startup; so is a pattern with
 * a field reference whose literal text before the first %{ is empty or does
 * not end in "-", "_" or "." (fieldPrefixProblem: its template would cover indices
 * that are not logship's).
 */
import { ErrorCodes, LogshipError } from './errors.js';
import { createDataStreamNamer } from './data-stream-name.js';
import { FIELD_VALUE_MAX, type FieldRef, expandFieldRef, parseFieldRef } from './index-fields.js';

export { createDataStreamNamer, validateDataStreamName } from './data-stream-name.js';
export { FIELD_FALLBACK, FIELD_VALUE_MAX, fieldValue, parseFieldRef, sanitiseFieldValue } from './index-fields.js';

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

/** a field reference inside a parsed pattern */
interface FieldPiece {
  field: FieldRef;
}

type Piece = string | DateToken | FieldPiece;

function isField(p: Piece): p is FieldPiece {
  return typeof p === 'object' && 'field' in p;
}

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
      const field = parseFieldRef(inner);
      if (typeof field === 'string') return { ...parsed, problem: `holds %{${inner}}: ${field}` };
      parsed.pieces.push({ field });
      parsed.wildcard += '*';
      parsed.lowercased += `%{${inner}}`;
      i = close + 1;
      continue;
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
  const fields = pieces.filter(isField);
  if (fields.length > 0) {
    const prefix = fieldPrefixProblem(pattern);
    if (prefix) return prefix;
  }
  // dates only produce digits and fields at most fieldCap safe characters: the longest name has every
  // token at full width; fields count apart (their fallbacks stand in for them in the other rules)
  const longest = pieces.map((p) => (typeof p === 'string' ? p : isField(p) ? p.field.fallback : '0'.repeat(p.width))).join('');
  if (longest === '.' || longest === '..') return 'is "." or "..", which Elasticsearch forbids';
  if (/^[-_+]/.test(longest)) return `starts with "${longest[0]}"; Elasticsearch index names must not start with - _ or +`;
  if (longest.startsWith('.')) return 'starts with "."; such names are hidden or system indices in Elasticsearch';
  const bytes = fixedBytes(pieces);
  const without = fields.length > 0 ? ' without its field values' : '';
  if (bytes > 255) return `can expand to ${bytes} bytes${without}; Elasticsearch index names are at most 255 bytes`;
  if (fields.length > 0) {
    const cap = fieldCap(pieces);
    const fallback = Math.max(...fields.map((f) => f.field.fallback.length));
    if (cap < fallback) {
      return (
        `leaves ${cap} bytes for each field value, fewer than its fallback's ${fallback} ` +
        '(Elasticsearch index names are at most 255 bytes): shorten the literal text or use fewer field references'
      );
    }
  }
  return undefined;
}

/**
 * With a field reference, the index template's pattern starts with the
 * literal text before the first %{, then a * (logship-%{[service][name]}
 * gives logship-*). That text is what keeps the template off other indices, so it
 * is taken from the pattern as written: text inside %{+...} (digits, dots)
 * does not count. It must not be empty (the template would be `*-*`: every
 * index of the cluster) and must end in "-", "_" or ".", so the prefix is a whole
 * word (logs%{...} would give logs*, which covers logstash-*).
 */
function fieldPrefixProblem(pattern: string): string | undefined {
  const prefix = pattern.slice(0, Math.max(0, pattern.indexOf('%{')));
  const example = 'such as logship-%{[service][name]}-%{+yyyy.MM.dd}';
  if (prefix === '') {
    return (
      'starts with a %{...} reference; with a field reference the pattern must start with literal text ending in "-", "_" or "." ' +
      `(before any %{...}, dates included), ${example}: its index template would otherwise cover every index of the cluster`
    );
  }
  if (!/[-_.]$/.test(prefix)) {
    return (
      `starts with the literal text "${prefix}", which does not end in "-", "_" or "."; with a field reference the pattern must ` +
      `start with literal text ending in "-", "_" or ".", ${example}: its index template "${prefix}*" would otherwise cover ` +
      `other indices whose names start with "${prefix}"`
    );
  }
  return undefined;
}

/** the bytes of the longest name without its field values: literals, and dates at full width */
function fixedBytes(pieces: Piece[]): number {
  return Buffer.byteLength(pieces.map((p) => (typeof p === 'string' ? p : isField(p) ? '' : '0'.repeat(p.width))).join(''));
}

/**
 * The longest value each field reference expands to: FIELD_VALUE_MAX, or less
 * when the rest of the pattern (literals, dates at full width) leaves less of
 * Elasticsearch's 255 bytes (values are ASCII: one byte a character).
 */
function fieldCap(pieces: Piece[]): number {
  const fields = pieces.filter(isField).length;
  return Math.min(FIELD_VALUE_MAX, Math.floor((255 - fixedBytes(pieces)) / fields));
}

/** Whether a pattern holds a field reference (a %{ not followed by +), whether or not it is valid. */
export function hasFieldReference(pattern: string): boolean {
  for (let at = pattern.indexOf('%{'); at >= 0; at = pattern.indexOf('%{', at + 2)) if (pattern[at + 2] !== '+') return true;
  return false;
}

/**
 * Field references only name indices of --index: a data stream has one name.
 * The reason a configuration with both is refused, or undefined.
 */
export function dataStreamIndexProblem(config: { index: string; dataStream?: string }): string | undefined {
  if (!config.dataStream || !hasFieldReference(config.index)) return undefined;
  return (
    `--index "${config.index}" names indices from event fields, which --data-stream ${config.dataStream} cannot do: ` +
    'a data stream has one name and --index is ignored with it. Drop --data-stream to write indices named from ' +
    'fields, or set --index to a pattern without field references'
  );
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
  /**
   * With field references in the pattern: the most characters a field value
   * expands to. nameFor then leaves a placeholder (U+0000) for each value,
   * which perDocument replaces; the decoder always calls both.
   */
  readonly fieldCap?: number;
}

/** The namer of a configuration: --data-stream when set (then --index is ignored), else --index. */
export function namerFor(config: { index: string; dataStream?: string }): IndexNamer {
  const conflict = dataStreamIndexProblem(config);
  if (conflict) throw new LogshipError(ErrorCodes.CONFIG_INVALID, conflict);
  return config.dataStream ? createDataStreamNamer(config.dataStream) : createIndexNamer(config.index);
}

/** U+0000 stands for a field value in the names nameFor gives (control characters are refused in patterns) */
const FIELD_MARK = '\u0000';

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
  const bucketMs = pieces.some((p) => typeof p !== 'string' && !isField(p) && p.hourly) ? HOUR_MS : DAY_MS;
  // one-bucket cache: events of a run mostly share a day (or an hour)
  let cachedBucket = Number.NaN;
  let cachedName = '';
  const namer: IndexNamer = {
    wildcard,
    dynamic,
    nameFor(timestampMs: number) {
      const t = timestampMs >= MIN_MS && timestampMs <= MAX_MS ? timestampMs : Date.now();
      const bucket = Math.floor(t / bucketMs);
      if (bucket !== cachedBucket) {
        const d = new Date(t);
        let name = '';
        for (const p of compiled) name += typeof p === 'string' ? p : isField(p) ? FIELD_MARK : p.render(d);
        cachedName = name;
        cachedBucket = bucket;
      }
      return cachedName;
    },
  };
  const fields = pieces.filter(isField).map((p) => p.field);
  if (fields.length === 0) return namer; // no per-document work: nothing to look up
  const cap = fieldCap(pieces);
  return {
    ...namer,
    fieldCap: cap,
    // nameFor left a FIELD_MARK per reference: each becomes the document's value, made safe, or the fallback
    perDocument(doc) {
      const parts = doc.index.split(FIELD_MARK);
      let name = parts[0]!;
      for (let i = 1; i < parts.length; i++) {
        const ref = fields[i - 1];
        name += (ref ? expandFieldRef(ref, doc.source, cap) : '') + parts[i];
      }
      doc.index = name;
    },
  };
}
