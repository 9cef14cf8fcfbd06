/**
 * Decodes a delivery into documents. Accepts logship's own messages (one JSON
 * event, or NDJSON with --events-per-message), JSON objects from other
 * shippers (Logstash's rabbitmq output, bunyan-logstash-amqp, whatever their
 * content type says), gzip/deflate bodies, and plain text (syslog-ng's amqp
 * destination, amqp-publish). What cannot be decoded is returned as poison
 * with the reason, for the dead-letter queue.
 *
 * This is the indexer's one decoding boundary: decodeDelivery never throws,
 * and every step is bounded by the size of the body (no backtracking regular
 * expression, no recursion that grows with the nesting of the input), so no
 * message can crash or stall the consumer.
 */
import {
  JSON_CONTENT_TYPE,
  NDJSON_CONTENT_TYPE,
  errorMessage,
  excessDepth,
  isObject,
  normaliseTimestamp,
  ownEvent,
  tooDeepReason,
  type IndexNamer,
} from '@logship/common';
import { isAscii } from 'node:buffer';
import { removeContentEncoding } from './content-encoding.js';

export { MAX_INFLATED_BYTES } from './content-encoding.js';
export { ownEvent, scanOwnLayout } from '@logship/common';

export interface Document {
  /** _id: event.id, else the message id of a single-event message, else ES generates one */
  id: string | undefined;
  /** one line of JSON: the document source */
  source: string;
  index: string;
  /** the source's UTF-8 bytes, when they are the delivery's body as received (see BodyDocument): a new view each time */
  readonly raw?: Buffer | undefined;
  /** raw's length, without making the view */
  readonly rawLength?: number | undefined;
}

/**
 * A document whose source is the delivery's whole body, unchanged: logship's
 * own single-event messages in ASCII, on the fast path. It keeps the body's
 * bytes, not a string of them: a document lives until its bulk is answered,
 * and every young-generation GC meanwhile copies what it holds on the heap (a
 * string of the text is most of that; the bytes are outside the heap). The
 * bulk body is built from the bytes (outputs/bulk.ts); `source` decodes them
 * when asked, and setting it replaces them: only while decoding (the
 * data-stream namer adds its fields), since a document's size in a bulk body
 * is measured once, when it is queued (batch/batcher.ts).
 */
class BodyDocument implements Document {
  private text: string | undefined = undefined;
  /** the body's memory, offset and length: no Buffer object of its own (about 100 heap bytes) is kept per document */
  private memory: ArrayBufferLike | undefined;
  private readonly offset: number;
  private readonly length: number;

  constructor(
    public id: string | undefined,
    public index: string,
    body: Buffer,
  ) {
    this.memory = body.buffer;
    this.offset = body.byteOffset;
    this.length = body.length;
  }

  /** decoded anew each time while the bytes are kept (an index pattern with %{field} reads it once, while decoding) */
  get source(): string {
    return this.text ?? this.raw!.toString('utf8');
  }

  set source(text: string) {
    this.text = text;
    this.memory = undefined;
  }

  get raw(): Buffer | undefined {
    return this.memory === undefined ? undefined : Buffer.from(this.memory, this.offset, this.length);
  }

  get rawLength(): number | undefined {
    return this.memory === undefined ? undefined : this.length;
  }
}

export interface Poison {
  reason: string;
  /** the undecodable bytes (a line of an NDJSON body, the inflated body, or the body as received) */
  body: Buffer;
  /** the delivery's content type, kept on the dead letter so a replay decodes it the same way */
  contentType?: string | undefined;
  /** the delivery's content encoding, set only when `body` is the body as received (still encoded) */
  contentEncoding?: string | undefined;
}

export interface Decoded {
  docs: Document[];
  poison: Poison[];
}

export interface MessageLike {
  content: Buffer;
  properties: {
    contentType?: string | undefined;
    contentEncoding?: string | undefined;
    messageId?: string | undefined;
    timestamp?: number | undefined;
    appId?: string | undefined;
  };
}

type Outcome = Document | Poison;
const isPoison = (o: Outcome): o is Poison => 'reason' in o;

/**
 * logship's own line (the fast-path rule, ownEvent in common's wire-format:
 * the layout, and logship's agent or the previous format's app_id) as the
 * document, without parsing it.
 * The fields after event.id are not parsed either: only their nesting is
 * measured, so a document Elasticsearch would refuse for its depth is
 * dead-lettered here with a clear reason.
 */
