/**
 * Decodes a delivery into documents. Accepts logship's own messages (one JSON
 * event, or NDJSON with --events-per-message), JSON objects from other
 * shippers (Logstash's rabbitmq output) and plain text (syslog-ng's amqp
 * destination, amqp-publish). What cannot be decoded is returned as poison
 * with the reason, for the dead-letter queue.
 */
import { JSON_CONTENT_TYPE, NDJSON_CONTENT_TYPE, isObject, normaliseTimestamp, type IndexNamer } from '@logship/common';

export interface Document {
  /** _id: event.id, else the message id of a single-event message, else ES generates one */
  id: string | undefined;
  /** one line of JSON: the document source */
  source: string;
  index: string;
}

export interface Poison {
  reason: string;
  /** the undecodable bytes (a line of an NDJSON body, or the whole body) */
  body: Buffer;
}

export interface Decoded {
  docs: Document[];
  poison: Poison[];
}

export interface MessageLike {
  content: Buffer;
  properties: { contentType?: string | undefined; messageId?: string | undefined; timestamp?: number | undefined; appId?: string | undefined };
}

/**
 * logship's own serializer writes every event as {"@timestamp":ISO,
 * "message":"...","event":{"id":32 hex},...}; such a line is taken as the
 * document without parsing it (Elasticsearch still validates it, and a line
 * without a newline cannot alter the bulk request). Anything else is parsed.
 */
const OWN_LAYOUT = /^\{"@timestamp":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)","message":"(?:[^"\\]|\\.)*","event":\{"id":"([0-9a-f]{32})"\}/;

function fastPath(line: string, namer: IndexNamer): Document | undefined {
  const m = OWN_LAYOUT.exec(line);
  if (!m || line.includes('\n')) return undefined;
  return { id: m[2], source: line, index: namer.nameFor(Date.parse(m[1]!)) };
}

function fallbackTimestamp(msg: MessageLike): string {
  const ts = msg.properties.timestamp;
  // AMQP timestamps are seconds; accept milliseconds from clients that send them
  if (typeof ts === 'number' && ts > 0) return new Date(ts < 1e11 ? ts * 1000 : ts).toISOString();
  return new Date().toISOString();
}

/** A parsed JSON object as a document, reusing its text when it is already one clean line. */
function fromObject(obj: Record<string, unknown>, raw: string, msg: MessageLike, single: boolean, namer: IndexNamer): Document {
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

function parseObject(text: string): Record<string, unknown> | string {
  try {
    const v: unknown = JSON.parse(text);
    return isObject(v) ? v : `JSON ${Array.isArray(v) ? 'array' : typeof v} where an object was expected`;
  } catch (err) {
    return `invalid JSON: ${(err as Error).message}`;
  }
}

export function decodeDelivery(msg: MessageLike, namer: IndexNamer): Decoded {
  const docs: Document[] = [];
  const poison: Poison[] = [];
  const type = (msg.properties.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const own = msg.properties.appId === 'logship';
  if (msg.content.length === 0) {
    poison.push({ reason: 'empty message body', body: msg.content });
    return { docs, poison };
  }
  const text = msg.content.toString('utf8');

  if (type === NDJSON_CONTENT_TYPE) {
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf('\n', start);
      if (end === -1) end = text.length;
      const line = text.slice(start, end).trim();
      start = end + 1;
      if (line === '') continue;
      const fast = own ? fastPath(line, namer) : undefined;
      if (fast) {
        docs.push(fast);
        continue;
      }
      const parsed = parseObject(line);
      if (typeof parsed === 'string') poison.push({ reason: `NDJSON line: ${parsed}`, body: Buffer.from(line) });
      else docs.push(fromObject(parsed, line, msg, false, namer));
    }
    if (docs.length === 0 && poison.length === 0) poison.push({ reason: 'NDJSON body without events', body: msg.content });
    return { docs, poison };
  }

  const looksJson = type === JSON_CONTENT_TYPE || (type === '' && text.trimStart().startsWith('{'));
  if (own && type === JSON_CONTENT_TYPE) {
    const fast = fastPath(text, namer);
    if (fast) {
      docs.push(fast);
      return { docs, poison };
    }
  }
  if (looksJson) {
    const parsed = parseObject(text);
    if (typeof parsed !== 'string') {
      docs.push(fromObject(parsed, text, msg, true, namer));
      return { docs, poison };
    }
    if (type === JSON_CONTENT_TYPE) {
      poison.push({ reason: `body declared ${JSON_CONTENT_TYPE} but is ${parsed}`, body: msg.content });
      return { docs, poison };
    }
  }
  docs.push(fromText(text.endsWith('\n') ? text.slice(0, -1) : text, msg, namer));
  return { docs, poison };
}
