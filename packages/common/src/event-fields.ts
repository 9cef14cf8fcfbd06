/**
 * The fields of a `--codec json` line merged with logship's own, one rule per
 * field (the README's "--codec json" table), like Logstash: a value logship
 * must replace or cannot use is never dropped silently. It is kept whole in a
 * top-level `_<field>` (Logstash's `_@timestamp`), and a `@timestamp` that is
 * not a date also tags the event `_timestampparsefailure`. `null` counts as
 * absent. Fields logship does not own are kept as they are.
 */
import { parseEventTimestamp } from './timestamp.js';

export const TAG_TIMESTAMP_FAILURE = '_timestampparsefailure';

/** logship's own part of an event: what the merge starts from and what wins */
export interface OwnFields {
  '@timestamp': string;
  message: string;
  event: { id: string };
  host: { name: string };
  log?: { file?: { path: string }; offset?: number };
  input: { type: string };
  agent: { type: 'logship'; version: string };
  tags: string[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const absent = (v: unknown): v is null | undefined => v === undefined || v === null;

/** a label value or tag as text: strings as they are, anything else as its JSON */
function asText(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** same keys and the same primitive values (input and agent are one level deep) */
function sameShallow(a: unknown, b: Record<string, unknown>): boolean {
  if (!isRecord(a)) return false;
  const keys = Object.keys(b);
  return Object.keys(a).length === keys.length && keys.every((k) => a[k] === b[k]);
}

function lineTags(v: unknown): { tags: string[]; keep: boolean } {
  if (absent(v)) return { tags: [], keep: false };
  if (Array.isArray(v)) return { tags: v.filter((t) => !absent(t)).map(asText), keep: false };
  if (isRecord(v)) return { tags: [], keep: true };
  return { tags: [asText(v)], keep: false };
}

function lineLabels(v: unknown): { labels: Record<string, string>; keep: boolean } {
  const labels: Record<string, string> = {};
  if (absent(v)) return { labels, keep: false };
  if (!isRecord(v)) return { labels, keep: true };
  for (const [k, x] of Object.entries(v)) if (!absent(x)) labels[k] = asText(x);
  return { labels, keep: false };
}

/**
 * The event of a JSON object line: its fields, with logship's own merged in
 * by the rules above. `own.message` is the raw line (used when the line has
 * no string `message`); `own['@timestamp']` is the time it was read.
 */
export function mergeLineFields(own: OwnFields, fields: Record<string, unknown>): Record<string, unknown> {
  const ev: Record<string, unknown> = { ...fields };
  const keep = (name: string, value: unknown) => {
    ev[`_${name}`] = value;
  };
  const tags: string[] = [];

  const ts = fields['@timestamp'];
  const parsed = absent(ts) ? undefined : parseEventTimestamp(ts);
  ev['@timestamp'] = parsed ?? own['@timestamp'];
  if (!absent(ts) && parsed === undefined) {
    keep('@timestamp', ts);
    tags.push(TAG_TIMESTAMP_FAILURE);
  }

  const message = fields.message;
  ev.message = typeof message === 'string' ? message : own.message;
  if (!absent(message) && typeof message !== 'string') keep('message', message);

  const event = fields.event;
  ev.event = isRecord(event) ? { ...event, id: own.event.id } : own.event;
  if (!absent(event) && (!isRecord(event) || (event.id !== undefined && event.id !== own.event.id))) keep('event', event);

  const host = fields.host;
  ev.host = isRecord(host) ? { ...host, name: own.host.name } : own.host;
  if (!absent(host) && (!isRecord(host) || (host.name !== undefined && host.name !== own.host.name))) keep('host', host);

  const log = fields.log;
  if (isRecord(log)) {
    const merged: Record<string, unknown> = { ...log };
    let replaced = false;
    if (own.log?.file !== undefined) {
      replaced ||= log.file !== undefined && !sameShallow(log.file, own.log.file);
      merged.file = own.log.file;
    }
    if (own.log?.offset !== undefined) {
      replaced ||= log.offset !== undefined && log.offset !== own.log.offset;
      merged.offset = own.log.offset;
    }
    ev.log = merged;
    if (replaced) keep('log', log);
  } else {
    // Elasticsearch maps log as an object: a string there (Docker's "log") would be refused
    if (!absent(log)) keep('log', log);
    if (own.log === undefined) delete ev.log;
    else ev.log = own.log;
  }

  for (const name of ['input', 'agent'] as const) {
    const v = fields[name];
    ev[name] = own[name];
    if (!absent(v) && !sameShallow(v, own[name])) keep(name, v);
  }

  const t = lineTags(fields.tags);
  if (t.keep) keep('tags', fields.tags);
  ev.tags = [...new Set([...t.tags, ...tags, ...own.tags])];

  const l = lineLabels(fields.labels);
  if (l.keep) keep('labels', fields.labels);
  ev.labels = l.labels;
  return ev;
}