function fastPath(line: string, body: () => Buffer, namer: IndexNamer, appId: string | undefined, whole?: Buffer): Outcome | undefined {
  const own = ownEvent(line, appId);
  if (!own || line.includes('\n')) return undefined;
  const depth = excessDepth(line, own.end, 1);
  if (depth !== undefined) return { reason: tooDeepReason(depth), body: body() };
  const index = namer.nameFor(own.timestampMs);
  // The line is the whole body and all ASCII (so valid UTF-8, and its byte offsets are its character
  // offsets): keep the bytes, with the id copied out of them (own.id, a slice, would keep the line alive).
  // The bytes are copied: the body is a view of the block amqplib read from the socket (16 to 130 KB,
  // other messages too), which one event waiting for its retry would otherwise keep. Small copies
  // share Node's 8 KB pool slabs; a larger body gets memory of its own size.
  if (whole !== undefined && isAscii(whole)) return new BodyDocument(whole.toString('latin1', own.idAt, own.idAt + own.id.length), index, Buffer.from(whole));
  return { id: own.id, source: line, index };
}

function fallbackTimestamp(msg: MessageLike): string {
  const ts = msg.properties.timestamp;
  // AMQP timestamps are seconds; accept milliseconds from clients that send them
  if (typeof ts === 'number' && ts > 0) {
    const d = new Date(ts < 1e11 ? ts * 1000 : ts);
    if (!Number.isNaN(d.getTime())) return d.toISOString();
  }
  return new Date().toISOString();
}

/**
 * A parsed JSON object as a document, reusing its text when it is already one
 * clean line. Its caller measured its depth before parsing it (tooDeep).
 */
function fromObject(obj: Record<string, unknown>, raw: string, msg: MessageLike, single: boolean, namer: IndexNamer): Outcome {
  let changed = false;
  let ts = normaliseTimestamp(obj['@timestamp']);
  if (ts === undefined || ts !== obj['@timestamp']) {
    if (ts === undefined) ts = fallbackTimestamp(msg);
    obj['@timestamp'] = ts;
    changed = true;
  }
  const ev = obj.event;
  let id = isObject(ev) && typeof ev.id === 'string' && ev.id !== '' ? ev.id : undefined;
  if (id === undefined && single && msg.properties.messageId) {
    id = msg.properties.messageId;
    obj.event = { ...(isObject(ev) ? ev : {}), id };
    changed = true;
  }
  const source = changed || raw.includes('\n') ? JSON.stringify(obj) : raw;
  return { id, source, index: namer.nameFor(Date.parse(ts)) };
}

function fromText(text: string, msg: MessageLike, namer: IndexNamer): Document {
  const ts = fallbackTimestamp(msg);
  const id = msg.properties.messageId || undefined;
  const doc: Record<string, unknown> = { '@timestamp': ts, message: text, tags: [] as string[] };
  if (id) doc.event = { id };
  if (text.includes('\uFFFD')) (doc.tags as string[]).push('_invalidutf8');
  return { id, source: JSON.stringify(doc), index: namer.nameFor(Date.parse(ts)) };
}

/**
 * The dead letter for JSON text nested deeper than Elasticsearch accepts, measured
 * before it is parsed: JSON.parse builds the whole tree before anything could
 * refuse it (a 63 KB gzip body of a million levels inflates to 63 MB, took 12 s
 * and 3.5 GB, and killed an indexer with a smaller heap, which the redelivery then
 * killed again), and JSON.stringify would recurse through it. Text that only
 * looks like JSON and is as deep is dead-lettered the same way.
 */
function tooDeep(raw: string, body: () => Buffer): Poison | undefined {
  const depth = excessDepth(raw);
  return depth === undefined ? undefined : { reason: tooDeepReason(depth), body: body() };
}

function parseObject(text: string): Record<string, unknown> | string {
  try {
    const v: unknown = JSON.parse(text);
    return isObject(v) ? v : `JSON ${Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v} where an object was expected`;
  } catch (err) {
    return `invalid JSON: ${errorMessage(err).slice(0, 200)}`;
  }
}

/** The media type of a content type, lower case, without parameters. */
function mediaType(contentType: unknown): string {
  if (typeof contentType !== 'string') return '';
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

function isJsonType(type: string): boolean {
  return type === JSON_CONTENT_TYPE || type === 'text/json' || type.endsWith('+json');
}

/** The text without a leading byte order mark (JSON.parse refuses one) and the whitespace around it. */
function jsonText(text: string): string {
  return (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).trim();
}

/** Whether the text is meant as a JSON object: its first character past JSON whitespace (and a BOM) is `{`. */
function startsAsObject(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || (i === 0 && c === 0xfeff)) continue;
    return c === 123; // {
  }
  return false;
}

/**
 * One event: a JSON object whatever the content type says (node-amqp sends
 * application/octet-stream, others none, and Logstash's rabbitmq input parses
 * such bodies as JSON too), else plain text; a body declared JSON that is not
 * a JSON object is poison.
 */
