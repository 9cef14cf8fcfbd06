/**
 * How many deliveries to ask the broker for, counted in events and bytes:
 * the prefetch window holds about `hold.events` events and `hold.bytes`
 * bytes whatever the shape of the messages, and never more than --prefetch
 * deliveries. With one event per message that is --prefetch deliveries (or
 * `hold.events`); with 100 events per message a hundredth of it, so a worker
 * does not hold 100 000 events because its prefetch was sized for single
 * events.
 *
 * RabbitMQ applies a per-consumer prefetch only to consumers created after
 * it was set, so the consumer applies a new window by consuming again
 * (basic.cancel, basic.qos, basic.consume on the same channel: its unacked
 * deliveries stay unacked and can still be acked). To keep that rare, the
 * window changes only when the sizes seen call for half or twice the
 * current one.
 */

export interface HoldLimits {
  /** events the deliveries held may carry in all */
  events: number;
  /** bytes (message bodies) the deliveries held may carry in all */
  bytes: number;
}

/**
 * What an indexer holds by default: the bulks in flight and two batches
 * more (one filling, one ready), in events and in bytes.
 */
export function holdFor(o: { batchSize: number; batchBytes: number; bulkConcurrency: number }): HoldLimits {
  const batches = o.bulkConcurrency + 2;
  return { events: o.batchSize * batches, bytes: o.batchBytes * batches };
}

/** deliveries asked for before their size is known: a burst of large messages at start stays small */
export const FIRST_WINDOW = 100;

/** weight of the newest delivery in the running averages */
const WEIGHT = 1 / 16;

export class PrefetchWindow {
  private avgEvents = 0;
  private avgBytes = 0;
  private seen = 0;
  /** deliveries seen since the window last changed */
  private sinceChange = 0;
  /** the window the broker was last asked for */
  current: number;

  constructor(
    /** --prefetch: never more deliveries than this */
    private readonly max: number,
    private readonly hold: HoldLimits,
  ) {
    this.current = Math.min(max, FIRST_WINDOW);
  }

  /** the window the sizes seen so far call for */
  get target(): number {
    if (this.seen === 0) return this.current;
    const byEvents = this.hold.events / Math.max(1, this.avgEvents);
    const byBytes = this.hold.bytes / Math.max(1, this.avgBytes);
    return Math.max(1, Math.min(this.max, Math.floor(Math.min(byEvents, byBytes))));
  }

  /**
   * One delivery of `events` events and `bytes` bytes arrived. Returns the
   * window to ask for instead of the current one, or null to keep it.
   */
  observe(events: number, bytes: number): number | null {
    if (this.seen === 0) {
      this.avgEvents = events;
      this.avgBytes = bytes;
    } else {
      this.avgEvents += (events - this.avgEvents) * WEIGHT;
      this.avgBytes += (bytes - this.avgBytes) * WEIGHT;
    }
    this.seen++;
    this.sinceChange++;
    return this.wanted();
  }

  /** the window to ask for instead of the current one, by the deliveries seen so far; null to keep it */
  wanted(): number | null {
    // let the averages take in what this window brought before judging it
    if (this.sinceChange < Math.min(this.current, 32)) return null;
    const target = this.target;
    if (target < this.current * 2 && target * 2 > this.current) return null;
    return target;
  }

  /** the broker now applies `window` */
  applied(window: number): void {
    this.current = window;
    this.sinceChange = 0;
  }
}
