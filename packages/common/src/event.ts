/**
 * The event model (docs/DESIGN.md): ECS field names and a deterministic event.id.
 * The layout on the wire and the AMQP properties are in wire-format.ts.
 */
import { createHash } from 'node:crypto';
import { mergeLineFields, type OwnFields } from './event-fields.js';
import { AGENT_VERSION } from './wire-format.js';

export { TAG_TIMESTAMP_FAILURE } from './event-fields.js';
export { parseEventTimestamp, parseEpochTimestamp, parseIsoTimestamp } from './timestamp.js';

export { AGENT_VERSION, JSON_CONTENT_TYPE, NDJSON_CONTENT_TYPE, publishProperties } from './wire-format.js';

export interface LogEvent {
  '@timestamp': string;
  message?: string;
  event: { id: string; [key: string]: unknown };
  host: { name: string; [key: string]: unknown };
  log?: { file?: { path: string }; offset?: number; [key: string]: unknown };
  input: { type: string };
  agent: { type: 'logship'; version: string };
  tags: string[];
  labels: Record<string, string>;
  [key: string]: unknown;
}

/**
 * A deterministic id: the same parts always give the same 32 hex characters.
 * stdin: (host, run id, sequence); file: (host, file identity, byte offset).
 */
export function eventId(...parts: Array<string | number>): string {
  const h = createHash('sha256');
  for (const p of parts) {
    h.update(String(p));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 32);
}

/**
 * Ids of shipped events without hashing each one: a prefix hashed once from
 * host and scope (run id or file identity), then the sequence number or byte
 * offset n as 16 hex digits. Both serializers of the shipper use these two.
 */
export function eventIdPrefix(hostName: string, scope: string): string {
  return eventId(hostName, scope).slice(0, 16);
}

export function sequenceEventId(prefix: string, n: number): string {
  return prefix + n.toString(16).padStart(16, '0');
}

/** The current time in ISO form, formatted once per millisecond: for callers that run per event. */
export class IsoClock {
  private lastMs = -1;
  private lastIso = '';

  now(): string {
    const ms = Date.now();
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.lastIso = new Date(ms).toISOString();
    }
    return this.lastIso;
  }
}

export interface NewEventInput {
  id: string;
  message: string;
  hostName: string;
  inputType: 'stdin' | 'file' | 'generator' | string;
  timestamp?: string;
  filePath?: string;
  offset?: number;
  tags?: string[];
  /**
   * the fields of a JSON line (json codec), merged by the per-field rules of
   * event-fields.ts: logship's own fields win, what they replace is kept in
   * `_<field>`; `message` is then the raw line, used when the line has none
   */
  fields?: Record<string, unknown>;
}

export function createEvent(input: NewEventInput): LogEvent {
  const own: OwnFields = {
    '@timestamp': input.timestamp ?? new Date().toISOString(),
    message: input.message,
    event: { id: input.id },
    host: { name: input.hostName },
    input: { type: input.inputType },
    agent: { type: 'logship', version: AGENT_VERSION },
    tags: [...new Set(input.tags ?? [])],
  };
  if (input.filePath !== undefined || input.offset !== undefined) {
    own.log = {};
    if (input.filePath !== undefined) own.log.file = { path: input.filePath };
    if (input.offset !== undefined) own.log.offset = input.offset;
  }
  if (input.fields !== undefined) return mergeLineFields(own, input.fields) as LogEvent;
  const { log, ...rest } = own;
  return {
    '@timestamp': rest['@timestamp'],
    message: rest.message,
    event: rest.event,
    host: rest.host,
    ...(log ? { log } : {}),
    input: rest.input,
    agent: rest.agent,
    tags: rest.tags,
    labels: {},
  };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Normalises a timestamp to ISO-8601 UTC; undefined when it is not a date. */
export function normaliseTimestamp(value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const d = new Date(value);
  const t = d.getTime();
  if (Number.isNaN(t)) return undefined;
  return d.toISOString();
}