function decodeSingle(text: string, body: Buffer, type: string, msg: MessageLike, namer: IndexNamer): Outcome {
  const declaredJson = isJsonType(type);
  const whole = () => body;
  if (declaredJson) {
    const fast = fastPath(text, whole, namer, msg.properties.appId, body);
    if (fast) return fast;
  }
  if (declaredJson || startsAsObject(text)) {
    const raw = jsonText(text);
    const deep = tooDeep(raw, whole);
    if (deep) return deep;
    const parsed = parseObject(raw);
    if (typeof parsed !== 'string') return fromObject(parsed, raw, msg, true, namer);
    // a line of text that merely starts with { is a log line, not broken JSON
    if (declaredJson) return { reason: `body declared ${type} but is ${parsed}`, body };
  }
  return fromText(text.endsWith('\n') ? text.slice(0, -1) : text, msg, namer);
}

function decodeLine(line: string, msg: MessageLike, namer: IndexNamer): Outcome {
  const bytes = () => Buffer.from(line);
  const fast = fastPath(line, bytes, namer, msg.properties.appId);
  if (fast) return fast;
  const raw = jsonText(line);
  const deep = tooDeep(raw, bytes);
  if (deep) return deep;
  const parsed = parseObject(raw);
  if (typeof parsed === 'string') return { reason: `NDJSON line: ${parsed}`, body: bytes() };
  return fromObject(parsed, raw, msg, false, namer);
}

/** NDJSON: one outcome per non-blank line, each decoded on its own (one bad line never spoils the others). */
function decodeNdjson(text: string, body: Buffer, msg: MessageLike, namer: IndexNamer, out: Decoded): void {
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line === '') continue;
    let o: Outcome;
    try {
      o = decodeLine(line, msg, namer);
    } catch (err) {
      o = { reason: `NDJSON line cannot be decoded: ${errorMessage(err)}`, body: Buffer.from(line) };
    }
    if (isPoison(o)) out.poison.push(o);
    else out.docs.push(o);
  }
  if (out.docs.length === 0 && out.poison.length === 0) out.poison.push({ reason: 'NDJSON body without events', body });
}

function decodeUnguarded(msg: MessageLike, namer: IndexNamer): Decoded {
  const out: Decoded = { docs: [], poison: [] };
  if (msg.content.length === 0) {
    out.poison.push({ reason: 'empty message body', body: msg.content });
    return out;
  }
  const inflated = removeContentEncoding(msg.content, msg.properties.contentEncoding);
  if ('reason' in inflated) {
    out.poison.push({ reason: inflated.reason, body: msg.content });
    return out;
  }
  const body = inflated.body;
  if (body.length === 0) {
    out.poison.push({ reason: 'empty message body (after inflating)', body: msg.content });
    return out;
  }
  const type = mediaType(msg.properties.contentType);
  const text = body.toString('utf8');
  if (type === NDJSON_CONTENT_TYPE) {
    decodeNdjson(text, body, msg, namer, out);
    return out;
  }
  const o = decodeSingle(text, body, type, msg, namer);
  if (isPoison(o)) out.poison.push(o);
  else out.docs.push(o);
  return out;
}

/**
 * The documents and poison of a delivery. Never throws: whatever goes wrong
 * while decoding makes the delivery poison with the reason, so the consumer
 * dead-letters it and goes on.
 */
export function decodeDelivery(msg: MessageLike, namer: IndexNamer): Decoded {
  let out: Decoded;
  try {
    out = decodeUnguarded(msg, namer);
    // data stream fields, index names from event fields: inside the guard, so a failure is poison too
    if (namer.perDocument) for (const d of out.docs) namer.perDocument(d);
  } catch (err) {
    const body = Buffer.isBuffer(msg.content) ? msg.content : Buffer.alloc(0);
    out = { docs: [], poison: [{ reason: `the message cannot be decoded: ${errorMessage(err)}`, body }] };
  }
  keepProperties(out.poison, msg);
  return out;
}

/**
 * The properties a replay needs to decode poison as the delivery was: its
 * content type always, its content encoding only on poison that is the body
 * as received (an inflated body or a line of one is no longer encoded).
 */
function keepProperties(poison: Poison[], msg: MessageLike): void {
  const { contentType, contentEncoding } = msg.properties;
  for (const p of poison) {
    if (typeof contentType === 'string' && contentType !== '') p.contentType = contentType;
    if (typeof contentEncoding === 'string' && contentEncoding !== '' && p.body === msg.content) p.contentEncoding = contentEncoding;
  }
}
