/**
 * The fast path of the plain codec: writes an event straight from the bytes
 * of its input line to the UTF-8 JSON of the wire format, with no string
 * decoding, JSON.stringify or re-encoding in between. The output is byte for
 * byte what EventFactory.make() produces for the decoded line (the unit tests
 * compare both). A line that is not valid UTF-8 is left to the string path,
 * which replaces bad sequences with U+FFFD.
 */
import { isUtf8 } from 'node:buffer';
import { AFTER_TIMESTAMP, BEFORE_ID, END, HEAD, IsoClock, afterIdFragment, eventIdPrefix, logFragment, sequenceEventId, tailFragment } from '@logship/common';
import { TAG_TRUNCATED } from './codec.js';

/** extra output bytes per input byte when escaped inside a JSON string */
const EXTRA = new Uint8Array(256);
/** the escape of a byte (after the backslash), 0 when written as is */
const SHORT = new Uint8Array(256);
for (let b = 0; b < 0x20; b++) EXTRA[b] = 5; // \u00XX
for (const [b, c] of [
  [0x08, 'b'],
  [0x09, 't'],
  [0x0a, 'n'],
  [0x0c, 'f'],
  [0x0d, 'r'],
  [0x22, '"'],
  [0x5c, '\\'],
] as const) {
  EXTRA[b] = 1;
  SHORT[b] = c.charCodeAt(0);
}
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** Whether any byte of the 32-bit word is < 0x20, '"', '\\' or >= 0x80 (SWAR; no false negatives). */
function special(w: number): boolean {
  const q = w ^ 0x22222222;
  const s = w ^ 0x5c5c5c5c;
  return ((((w - 0x20202020) & ~w) | ((q - 0x01010101) & ~q) | ((s - 0x01010101) & ~s) | w) & 0x80808080) !== 0;
}

/** Writes the non-negative integer n in decimal at out[pos]; returns the position after it. */
function writeDecimal(out: Buffer, pos: number, n: number): number {
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  let x = n;
  for (let i = pos + digits - 1; i >= pos; i--) {
    out[i] = 0x30 + (x % 10);
    x = Math.floor(x / 10);
  }
  return pos + digits;
}

/** Writes the JSON escape of byte b at out[p]; returns the position after it. */
function escapeByte(out: Buffer, pos: number, b: number): number {
  let p = pos;
  out[p++] = 0x5c;
  if (EXTRA[b] === 1) out[p++] = SHORT[b]!;
  else {
    out[p++] = 0x75; // u00XX
    out[p++] = 0x30;
    out[p++] = 0x30;
    out[p++] = HEX[b >> 4]!;
    out[p++] = HEX[b & 15]!;
  }
  return p;
}

export interface EventWriterOptions {
  hostName: string;
  inputType: string;
  /** run id (stdin, generator) or file identity (files): hashed into the id prefix */
  scope: string;
  /** log.file.path for file inputs; with it, n is the byte offset (log.offset) */
  filePath?: string;
}

export class EventWriter {
  private readonly idPrefix: string;
  /** `"},"host":{...}` and, for files, `,"log":{"file":{"path":...},"offset":` */
  private readonly afterId: Buffer;
  private readonly withOffset: boolean;
  /** after the id (and offset) to the end, for untruncated and truncated events */
  private readonly tailPlain: Buffer;
  private readonly tailTruncated: Buffer;
  /** `{"@timestamp":"<time>","message":"`, rewritten when the millisecond changes */
  private readonly head = Buffer.from(`${HEAD}0000-00-00T00:00:00.000Z${AFTER_TIMESTAMP}"`, 'latin1');
  /** `","event":{"id":"<id prefix>` */
  private readonly afterMessage: Buffer;
  private readonly clock = new IsoClock();
  private lastIso = '';
  /** DataViews of the last two buffers read or written (a chunk and a slab) */
  private viewed: [Buffer | null, Buffer | null] = [null, null];
  private views: [DataView | null, DataView | null] = [null, null];

  constructor(o: EventWriterOptions) {
    this.idPrefix = eventIdPrefix(o.hostName, o.scope);
    this.afterMessage = Buffer.from(`"${BEFORE_ID}${this.idPrefix}`, 'latin1');
    const host = afterIdFragment(o.hostName);
    this.withOffset = o.filePath !== undefined;
    this.afterId = Buffer.from(o.filePath !== undefined ? `${host}${logFragment(o.filePath)}` : host, 'utf8');
    const rest = `${this.withOffset ? '}' : ''}${tailFragment(o.inputType)}`;
    this.tailPlain = Buffer.from(`${rest}[]${END}`, 'utf8');
    this.tailTruncated = Buffer.from(`${rest}${JSON.stringify([TAG_TRUNCATED])}${END}`, 'utf8');
  }

  /** the event.id of sequence number n (same as EventFactory.id) */
  id(n: number): string {
    return sequenceEventId(this.idPrefix, n);
  }

  /** The most bytes write() needs for a line of `lineBytes` bytes. */
  maxBytes(lineBytes: number): number {
    return this.head.length + 6 * lineBytes + this.afterMessage.length + 16 + this.afterId.length + 16 + this.tailTruncated.length;
  }

  /**
   * Writes the event of line src[start, end) with sequence number n at
   * out[pos] (which has maxBytes() of room); returns the position after it,
   * or -1 when the line is not valid UTF-8 (use the string path for it).
   */
  write(out: Buffer, pos: number, src: Buffer, start: number, end: number, n: number, truncated: boolean): number {
    const iso = this.clock.now();
    if (iso !== this.lastIso) {
      this.lastIso = iso;
      this.head.write(iso, HEAD.length, 'latin1');
    }
    out.set(this.head, pos);
    let p = pos + this.head.length;
    // the message, escaped as JSON.stringify does, in one pass: four bytes
    // at a time while none of them needs a look (most of a log line)
    const sv = this.view(src);
    const ov = this.view(out);
    let any = 0;
    let i = start;
    while (i < end) {
      if (i + 4 <= end) {
        const w = sv.getInt32(i, true);
        if (!special(w)) {
          ov.setInt32(p, w, true);
          p += 4;
          i += 4;
          continue;
        }
      }
      const b = src[i++]!;
      any |= b;
      if (EXTRA[b] === 0) out[p++] = b;
      else p = escapeByte(out, p, b);
    }
    if (any & 0x80 && !isUtf8(src.subarray(start, end))) return -1;
    out.set(this.afterMessage, p);
    p += this.afterMessage.length;
    let id = n;
    for (let i = 15; i >= 0; i--) {
      out[p + i] = HEX[id % 16]!;
      id = Math.floor(id / 16);
    }
    p += 16;
    out.set(this.afterId, p);
    p += this.afterId.length;
    if (this.withOffset) p = writeDecimal(out, p, n);
    const tail = truncated ? this.tailTruncated : this.tailPlain;
    out.set(tail, p);
    return p + tail.length;
  }

  private view(buf: Buffer): DataView {
    if (this.viewed[0] === buf) return this.views[0]!;
    if (this.viewed[1] === buf) return this.views[1]!;
    // keep the other one: replace the older slot
    const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
    this.viewed[1] = this.viewed[0];
    this.views[1] = this.views[0];
    this.viewed[0] = buf;
    this.views[0] = view;
    return view;
  }
}
