/**
 * Bounds line length at the byte level, before any decoding: a line longer
 * than `maxLineBytes` keeps its first `maxLineBytes` bytes (cut on a UTF-8
 * character boundary) and the rest is dropped up to the next newline, so
 * memory never depends on the input. Each line's metadata (index, length in
 * the input, truncated) is queued in order for the stage that decodes it.
 * A character split across two chunks is held back until it is whole, so a
 * cut at a chunk boundary never splits it either.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { compactFifo } from '@logship/common';

export interface LineMeta {
  index: number;
  /** bytes of the line in the input, newline excluded */
  bytes: number;
  truncated: boolean;
  /** false for a last line that had no newline */
  terminated: boolean;
}

const NL = 0x0a;

/** Largest cut <= n that does not split a UTF-8 sequence. */
export function utf8Boundary(buf: Buffer, n: number): number {
  let cut = Math.min(n, buf.length);
  let back = 0;
  while (cut > 0 && back < 3 && cut < buf.length && (buf[cut]! & 0xc0) === 0x80) {
    cut--;
    back++;
  }
  return cut;
}

/** Bytes at the end of buf that start a UTF-8 sequence it does not finish (0 to 3). */
function incompleteUtf8Tail(buf: Buffer): number {
  const len = buf.length;
  if (len === 0 || buf[len - 1]! < 0x80) return 0;
  for (let i = len - 1; i >= Math.max(0, len - 3); i--) {
    const b = buf[i]!;
    if ((b & 0xc0) === 0x80) continue;
    if (b < 0xc0) return 0;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
    return len - i < need ? len - i : 0;
  }
  return 0;
}

export class LineClamp extends Transform {
  private lineIndex = 0;
  private lineBytes = 0;
  private kept = 0;
  private truncated = false;
  private queue: LineMeta[] = [];
  private head = 0;
  /** the start of a character the last chunk ended in */
  private carry: Buffer | null = null;

  constructor(
    private readonly maxLineBytes: number,
    /** record every line (for byte offsets), not only truncated ones */
    private readonly recordAll = false,
  ) {
    super();
  }

  /** Metadata of line `index` if recorded; lines must be asked in order. */
  takeMeta(index: number): LineMeta | undefined {
    const m = this.queue[this.head];
    if (m === undefined || m.index !== index) return undefined;
    this.head++;
    ({ items: this.queue, head: this.head } = compactFifo(this.queue, this.head));
    return m;
  }

  private endLine(terminated = true): void {
    if (this.recordAll || this.truncated) {
      this.queue.push({ index: this.lineIndex, bytes: this.lineBytes, truncated: this.truncated, terminated });
    }
    this.lineIndex++;
    this.lineBytes = 0;
    this.kept = 0;
    this.truncated = false;
  }

  override _transform(input: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let chunk = input;
    if (this.carry) {
      chunk = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    const tail = incompleteUtf8Tail(chunk);
    if (tail > 0) {
      this.carry = Buffer.from(chunk.subarray(chunk.length - tail));
      chunk = chunk.subarray(0, chunk.length - tail);
    }
    if (chunk.length === 0) return cb();
    cb(null, this.clamp(chunk));
  }

  private clamp(chunk: Buffer): Buffer {
    const max = this.maxLineBytes;
    let parts: Buffer[] | null = null;
    let start = 0;
    while (start <= chunk.length) {
      const nl = chunk.indexOf(NL, start);
      const end = nl === -1 ? chunk.length : nl;
      const len = end - start;
      this.lineBytes += len;
      if (this.kept + len <= max && !this.truncated) {
        this.kept += len;
        if (parts) parts.push(chunk.subarray(start, nl === -1 ? end : end + 1));
      } else {
        if (!parts) parts = [chunk.subarray(0, start)];
        if (!this.truncated) {
          const segment = chunk.subarray(start, end);
          let cut = utf8Boundary(segment, max - this.kept);
          // a limit below the first character's size: cut it rather than make a non-empty line empty
          if (cut === 0 && this.kept === 0) cut = max;
          parts.push(segment.subarray(0, cut));
          this.kept += cut;
          this.truncated = true;
        }
        if (nl !== -1) parts.push(chunk.subarray(nl, nl + 1));
      }
      if (nl === -1) break;
      this.endLine();
      start = nl + 1;
    }
    return parts ? Buffer.concat(parts) : chunk;
  }

  override _flush(cb: TransformCallback): void {
    const carry = this.carry;
    this.carry = null;
    // an input that ends inside a character: the bytes go on as they are
    if (carry) this.push(this.clamp(carry));
    if (this.lineBytes > 0) this.endLine(false);
    cb();
  }
}
