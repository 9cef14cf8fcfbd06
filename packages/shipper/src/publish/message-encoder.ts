/**
 * Packs events into AMQP messages: one JSON event per message, or with
 * --events-per-message N an NDJSON body of up to N events. Each event keeps
 * its own event.id; the message id is derived from the ids it carries.
 *
 * Events arrive as JSON strings (SerializedEvent) or as input lines that an
 * EventWriter writes straight into bytes. Bodies are written into shared
 * 1 MiB slabs and handed out as views, so a run allocates one buffer per
 * slab, not one per message.
 *
 * Each message carries release(), which the publisher calls once the body's
 * bytes are no longer needed (settled, or copied out for a nack retry). A
 * slab whose messages are all released, and which is no longer being filled,
 * is reused for the next bodies (up to POOL_SLABS kept). Left to the garbage
 * collector, a slab lives as long as the views into it, and a view that waited
 * for its confirm has usually been promoted to the old generation, which V8
 * collects far less often: shipping a file with 100 events per message and a
 * 4 MiB window, dead slabs held about 17 MB (docs/performance.md).
 * amqplib copies a body into its own frame inside publish(), so nothing reads
 * a slab's bytes after release().
 */
import { eventId, publishProperties } from '@logship/common';
import type { SerializedEvent } from '../events/event-factory.js';
import type { EventWriter } from '../events/event-writer.js';
import type { OutgoingMessage } from './confirm-window.js';

const SLAB_BYTES = 1024 * 1024;
/** released slabs kept for reuse; more are left to the garbage collector */
const POOL_SLABS = 4;

interface Slab {
  buf: Buffer;
  /** messages handed out from this slab and not released yet */
  refs: number;
}

export class MessageEncoder<M> {
  private readonly free: Slab[] = [];
  private current: Slab = this.newSlab(SLAB_BYTES);
  private slab = this.current.buf;
  /** where the message being filled starts in the slab, and where it ends */
  private base = 0;
  private len = 0;
  private count = 0;
  private firstId = '';
  /** the last event's id, or the writer and sequence number to make it from */
  private lastId = '';
  private lastWriter: EventWriter | null = null;
  private lastN = 0;
  private metas: M[] = [];

  /**
   * @param mergeMeta folds an event's meta into the previous event's of the
   *   same message (false keeps both): fewer objects wait for the confirm
   */
  constructor(
    private readonly eventsPerMessage: number,
    private readonly mergeMeta?: (prev: M, next: M) => boolean,
  ) {}

  get size(): number {
    return this.count;
  }

  /** Adds an event (one line of JSON); returns a message when one is full. */
  add(event: SerializedEvent, meta?: M): OutgoingMessage<M[]> | undefined {
    this.reserve(3 * event.json.length);
    this.separate(event.id);
    this.len += this.slab.write(event.json, this.len);
    this.lastId = event.id;
    this.lastWriter = null;
    return this.added(meta);
  }

  /**
   * Adds the plain event of line src[start, end) with sequence number n,
   * written by `writer`; returns a message when one is full, and null (adding
   * nothing) when the line is not valid UTF-8 and must go through add().
   */
  addLine(writer: EventWriter, src: Buffer, start: number, end: number, n: number, truncated: boolean, meta?: M): OutgoingMessage<M[]> | undefined | null {
    this.reserve(writer.maxBytes(end - start));
    const from = this.len;
    const sep = this.count > 0 ? 1 : 0;
    const to = writer.write(this.slab, from + sep, src, start, end, n, truncated);
    if (to < 0) return null;
    this.separate(this.count === 0 ? writer.id(n) : '');
    this.len = to;
    this.lastWriter = writer;
    this.lastN = n;
    return this.added(meta);
  }

  /** Makes room for a newline and `bytes` more in the slab, moving the partial message to a new slab if needed. */
  private reserve(bytes: number): void {
    const need = this.len + 1 + bytes;
    if (need <= this.slab.length) return;
    const partial = this.len - this.base;
    const old = this.current;
    this.current = this.newSlab(2 * (partial + 1 + bytes));
    this.slab = this.current.buf;
    old.buf.copy(this.slab, 0, this.base, this.len);
    this.base = 0;
    this.len = partial;
    if (old.refs === 0) this.recycle(old);
  }

  /** A slab of at least `bytes`: a released one when it fits, else a new one. */
  private newSlab(bytes: number): Slab {
    if (bytes <= SLAB_BYTES) {
      const reused = this.free.pop();
      if (reused) return reused;
    }
    return { buf: Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, bytes)), refs: 0 };
  }

  private release(slab: Slab): void {
    slab.refs--;
    if (slab.refs === 0 && slab !== this.current) this.recycle(slab);
  }

  /** Keeps a slab nobody reads any more for reuse (an oversized one is left to the collector). */
  private recycle(slab: Slab): void {
    if (slab.buf.length === SLAB_BYTES && this.free.length < POOL_SLABS) this.free.push(slab);
  }

  /** slabs kept for reuse (tests) */
  get pooledSlabs(): number {
    return this.free.length;
  }

  /** Starts a message (remembering its first id) or writes the newline before the next event. */
  private separate(firstId: string): void {
    if (this.count === 0) this.firstId = firstId;
    else this.slab[this.len++] = 0x0a;
  }

  private added(meta: M | undefined): OutgoingMessage<M[]> | undefined {
    this.count++;
    if (meta !== undefined) {
      const last = this.metas.length - 1;
      if (last < 0 || !this.mergeMeta?.(this.metas[last]!, meta)) this.metas.push(meta);
    }
    return this.count >= this.eventsPerMessage ? this.flush() : undefined;
  }

  /** The partial message, if any. */
  flush(): OutgoingMessage<M[]> | undefined {
    if (this.count === 0) return undefined;
    const count = this.count;
    const body = this.slab.subarray(this.base, this.len);
    this.base = this.len;
    const slab = this.current;
    slab.refs++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.release(slab);
    };
    let msg: OutgoingMessage<M[]>;
    if (count === 1 && this.eventsPerMessage === 1) {
      const id = this.firstId;
      msg = { messageId: id, body, properties: publishProperties(id, false), events: 1, meta: this.metas, release };
    } else {
      const lastId = this.lastWriter ? this.lastWriter.id(this.lastN) : this.lastId;
      const id = eventId('batch', this.firstId, lastId, count);
      msg = { messageId: id, body, properties: publishProperties(id, true), events: count, meta: this.metas, release };
    }
    this.count = 0;
    this.metas = [];
    return msg;
  }
}
