/**
 * The --codec: eventFromLine builds the event of one input line, as plain
 * text or as JSON with a safe fallback. It never throws: a line that cannot
 * be used as JSON is shipped as its raw text, tagged.
 */
import { MAX_NESTING_DEPTH, createEvent, excessDepth, isObject, type LogEvent } from '@logship/common';

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
/** with _jsonparsefailure: the line nests deeper than MAX_JSON_DEPTH */
export const TAG_JSON_TOO_DEEP = '_jsontoodeep';
/**
 * Deepest nesting of arrays and objects a json line may have to be parsed.
 * JSON.stringify recurses (it overflows the stack near 4000 levels) and
 * Elasticsearch refuses documents nested deeper than 1000 levels anyway.
 */
export const MAX_JSON_DEPTH = MAX_NESTING_DEPTH;

export function eventFromLine(text: string, codec: Codec, ctx: LineContext): LogEvent {
  const tags: string[] = ctx.truncated ? [TAG_TRUNCATED] : [];
  const base = {
    id: ctx.id,
    message: text,
    hostName: ctx.hostName,
    inputType: ctx.inputType,
    ...(ctx.filePath !== undefined ? { filePath: ctx.filePath } : {}),
    ...(ctx.offset !== undefined ? { offset: ctx.offset } : {}),
  };
  if (codec === 'json') {
    const parsed = ctx.truncated ? undefined : parseObject(text);
    if (isObject(parsed)) return createEvent({ ...base, tags, fields: parsed });
    tags.push(TAG_JSON_FAILURE);
    if (parsed === TOO_DEEP) tags.push(TAG_JSON_TOO_DEEP);
  }
  return createEvent({ ...base, tags });
}

const TOO_DEEP = Symbol('too deep');

/** The parsed line, TOO_DEEP, or undefined when it is not JSON. */
function parseObject(text: string): unknown {
  // JSON.parse itself is iterative in V8 (a million levels parse), but what it builds would not serialize
  if (excessDepth(text) !== undefined) return TOO_DEEP;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
