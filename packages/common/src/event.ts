/**
 * The event model and wire format v1 (DESIGN.md): ECS field names, a
 * deterministic event.id, and the AMQP properties every message carries.
 */
import { createHash } from 'node:crypto';

export const AGENT_VERSION = '0.1.0';
export const JSON_CONTENT_TYPE = 'application/json';
export const NDJSON_CONTENT_TYPE = 'application/x-ndjson';

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
  /** extra top-level fields (json codec); logship's own fields win */
  fields?: Record<string, unknown>;
}

export function createEvent(input: NewEventInput): LogEvent {
  const fields = input.fields ?? {};
  const ev: LogEvent = {
    ...fields,
    '@timestamp': input.timestamp ?? new Date().toISOString(),
    message: input.message,
    event: { ...(isObject(fields.event) ? fields.event : {}), id: input.id },
    host: { ...(isObject(fields.host) ? fields.host : {}), name: input.hostName },
    input: { type: input.inputType },
    agent: { type: 'logship', version: AGENT_VERSION },
    tags: mergeTags(fields.tags, input.tags),
    labels: isStringRecord(fields.labels) ? fields.labels : {},
  };
  if (input.filePath !== undefined || input.offset !== undefined) {
    const log: NonNullable<LogEvent['log']> = isObject(fields.log) ? { ...fields.log } : {};
    if (input.filePath !== undefined) log.file = { path: input.filePath };
    if (input.offset !== undefined) log.offset = input.offset;
    ev.log = log;
  }
  return ev;
}

function mergeTags(a: unknown, b: string[] | undefined): string[] {
  const out = Array.isArray(a) ? a.filter((t): t is string => typeof t === 'string') : [];
  if (b) for (const t of b) if (!out.includes(t)) out.push(t);
  return out;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return isObject(v) && Object.values(v).every((x) => typeof x === 'string');
}

/** AMQP publish options of a message (DESIGN.md wire format). */
export function publishProperties(messageId: string, ndjson: boolean, timestampMs = Date.now()) {
  return {
    persistent: true,
    mandatory: true,
    contentType: ndjson ? NDJSON_CONTENT_TYPE : JSON_CONTENT_TYPE,
    contentEncoding: 'utf-8',
    messageId,
    timestamp: Math.floor(timestampMs / 1000),
    appId: 'logship',
  };
}

/** Normalises a timestamp to ISO-8601 UTC; undefined when it is not a date. */
export function normaliseTimestamp(value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const d = new Date(value);
  const t = d.getTime();
  if (Number.isNaN(t)) return undefined;
  return d.toISOString();
}
