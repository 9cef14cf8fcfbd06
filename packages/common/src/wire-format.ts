/**
 * The wire format (docs/DESIGN.md), in one place for both sides: the layout the
 * shipper's two serializers write (EventFactory from strings, EventWriter from
 * bytes), the AMQP properties of a message, and how the indexer recognises a
 * line in that layout to take it as the document without parsing it.
 *
 * An event of a plain line is written as
 *
 *   {"@timestamp":"<ISO, ms, Z>","message":"<JSON string>","event":{"id":"<32 hex>"},
 *    "host":{"name":...}[,"log":{"file":{"path":...},"offset":N}],
 *    "input":{"type":...},"agent":{"type":"logship","version":...},"tags":[...],"labels":{}}
 *
 * (one line). Events of the json codec are JSON.stringify of the merged event,
 * which starts the same way when the line's fields leave those in place.
 *
 * Wire format v1 publishes each message persistent and mandatory with
 * content_type and message_id only. The format before it also set timestamp,
 * app_id 'logship' and content_encoding 'utf-8': they cost the broker
 * throughput (docs/performance.md) and say nothing the body does not
 * (@timestamp, agent.type, JSON is UTF-8). The indexer still reads messages
 * in that format: queues hold messages across an upgrade.
 */
import { createRequire } from 'node:module';

/** agent.version of shipped events: the version of the logship packages (packages/common/package.json) */
export const AGENT_VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
export const JSON_CONTENT_TYPE = 'application/json';
export const NDJSON_CONTENT_TYPE = 'application/x-ndjson';
/** app_id of the format before v1: such a message is logship's by that alone */
export const PREVIOUS_APP_ID = 'logship';

/** `{"@timestamp":"`, then the ISO timestamp (24 characters) */
export const HEAD = '{"@timestamp":"';
/** after the timestamp: its closing quote and the message key; then the message as a JSON string */
export const AFTER_TIMESTAMP = '","message":';
/** after the message string; then the 32 hex characters of event.id */
export const BEFORE_ID = ',"event":{"id":"';
/** how logship's events name their agent: part of the layout the indexer checks */
export const AGENT_MARK = ',"agent":{"type":"logship","version":';
/** the end of every event */
export const END = ',"labels":{}}';

/** from the id's closing quote to the end of host: `"},"host":{"name":...}` */
export function afterIdFragment(hostName: string): string {
  return `"},"host":{"name":${JSON.stringify(hostName)}}`;
}

/** the log fields of a file input up to the offset, which follows as a decimal, then `}` */
export function logFragment(filePath: string): string {
  return `,"log":{"file":{"path":${JSON.stringify(filePath)}},"offset":`;
}

/** after host (and log): input and agent, up to the tags, which follow as a JSON array, then END */
export function tailFragment(inputType: string): string {
  return `,"input":{"type":${JSON.stringify(inputType)}}${AGENT_MARK}${JSON.stringify(AGENT_VERSION)}},"tags":`;
}

/** a type, not an interface: it is handed on as a Record of properties */
export type PublishProperties = {
  persistent: true;
  mandatory: true;
  contentType: string;
  messageId: string;
};

/** AMQP publish options of a message (wire format v1). */
export function publishProperties(messageId: string, ndjson: boolean): PublishProperties {
  return { persistent: true, mandatory: true, contentType: ndjson ? NDJSON_CONTENT_TYPE : JSON_CONTENT_TYPE, messageId };
}

/** The properties of the format before v1, which the indexer still reads (tests publish them). */
export function previousPublishProperties(messageId: string, ndjson: boolean, timestampMs = Date.now()) {
  return { ...publishProperties(messageId, ndjson), contentEncoding: 'utf-8', timestamp: Math.floor(timestampMs / 1000), appId: PREVIOUS_APP_ID };
}

/*
 * Recognising the layout without parsing the event: the indexer's hot path.
 * This is a hand-written scan, not a regular expression: irregexp backtracks
 * through the message and overflows its stack on a message of about 10 MB
 * ("Maximum call stack size exceeded"); this scan is linear in the length of
 * the line, uses no recursion and never throws.
 */

export interface OwnLayout {
  /** event.id: a slice of the line (a view of it that keeps the whole line alive) */
  id: string;
  /** index of event.id's first character in the line */
  idAt: number;
  /** the @timestamp in epoch milliseconds (a valid date) */
  timestampMs: number;
  /** index just past the closing brace of "event":{"id":"..."} */
  end: number;
}

/** the message string's opening quote follows AFTER_TIMESTAMP */
const MESSAGE_START = `${AFTER_TIMESTAMP}"`;
/**
 * The fixed-length parts are matched with sticky regular expressions: they
 * have no unbounded quantifier, so they look at a bounded number of
 * characters whatever the line holds. (The fragments hold no regex syntax.)
 */
const TIMESTAMP = new RegExp(`\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z${MESSAGE_START}`, 'y');
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
    lastTimestamp = `${text}${MESSAGE_START}`;
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

/** The id and @timestamp of a line that starts in logship's own layout, or undefined when it does not. */
export function scanOwnLayout(line: string): OwnLayout | undefined {
  if (!line.startsWith(HEAD)) return undefined;
  let at = HEAD.length;
  const timestampMs = timestampAt(line, at);
  if (Number.isNaN(timestampMs)) return undefined;
  at = endOfString(line, at + TIMESTAMP_LENGTH + MESSAGE_START.length);
  if (at === -1 || !line.startsWith(BEFORE_ID, at)) return undefined;
  at += BEFORE_ID.length;
  ID.lastIndex = at;
  if (!ID.test(line)) return undefined;
  return { id: line.slice(at, at + ID_LENGTH), idAt: at, timestampMs, end: at + ID_LENGTH + 2 };
}

/**
 * The fast-path rule: whether a line of a body declared JSON or NDJSON is
 * logship's own event, to be taken as the document as is. It must start in
 * the layout (scanOwnLayout) and either carry logship's agent after event.id
 * or come in a message of the previous format (app_id 'logship'). Neither
 * costs a message property; both look at the line once, linearly.
 */
export function ownEvent(line: string, appId?: string): OwnLayout | undefined {
  const own = scanOwnLayout(line);
  if (own === undefined) return undefined;
  if (appId === PREVIOUS_APP_ID || line.indexOf(AGENT_MARK, own.end) !== -1) return own;
  return undefined;
}
