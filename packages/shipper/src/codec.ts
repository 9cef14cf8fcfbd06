/** Turns one input line into an event: plain text, or JSON with a safe fallback. */
import { createEvent, isObject, normaliseTimestamp, type LogEvent } from '@logship/common';

export type Codec = 'plain' | 'json';

export interface LineContext {
  id: string;
  hostName: string;
  inputType: string;
  filePath?: string;
  offset?: number;
  truncated: boolean;
}

export const TAG_TRUNCATED = '_truncated';
export const TAG_JSON_FAILURE = '_jsonparsefailure';

export function decodeLine(text: string, codec: Codec, ctx: LineContext): LogEvent {
  const tags: string[] = ctx.truncated ? [TAG_TRUNCATED] : [];
  const base = {
    id: ctx.id,
    hostName: ctx.hostName,
    inputType: ctx.inputType,
    ...(ctx.filePath !== undefined ? { filePath: ctx.filePath } : {}),
    ...(ctx.offset !== undefined ? { offset: ctx.offset } : {}),
  };
  if (codec === 'json') {
    let parsed: unknown;
    let ok = false;
    if (!ctx.truncated) {
      try {
        parsed = JSON.parse(text);
        ok = isObject(parsed);
      } catch {
        ok = false;
      }
    }
    if (ok && isObject(parsed)) {
      const timestamp = normaliseTimestamp(parsed['@timestamp']);
      const message = typeof parsed.message === 'string' ? parsed.message : text;
      return createEvent({ ...base, message, tags, fields: parsed, ...(timestamp ? { timestamp } : {}) });
    }
    tags.push(TAG_JSON_FAILURE);
  }
  return createEvent({ ...base, message: text, tags });
}
