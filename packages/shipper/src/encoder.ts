/**
 * Packs events into AMQP messages: one JSON event per message, or with
 * --events-per-message N an NDJSON body of up to N events. Each event keeps
 * its own event.id; the message id is derived from the ids it carries.
 */
import { eventId, publishProperties } from '@logship/common';
import type { SerializedEvent } from './event-factory.js';
import type { OutgoingMessage } from './publisher.js';

export class MessageEncoder<M> {
  private body = '';
  private count = 0;
  private firstId = '';
  private lastId = '';
  private metas: M[] = [];

  constructor(private readonly eventsPerMessage: number) {}

  get size(): number {
    return this.count;
  }

  /** Adds an event (one line of JSON); returns a message when one is full. */
  add(event: SerializedEvent, meta?: M): OutgoingMessage<M[]> | undefined {
    if (this.eventsPerMessage === 1) {
      return {
        messageId: event.id,
        body: Buffer.from(event.json),
        properties: publishProperties(event.id, false),
        events: 1,
        meta: meta === undefined ? [] : [meta],
      };
    }
    if (this.count === 0) {
      this.firstId = event.id;
      this.body = event.json;
    } else this.body += `\n${event.json}`;
    this.lastId = event.id;
    this.count++;
    if (meta !== undefined) this.metas.push(meta);
    return this.count >= this.eventsPerMessage ? this.flush() : undefined;
  }

  /** The partial message, if any. */
  flush(): OutgoingMessage<M[]> | undefined {
    if (this.count === 0) return undefined;
    const count = this.count;
    const id = eventId('batch', this.firstId, this.lastId, count);
    const msg: OutgoingMessage<M[]> = {
      messageId: id,
      body: Buffer.from(this.body),
      properties: publishProperties(id, true),
      events: count,
      meta: this.metas,
    };
    this.body = '';
    this.count = 0;
    this.metas = [];
    return msg;
  }
}
