/**
 * Field references in --index, as Logstash and Beats users write them:
 * `%{[service][name]}`, `%{[service.name]}` or `%{service.name}`, with a
 * fallback after a colon as in Beats' format strings (`%{[service][name]:other}`;
 * FIELD_FALLBACK without one). A name is the field's value made safe: no
 * event can name an index outside the pattern, whatever its fields hold.
 *
 * - Field names are matched as Elasticsearch maps them: `[service][name]`,
 *   `[service.name]` and `service.name` all mean the field service.name, held
 *   nested (`{"service":{"name":…}}`) or as a dotted key (`{"service.name":…}`).
 *   The last occurrence wins, as in JSON.parse.
 * - A string is taken as is, a number or a boolean as its JSON text; null,
 *   an object, an array or a missing field give the fallback.
 * - sanitiseFieldValue: A-Z lowercased; every run of other characters than
 *   a-z 0-9 _ - becomes one `_`; leading `-` and `_` are dropped; the value
 *   is cut at the reference's cap (at most FIELD_VALUE_MAX characters, less
 *   when the pattern leaves less room in Elasticsearch's 255 bytes). Nothing
 *   left (empty; `.` and `..` cannot survive): the fallback.
 *
 * The lookup reads the document's JSON text without parsing it (logship's own
 * events reach the indexer unparsed): a linear scan that jumps over strings,
 * uses no recursion and never throws.
 */

/** the fallback of a reference written without one */
export const FIELD_FALLBACK = 'unknown';
/** the longest value a field reference expands to (less when the pattern leaves less room) */
export const FIELD_VALUE_MAX = 100;
/** what a fallback must look like: a value sanitiseFieldValue leaves as it is */
const FALLBACK_SHAPE = /^[a-z0-9][a-z0-9_-]*$/;

export interface FieldRef {
  /** the reference as written, between %{ and } */
  written: string;
  /** the field's name split at dots and brackets: service.name is ['service', 'name'] */
  path: string[];
  fallback: string;
}

/** A field reference (the text between %{ and }, not a date), or the reason it is refused. */
export function parseFieldRef(inner: string): FieldRef | string {
  let names: string;
  let rest: string;
  if (inner.startsWith('[')) {
    const m = /^(?:\[[^[\]]+\])+/.exec(inner);
    if (!m) return 'write a field as [name] or [outer][inner], each name in brackets';
    names = m[0].slice(1, -1).split('][').join('.');
    rest = inner.slice(m[0].length);
  } else {
    const colon = inner.indexOf(':');
    names = colon < 0 ? inner : inner.slice(0, colon);
    rest = colon < 0 ? '' : inner.slice(colon);
    if (/[[\]]/.test(names)) return 'write a field as [name] or [outer][inner], each name in brackets';
  }
  if (names.length === 0) return 'the field name is empty';
  const path = names.split('.');
  if (path.some((p) => p.length === 0)) return `the field name "${names}" has an empty part (a leading, trailing or double ".")`;
  if (rest !== '' && !rest.startsWith(':')) return `unexpected "${rest}" after the field name (a fallback follows a ":", as in %{[service][name]:unknown})`;
  const fallback = rest === '' ? FIELD_FALLBACK : rest.slice(1);
  if (!FALLBACK_SHAPE.test(fallback)) {
    return `the fallback "${fallback}" must be lowercase letters, digits, "_" and "-", starting with a letter or digit (it names an index)`;
  }
  return { written: inner, path, fallback };
}

const UNDERSCORE = 95;
const DASH = 45;

/**
 * The value made safe for an index name, at most `cap` characters: A-Z
 * lowercased, each run of other characters than [a-z0-9_-] one "_", no
 * leading "-" or "_". Empty when nothing is left. Stops reading at the cap.
 */
