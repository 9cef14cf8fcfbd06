/**
 * Recognises logship's own event layout without parsing the event: the
 * indexer's hot path. The shipper's serializers write every event as
 *
 *   {"@timestamp":"<ISO, ms, Z>","message":"<JSON string>","event":{"id":"<32 hex>"},...
 *
 * and such a line is taken as the document as is (Elasticsearch still
 * validates it). This is a hand-written scan, not a regular expression:
 * irregexp backtracks through the message and overflows its stack on a
 * message of about 10 MB ("Maximum call stack size exceeded"); this scan is
 * linear in the length of the line, uses no recursion and never throws.
 * Kept apart so that it can move with the wire format into a shared module.
 */

export interface OwnLayout {
  id: string;
  /** the @timestamp in epoch milliseconds (a valid date) */
  timestampMs: number;
  /** index just past the closing brace of "event":{"id":"..."} */
  end: number;
}

const HEAD = '{"@timestamp":"';
const AFTER_TIMESTAMP = '","message":"';
const AFTER_MESSAGE = ',"event":{"id":"';
/**
 * The fixed-length parts are matched with sticky regular expressions: they
 * have no unbounded quantifier, so they look at a bounded number of
 * characters whatever the line holds.
 */
const TIMESTAMP = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","message":"/y;
const TIMESTAMP_LENGTH = 24; // 2026-11-21T10:00:00.000Z
const ID = /[0-9a-f]{32}"\}/y;
const ID_LENGTH = 32;

/** The last timestamp seen and its value: events of a run mostly share their millisecond's second. */
let lastTimestamp = '';
let lastTimestampMs = Number.NaN;

function timestampAt(line: string, at: number): number {
  if (lastTimestamp !== '' && line.startsWith(lastTimestamp, at)) return lastTimestampMs;
  TIMESTAMP.lastIndex = at;
  if (!TIMESTAMP.test(line)) return Number.NaN;
  const text = line.slice(at, at + TIMESTAMP_LENGTH);
  // the shape is right; the date may still not exist (month 13): NaN then
  const ms = Date.parse(text);
  if (!Number.isNaN(ms)) {
    lastTimestamp = `${text}${AFTER_TIMESTAMP}`;
    lastTimestampMs = ms;
  }
  return ms;
}

/**
 * The index just past the closing quote of the JSON string whose content
 * starts at `from`, or -1. Jumps from quote to quote with indexOf; a quote
 * preceded by an odd run of backslashes is escaped. Each backslash is counted
 * at most once (it belongs to the run before exactly one quote), so the scan
 * stays linear. Raw control characters are left to Elasticsearch to refuse.
 */
function endOfString(line: string, from: number): number {
  let at = from;
  for (;;) {
    const q = line.indexOf('"', at);
    if (q === -1) return -1;
    let slashes = 0;
    for (let i = q - 1; i >= from && line.charCodeAt(i) === 92; i--) slashes++;
    if (slashes % 2 === 0) return q + 1;
    at = q + 1;
  }
}

/** The id and @timestamp of a line in logship's own layout, or undefined when it is not in that layout. */
export function scanOwnLayout(line: string): OwnLayout | undefined {
  if (!line.startsWith(HEAD)) return undefined;
  let at = HEAD.length;
  const timestampMs = timestampAt(line, at);
  if (Number.isNaN(timestampMs)) return undefined;
  at = endOfString(line, at + TIMESTAMP_LENGTH + AFTER_TIMESTAMP.length);
  if (at === -1 || !line.startsWith(AFTER_MESSAGE, at)) return undefined;
  at += AFTER_MESSAGE.length;
  ID.lastIndex = at;
  if (!ID.test(line)) return undefined;
  return { id: line.slice(at, at + ID_LENGTH), timestampMs, end: at + ID_LENGTH + 2 };
}
