/**
 * Documents waiting for a bulk request, counted in events and in bytes (what
 * each adds to the bulk body, exactly), and cut into batches of at most
 * --batch-size events and --batch-bytes bytes (one larger event goes alone).
 * Documents of deliveries that are no longer unacked (requeued, or their
 * channel died) are dropped when a batch is taken: the broker delivers them
 * again.
 */
import { compactFifo } from '@logship/common';
import type { Delivery } from '../consume/delivery-ledger.js';
import type { Document } from '../decode/decode.js';
import { bulkItemBytes } from '../outputs/bulk.js';

export interface Item {
  doc: Document;
  delivery: Delivery;
  /** epoch ms of the first attempt: the retry budget counts from it */
  firstTry: number;
  /** what the document adds to a bulk body, exactly (action line, UTF-8 source, newlines) */
  bytes: number;
}

export function newItem(doc: Document, delivery: Delivery, now: number): Item {
  return { doc, delivery, firstTry: now, bytes: bulkItemBytes(doc) };
}

export interface BatchLimits {
  /** --batch-size: events per bulk request */
  events: number;
  /** --batch-bytes: bytes per bulk request */
  bytes: number;
}

/** A FIFO of items with its event and byte counts. */
export class ItemQueue {
  private items: Item[] = [];
  private head = 0;
  private byteCount = 0;

  constructor(private readonly limits: BatchLimits) {}

  get events(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.byteCount;
  }

  /** a whole batch is waiting (of `maxEvents` events, at most the limit) */
  full(maxEvents = this.limits.events): boolean {
    return this.events >= Math.min(maxEvents, this.limits.events) || this.byteCount >= this.limits.bytes;
  }

  push(item: Item): void {
    this.items.push(item);
    this.byteCount += item.bytes;
  }

  pushAll(items: readonly Item[]): void {
    for (const it of items) this.push(it);
  }

  /**
   * The next batch, oldest first: at most `limits.events` events (or
   * `maxEvents` if fewer) and `limits.bytes` bytes, or one item larger than
   * that alone. Items whose delivery `isOpen` refuses are dropped on the way.
   */
  take(isOpen: (d: Delivery) => boolean, maxEvents = this.limits.events): Item[] {
    const batch: Item[] = [];
    let bytes = 0;
    maxEvents = Math.max(1, Math.min(maxEvents, this.limits.events));
    const maxBytes = this.limits.bytes;
    while (this.head < this.items.length && batch.length < maxEvents) {
      const it = this.items[this.head]!;
      if (!isOpen(it.delivery)) {
        this.drop();
        continue;
      }
      if (batch.length > 0 && bytes + it.bytes > maxBytes) break;
      batch.push(it);
      bytes += it.bytes;
      this.drop();
    }
    this.compact();
    return batch;
  }

  private drop(): void {
    const it = this.items[this.head]!;
    this.items[this.head++] = undefined as unknown as Item;
    this.byteCount -= it.bytes;
  }

  private compact(): void {
    ({ items: this.items, head: this.head } = compactFifo(this.items, this.head));
  }
}
