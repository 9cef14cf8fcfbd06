/**
 * Splits a byte stream into lines without decoding or copying them: a
 * Writable that calls onLine(buf, start, end, index) for each line of the
 * (clamped) chunks it is given. A trailing \r is left out; a line split across
 * chunks is joined, which stays bounded because the LineClamp in front of it
 * bounds every line. onLine may return a promise: the splitter waits for it before
 * the next line, so backpressure from the confirm window reaches the input.
 * A last line without newline is handed over at the end, an empty one is not.
 */
import { Writable } from 'node:stream';

const NL = 0x0a;
const CR = 0x0d;

export type OnLine = (buf: Buffer, start: number, end: number, index: number) => Promise<void> | undefined;

export class LineSplitter extends Writable {
  private rest: Buffer | null = null;
  private index = 0;

  constructor(private readonly onLine: OnLine) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.consume(chunk, 0, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    const rest = this.rest;
    this.rest = null;
    if (rest === null || rest.length === 0) return cb();
    try {
      const wait = this.line(rest, 0, rest.length);
      if (wait) wait.then(() => cb(), cb);
      else cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  private consume(chunk: Buffer, from: number, cb: (err?: Error | null) => void): void {
    let start = from;
    try {
      while (start < chunk.length && !this.destroyed) {
        const nl = chunk.indexOf(NL, start);
        if (nl === -1) {
          const tail = chunk.subarray(start);
          this.rest = this.rest ? Buffer.concat([this.rest, tail]) : Buffer.from(tail);
          break;
        }
        let wait: Promise<void> | undefined;
        if (this.rest) {
          const line = Buffer.concat([this.rest, chunk.subarray(start, nl)]);
          this.rest = null;
          wait = this.line(line, 0, line.length);
        } else wait = this.line(chunk, start, nl);
        start = nl + 1;
        if (wait) {
          wait.then(() => this.consume(chunk, start, cb), cb);
          return;
        }
      }
    } catch (err) {
      return cb(err as Error);
    }
    cb();
  }

  private line(buf: Buffer, start: number, end: number): Promise<void> | undefined {
    const e = end > start && buf[end - 1] === CR ? end - 1 : end;
    return this.onLine(buf, start, e, this.index++);
  }
}