export function sanitiseFieldValue(value: string, cap: number): string {
  let out = '';
  let pending = false;
  for (let i = 0; i < value.length && out.length < cap; i++) {
    let c = value.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    const kept = (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === UNDERSCORE || c === DASH;
    if (!kept) {
      pending = true;
      continue;
    }
    if (out === '') {
      pending = false;
      if (c === UNDERSCORE || c === DASH) continue;
    } else if (pending) {
      pending = false;
      out += '_';
      if (out.length >= cap) break;
    }
    out += String.fromCharCode(c);
  }
  if (pending && out !== '' && out.length < cap) out += '_';
  return out;
}

/** What a field holds, as far as index names care. */
export type FieldValue = { text: string } | 'absent' | 'unusable';

const SPACE = new Set([32, 9, 10, 13]);

/** just past the closing quote of the JSON string whose opening quote is at `open`, or -1 */
function stringEnd(text: string, open: number): number {
  let at = open + 1;
  for (;;) {
    const q = text.indexOf('"', at);
    if (q === -1) return -1;
    let slashes = 0;
    for (let i = q - 1; i > open && text.charCodeAt(i) === 92; i--) slashes++;
    if (slashes % 2 === 0) return q + 1;
    at = q + 1;
  }
}

function skipSpace(text: string, at: number): number {
  while (at < text.length && SPACE.has(text.charCodeAt(at))) at++;
  return at;
}

/** the decoded text of the JSON string text.slice(open, end), or undefined when it is not valid JSON */
function decodeString(text: string, open: number, end: number): string | undefined {
  const raw = text.slice(open + 1, end - 1);
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(text.slice(open, end)) as string;
  } catch {
    return undefined;
  }
}

/** how many names of `path` from `from` the key spells (a.b spells two), or 0 */
function keySpells(key: string, path: readonly string[], from: number): number {
  let at = 0;
  for (let n = 0; from + n < path.length; ) {
    const name = path[from + n]!;
    if (!key.startsWith(name, at)) return 0;
    at += name.length;
    n++;
    if (at === key.length) return n;
    if (key.charCodeAt(at) !== 46) return 0;
    at++;
  }
  return 0;
}

/** the value that starts at `at` (a scalar, or the first character of a container) */
function valueAt(text: string, at: number): FieldValue {
  const c = text.charCodeAt(at);
  if (c === 34) {
    const end = stringEnd(text, at);
    const s = end < 0 ? undefined : decodeString(text, at, end);
    return s === undefined ? 'unusable' : { text: s };
  }
  if (c === 123 || c === 91) return 'unusable'; // { [
  let end = at;
  while (end < text.length && !SPACE.has(text.charCodeAt(end)) && !',}]'.includes(text[end]!)) end++;
  const literal = text.slice(at, end);
  if (literal === 'null' || literal === '') return 'unusable';
  return { text: literal };
}

/**
 * The value of the field `path` in a JSON object text, without parsing it.
 * Linear in the text: strings are jumped over with indexOf, only the keys of
 * the objects on the field's path are read, and the nesting is a counter.
 * Never throws; text that is not JSON gives whatever the scan finds.
 */
export function fieldValue(text: string, path: readonly string[]): FieldValue {
  let found: FieldValue = 'absent';
  let depth = 0;
  /** the deepest open object on the field's path (1 = the document itself; 0 = none) */
  let onPath = 0;
  /** for each depth up to onPath: how many names of the path its keys start at */
  const consumed: number[] = [0];
  /** set after a key that spells a prefix of the path: the names its object value starts at */
  let descend = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      const end = stringEnd(text, i);
      if (end < 0) break;
      if (depth === onPath && depth > 0) {
        const colon = skipSpace(text, end);
        if (text.charCodeAt(colon) === 58) {
          const key = decodeString(text, i, end);
          const spelled = key === undefined ? 0 : keySpells(key, path, consumed[depth]!);
          if (spelled > 0) {
            const at = skipSpace(text, colon + 1);
            const total = consumed[depth]! + spelled;
            if (total === path.length) found = valueAt(text, at);
            else if (text.charCodeAt(at) === 123) descend = total;
            i = at - 1;
            continue;
          }
        }
      }
      i = end - 1;
      continue;
    }
    if (c === 123 || c === 91) {
      depth++;
      if (c === 123 && (depth === 1 || descend >= 0)) {
        onPath = depth;
        consumed[depth] = depth === 1 ? 0 : descend;
      }
      descend = -1;
    } else if (c === 125 || c === 93) {
      if (onPath === depth) onPath--;
      depth--;
      if (depth <= 0) break;
    }
  }
  return found;
}

/** The name piece a reference expands to in a document: the sanitised value, else the fallback. */
export function expandFieldRef(ref: FieldRef, source: string, cap: number): string {
  const v = fieldValue(source, ref.path);
  if (typeof v !== 'object') return ref.fallback;
  return sanitiseFieldValue(v.text, cap) || ref.fallback;
}
