/**
 * Packs events into AMQP messages: one JSON event per message, or with
 * --events-per-message N an NDJSON body of up to N events. Each event keeps
 * its own event.id; the message id is derived from the ids it carries.
 */
import { eventId, publishProperties, type LogEvent } from '@logship/common';
import type { OutgoingMessage } from './publisher.js';

export class MessageEncoder<M> {
  private lines: string[] = [];
  private firstId = '';
  private lastId = '';
  private metas: M[] = [];

  constructor(private readonly eventsPerMessage: number) {}

  get size(): number {
    return this.lines.length;
  }

  /** Adds an event; returns a message when one is full. */
  add(event: LogEvent, meta?: M): OutgoingMessage<M[]> | undefined {
    const json = JSON.stringify(event);
    if (this.eventsPerMessage === 1) {
      return {
        messageId: event.event.id,
        body: Buffer.from(json),
        properties: publishProperties(event.event.id, false),
        events: 1,
        meta: meta === undefined ? [] : [meta],
      };
    }
    if (this.lines.length === 0) this.firstId = event.event.id;
    this.lastId = event.event.id;
    this.lines.push(json);
    if (meta !== undefined) this.metas.push(meta);
    return this.lines.length >= this.eventsPerMessage ? this.flush() : undefined;
  }

  /** The partial message, if any. */
  flush(): OutgoingMessage<M[]> | undefined {
    if (this.lines.length === 0) return undefined;
    const count = this.lines.length;
    const id = eventId('batch', this.firstId, this.lastId, count);
    const msg: OutgoingMessage<M[]> = {
      messageId: id,
      body: Buffer.from(this.lines.join('\n')),
      properties: publishProperties(id, true),
      events: count,
      meta: this.metas,
    };
    this.lines = [];
    this.metas = [];
    return msg;
  }
}
