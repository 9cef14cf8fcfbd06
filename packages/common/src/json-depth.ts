/**
 * The nesting depth of JSON text, measured by a linear scan without
 * recursion. JSON.parse in V8 is iterative (it parses 1,000,000 levels), but
 * JSON.stringify recurses and throws "Maximum call stack size exceeded" at
 * about 4,000 levels, and Elasticsearch's parser refuses documents nested
 * deeper than 1,000 levels with a 400. Both sides measure before they
 * serialize: the indexer dead-letters a body that is too deep, the shipper's
 * json codec ships such a line as raw text.
 */

/** Elasticsearch (Jackson's StreamReadConstraints) refuses documents nested deeper than this. */
export const MAX_NESTING_DEPTH = 1000;

/**
 * The deepest nesting of objects and arrays in `text` from `from` on,
 * counting from `startDepth` (the top-level object is depth 1). Brackets
 * inside strings do not count. Never throws; on text that is not JSON the
 * result is meaningless but bounded by the length of the text.
 */
export function nestingDepth(text: string, from = 0, startDepth = 0): number {
  let depth = startDepth;
  let max = startDepth;
  let inString = false;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) {
      inString = true;
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) max = depth;
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      depth--;
    }
  }
  return max;
}

/**
 * The depth of `text` (as nestingDepth) when it is deeper than Elasticsearch
 * accepts, else undefined. Short text is not scanned: each level needs an
 * opening bracket, so the depth is at most startDepth + its length.
 */
export function excessDepth(text: string, from = 0, startDepth = 0): number | undefined {
  if (startDepth + (text.length - from) <= MAX_NESTING_DEPTH) return undefined;
  const depth = nestingDepth(text, from, startDepth);
  return depth > MAX_NESTING_DEPTH ? depth : undefined;
}

export function tooDeepReason(depth: number): string {
  return `nested ${depth} levels deep; Elasticsearch refuses documents nested deeper than ${MAX_NESTING_DEPTH}`;
}
