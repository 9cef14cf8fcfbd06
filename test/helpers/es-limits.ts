/**
 * Limits of Elasticsearch 8 that the double enforces like the real cluster:
 * http.max_content_length (a request body over it is answered 413 with an
 * empty body) and Jackson's maximum nesting depth of a document (a 400 item).
 */
import { failedItem } from './es-bulk-items.js';

/** Elasticsearch's http.max_content_length default */
export const DEFAULT_MAX_CONTENT_LENGTH = 100 * 1024 * 1024;
/** Jackson's StreamReadConstraints maximum nesting depth, which Elasticsearch 8 parses documents with */
export const MAX_NESTING_DEPTH = 1000;

/**
 * Where a JSON text first opens more than MAX_NESTING_DEPTH objects/arrays
 * (0-based offset), or -1. A linear scan: no recursion, so a document nested
 * 100,000 deep is measured safely (JSON.stringify would overflow the stack).
 */
export function tooDeepAt(text: string): number {
  // every level needs an opening bracket: short text cannot be too deep
  if (text.length <= MAX_NESTING_DEPTH) return -1;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > MAX_NESTING_DEPTH) return i;
    } else if (c === 125 || c === 93) depth--;
  }
  return -1;
}

/** the bulk item Elasticsearch 8 answers for a source nested deeper than Jackson's limit */
export function tooDeepItem(index: string, id: string, at: number) {
  const reason = `Document nesting depth (${MAX_NESTING_DEPTH + 1}) exceeds the maximum allowed (${MAX_NESTING_DEPTH}, from \`StreamReadConstraints.getMaxNestingDepth()\`)`;
  return failedItem(index, id, 400, {
    type: 'document_parsing_exception',
    reason: `[1:${at + 1}] failed to parse: ${reason}`,
    caused_by: { type: 'stream_constraints_exception', reason },
  });
}
