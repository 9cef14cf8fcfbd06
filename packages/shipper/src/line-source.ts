/**
 * Lines from a byte stream: LineClamp bounds each line in bytes, split2 splits
 * and decodes UTF-8 (invalid sequences become U+FFFD). A trailing \r is
 * stripped. Errors of the input travel through the stream.
 */
import type { Readable } from 'node:stream';
import split2 from 'split2';
import { LineClamp, type LineMeta } from './line-clamp.js';

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

/**
 * The fast form: a stream of line texts (trailing \r removed) in order, and
 * the metadata of line i (truncation, byte length) for lines that have any.
 */
export function textLineStream(input: Readable, options: LineSourceOptions): { lines: Readable; meta: (index: number) => LineMeta | undefined } {
  const clamp = new LineClamp(options.maxLineBytes, options.withOffsets ?? false);
  const splitter = split2(/\n/, stripCr, { maxLength: options.maxLineBytes + 8 });
  input.on('error', (err) => splitter.destroy(err));
  clamp.on('error', (err) => splitter.destroy(err));
  return { lines: input.pipe(clamp).pipe(splitter), meta: (i) => clamp.takeMeta(i) };
}

function stripCr(text: string): string {
  return text.endsWith('\r') ? text.slice(0, -1) : text;
}

export function lineStream(input: Readable, options: LineSourceOptions): Readable {
  const clamp = new LineClamp(options.maxLineBytes, options.withOffsets ?? false);
  let index = 0;
  const splitter = split2(
    /\n/,
    (text: string): Line => {
      const i = index++;
      const meta = clamp.takeMeta(i);
      const clean = text.endsWith('\r') ? text.slice(0, -1) : text;
      return { index: i, text: clean, truncated: meta?.truncated ?? false, bytes: meta?.bytes ?? -1, terminated: meta?.terminated ?? true };
    },
    // the clamp already bounds lines; this is a second guard (characters <= bytes)
    { maxLength: options.maxLineBytes + 8 },
  );
  input.on('error', (err) => splitter.destroy(err));
  clamp.on('error', (err) => splitter.destroy(err));
  return input.pipe(clamp).pipe(splitter);
}
