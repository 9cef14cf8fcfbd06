/**
 * Bounds line length at the byte level, before any decoding: a line longer
 * than `maxLineBytes` keeps its first `maxLineBytes` bytes (cut on a UTF-8
 * character boundary) and the rest is dropped up to the next newline, so
 * memory never depends on the input. Each line's metadata (index, length in
 * the input, truncated) is queued in order for the stage that decodes it.
 */
import { Transform, type TransformCallback } from 'node:stream';

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

export class LineClamp extends Transform {
  private lineIndex = 0;
  private lineBytes = 0;
  private kept = 0;
  private truncated = false;
  private readonly queue: LineMeta[] = [];
  private head = 0;

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
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
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

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
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
          const cut = utf8Boundary(segment, max - this.kept);
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
    cb(null, parts ? Buffer.concat(parts) : chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.lineBytes > 0) this.endLine(false);
    cb();
  }
}
