/**
 * The one owner of delivery state. A delivery is `unacked` from its receipt
 * until the ledger either acks it (every one of its events was written or
 * dead-lettered) or requeues it (nack with requeue: past the retry budget,
 * or its channel died, in which case the broker has requeued it already).
 * Nothing else changes a delivery's state, and each delivery leaves
 * `unacked` exactly once: events of a delivery may be in several bulks at
 * once, and whatever finishes after the delivery was requeued is ignored.
 *
 * The ledger decides; the consumer (AckWire) sends the frames, on the
 * delivery's own channel and only while that channel is alive.
 */
import type { Channel, ConsumeMessage, IndexerMetrics, Logger } from '@logship/common';

export type DeliveryState = 'unacked' | 'acked' | 'requeued';

export interface Delivery {
  /**
   * what the broker needs to answer it: its delivery tag alone. Neither the
   * body nor amqplib's fields (with their strings) are kept once decoded: a
   * delivery lives until its bulk is answered, and whatever it holds is
   * copied by every young-generation GC meanwhile.
   */
  readonly tag: number;
  /** the channel it came on: the only one its tag may be acked on */
  readonly channel: Channel;
  readonly receivedAt: number;
  /** events of the delivery not yet written or dead-lettered; at 0 it is acked */
  unackedEvents: number;
  state: DeliveryState;
  /**
   * one of its events was dead-lettered: its ack is sent at once, never held
   * (consumer.ts, ACK_HOLD_MS), since a redelivery would dead-letter it again
   */
  deadLettered: boolean;
}

export function newDelivery(msg: Pick<ConsumeMessage, 'fields'>, channel: Channel): Delivery {
  return { tag: msg.fields.deliveryTag, channel, receivedAt: Date.now(), unackedEvents: 0, state: 'unacked', deadLettered: false };
}

/** The broker side of a delivery's answer (the consumer). */
export interface AckWire {
  /** whether the delivery's channel is the live one (its tag may be answered) */
  isLive(d: Delivery): boolean;
  /** an ack frame for it, soon (coalesced with others: consumer.ts) */
  sendAck(d: Delivery): void;
  /** a nack with requeue, now */
  sendRequeue(d: Delivery): void;
}

export class DeliveryLedger {
  private readonly open = new Set<Delivery>();
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly wire: AckWire,
    private readonly metrics: IndexerMetrics,
    private readonly logger: Logger,
  ) {}

  /** deliveries received and neither acked nor requeued */
  get unacked(): number {
    return this.open.size;
  }

  /** Starts tracking a delivery of `events` events; one without events is acked at once. */
  track(d: Delivery, events: number): void {
    d.unackedEvents = events;
    this.open.add(d);
    this.metrics.deliveriesUnacked.inc();
    if (events === 0) this.ack(d);
  }

  /** whether writing its events still matters: unacked, on a live channel */
  isOpen(d: Delivery): boolean {
    if (d.state !== 'unacked') return false;
    if (this.wire.isLive(d)) return true;
    this.requeue(d, 'its channel closed');
    return false;
  }

  /** One event of the delivery was written (201, 409); the last one acks it. */
  eventDone(d: Delivery): void {
    if (d.state !== 'unacked') return;
    d.unackedEvents--;
    if (d.unackedEvents <= 0) this.ack(d);
  }

  /** One event of the delivery was dead-lettered (the broker confirmed the dead letter); the last event acks it. */
  eventDeadLettered(d: Delivery): void {
    if (d.state !== 'unacked') return;
    d.deadLettered = true;
    this.eventDone(d);
  }

  /**
   * Gives the delivery back to the broker: nack with requeue on its channel,
   * or nothing to send if that channel died (the broker requeued it then).
   * Its events still in batches or bulks are dropped or ignored from now on.
   */
  requeue(d: Delivery, why: string): void {
    if (d.state !== 'unacked') return;
    d.state = 'requeued';
    if (this.wire.isLive(d)) {
      this.wire.sendRequeue(d);
      this.metrics.deliveriesRequeued.inc();
      this.logger.warn({ deliveryTag: d.tag, why }, 'delivery nacked with requeue');
    }
    this.close(d);
  }

  /** The channel died: the broker requeued every delivery it carried. */
  channelClosed(channel: Channel): void {
    for (const d of [...this.open]) if (d.channel === channel) this.requeue(d, 'its channel closed');
  }

  /** Resolves when no delivery is unacked. */
  idle(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private ack(d: Delivery): void {
    // a dead channel's tag is never acked: the broker redelivers it
    if (!this.wire.isLive(d)) return this.requeue(d, 'its channel closed');
    d.state = 'acked';
    this.wire.sendAck(d);
    this.close(d);
  }

  private close(d: Delivery): void {
    if (!this.open.delete(d)) return;
    this.metrics.deliveriesUnacked.dec();
    if (this.open.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
