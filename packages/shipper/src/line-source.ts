/**
 * Lines from a byte stream: LineClamp bounds each line in bytes, split2 splits
 * and decodes UTF-8 (invalid sequences become U+FFFD). A trailing \r is
 * stripped. Errors of the input travel through the stream.
 */
import type { Readable } from 'node:stream';
import split2 from 'split2';
import { LineClamp } from './line-clamp.js';

export interface Line {
  /** 0-based index of the line in its input */
  index: number;
  text: string;
  truncated: boolean;
  /** bytes of the line in the input, newline excluded (only with offsets) */
  bytes: number;
  /** false for a last line without newline (only with offsets) */
  terminated: boolean;
}

export interface LineSourceOptions {
  maxLineBytes: number;
  /** record each line's input length (needed for byte offsets) */
  withOffsets?: boolean;
}

/** clamp -> split2 with `map` applied to every (\r-stripped) line; errors travel downstream */
function splitLines<T>(input: Readable, options: LineSourceOptions, map: (text: string, clamp: LineClamp) => T): { lines: Readable; clamp: LineClamp } {
  const clamp = new LineClamp(options.maxLineBytes, options.withOffsets ?? false);
  const splitter = split2(
    /\n/,
    (text: string) => map(text.endsWith('\r') ? text.slice(0, -1) : text, clamp),
    // the clamp already bounds lines; this is a second guard (characters <= bytes)
    { maxLength: options.maxLineBytes + 8 },
  );
  input.on('error', (err) => splitter.destroy(err));
  clamp.on('error', (err) => splitter.destroy(err));
  return { lines: input.pipe(clamp).pipe(splitter), clamp };
}

/** Line objects with their index, truncation and (with offsets) input length. */
export function lineStream(input: Readable, options: LineSourceOptions): Readable {
  let index = 0;
  return splitLines(input, options, (text, clamp): Line => {
    const i = index++;
    const meta = clamp.takeMeta(i);
    return { index: i, text, truncated: meta?.truncated ?? false, bytes: meta?.bytes ?? -1, terminated: meta?.terminated ?? true };
  }).lines;
}
