/**
 * A consumer on a fake channel, for the unit tests of acks
 * (test/unit/consumer-acks.test.ts, test/unit/ack-hold.test.ts): FakeChannel
 * plays the broker's side of basic.ack and basic.nack, including its
 * "unknown delivery tag" rule, and records every frame.
 */
import { EventEmitter } from 'node:events';
import { createIndexerMetrics, createLogger, createRegistry, type ConsumeMessage } from '@logship/common';
import { Consumer, DeliveryLedger, type ChannelSource, type Delivery } from '@logship/indexer';

type OnMessage = (msg: unknown) => void;

/** The broker's view of one channel: unacked tags, and the acks that named a tag it did not know. */
export class FakeChannel extends EventEmitter {
  readonly unacked = new Set<number>();
  readonly errors: string[] = [];
  readonly frames: Array<{ tag: number; multiple: boolean; kind: 'ack' | 'nack' }> = [];
  /** how the broker settled each tag: the frame that removed it (an ack or a nack, with its requeue flag) */
  readonly settledAs = new Map<number, { kind: 'ack' | 'nack'; requeue?: boolean }>();
  private onMessage: OnMessage | null = null;
  private tag = 0;
  async prefetch() {}
  /** consumer tags cancelled, in order */
  readonly cancelled: string[] = [];
  /** consume-ok waits for this (a slow broker) */
  consumeGate: Promise<void> | null = null;
  async consume(_queue: string, onMessage: OnMessage) {
    this.onMessage = onMessage;
    if (this.consumeGate) await this.consumeGate;
    return { consumerTag: 'c1' };
  }
  async cancel(tag: string) {
    this.cancelled.push(tag);
  }
  async close() {}
  deliver(content = Buffer.alloc(0)): number {
    const deliveryTag = ++this.tag;
    this.unacked.add(deliveryTag);
    this.onMessage!({ fields: { deliveryTag }, properties: {}, content });
    return deliveryTag;
  }
  /** the broker closes the channel: its unacked deliveries go back to the queue */
  die() {
    this.unacked.clear();
    this.emit('close');
  }
  private settle(msg: { fields: { deliveryTag: number } }, multiple: boolean, kind: 'ack' | 'nack', requeue?: boolean) {
    const tag = msg.fields.deliveryTag;
    this.frames.push({ tag, multiple, kind });
    if (!this.unacked.has(tag)) this.errors.push(`PRECONDITION_FAILED - unknown delivery tag ${tag}`);
    const as = kind === 'ack' ? { kind } : { kind, requeue };
    const covered = multiple ? [...this.unacked].filter((t) => t <= tag) : this.unacked.has(tag) ? [tag] : [];
    for (const t of covered) {
      this.unacked.delete(t);
      this.settledAs.set(t, as);
    }
  }
  ack(msg: { fields: { deliveryTag: number } }, multiple = false) {
    this.settle(msg, multiple, 'ack');
  }
  nack(msg: { fields: { deliveryTag: number } }, multiple = false, requeue = true) {
    this.settle(msg, multiple, 'nack', requeue);
  }
}

export const silent = createLogger({ level: 'silent' });

/** A consumer on a fake channel, with its ledger; deliveries go to onDelivery. `ackHoldMs`: the consumer's option (default ACK_HOLD_MS). */
export async function startConsumer(onDelivery: (d: Delivery, msg: ConsumeMessage) => void, ackHoldMs?: number) {
  const ch = new FakeChannel();
  const conn = Object.assign(new EventEmitter(), { createChannel: async () => ch }) as unknown as ChannelSource;
  const metrics = createIndexerMetrics(createRegistry(false));
  const consumer: Consumer = new Consumer(
    conn,
    { queue: 'q', prefetch: 100, logger: silent, ackHoldMs },
    {
      receive: onDelivery,
      channelClosed: (channel) => ledger.channelClosed(channel),
    },
  );
  const ledger = new DeliveryLedger(consumer, metrics, silent);
  await consumer.start();
  return { ch, consumer, ledger, metrics };
}

export const tick = () => new Promise((r) => setImmediate(r));
