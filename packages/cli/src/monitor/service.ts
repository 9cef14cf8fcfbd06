/**
 * The monitor: scrapes its targets every interval (and on each /metrics
 * request), keeps a few minutes of history for the dashboard, and reads the
 * queue figures over AMQP.
 */
import { errorMessage, type Health, type Logger, type RecoveringChannelModel } from '@logship/common';
import { renderFamilies } from './exposition.js';
import { aggregate, httpGet, scrapeTarget, total, type QueueFigures, type Target, type TargetScrape } from './scrape.js';

const RATE_WINDOW_MS = 5000;

export interface InstanceState {
  instance: string;
  up: boolean;
  error: string | null;
  health: string;
  role: 'indexer' | 'shipper' | 'unknown';
  eventsIn: number;
  eventsOut: number;
  inPerSecond: number;
  outPerSecond: number;
  unacked: number;
  memoryBytes: number;
}

export interface HistoryPoint {
  t: number;
  queueReady: number | null;
  deadLetters: number | null;
  outPerSecond: Record<string, number>;
}

export interface MonitorOptions {
  targets: Target[];
  timeoutMs: number;
  intervalMs: number;
  historyMs: number;
  queue: string;
  deadLetterQueue: string;
  conn: RecoveringChannelModel | null;
  logger: Logger;
}

function counters(s: TargetScrape) {
  const f = s.families;
  const indexerIn = total(f, 'logship_indexer_events_in_total');
  const shipperIn = total(f, 'logship_shipper_events_read_total');
  const role: InstanceState['role'] = f.some((x) => x.name.startsWith('logship_indexer_'))
    ? 'indexer'
    : f.some((x) => x.name.startsWith('logship_shipper_'))
      ? 'shipper'
      : 'unknown';
  const out =
    role === 'indexer'
      ? total(f, 'logship_indexer_events_indexed_total') +
        total(f, 'logship_indexer_events_duplicate_total') +
        total(f, 'logship_indexer_events_dead_lettered_total')
      : total(f, 'logship_shipper_events_published_total');
  return {
    role,
    in: role === 'indexer' ? indexerIn : shipperIn,
    out,
    unacked: total(f, 'logship_indexer_unacked_deliveries') + total(f, 'logship_shipper_inflight_events'),
    memory: total(f, 'process_resident_memory_bytes'),
  };
}

export class Monitor {
  private last: { at: number; scrapes: TargetScrape[]; queue: QueueFigures | null } | null = null;
  /** recent counter samples per instance; rates are taken over RATE_WINDOW_MS so a short burst stays visible */
  private samples = new Map<string, Array<{ at: number; in: number; out: number }>>();
  readonly instances = new Map<string, InstanceState>();
  readonly history: HistoryPoint[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly o: MonitorOptions) {}

  start(): void {
    const tick = async () => {
      await this.poll().catch((err: unknown) => this.o.logger.warn({ err: errorMessage(err) }, 'monitor poll failed'));
      this.timer = setTimeout(() => void tick(), this.o.intervalMs);
    };
    void tick();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  async queueFigures(): Promise<QueueFigures | null> {
    const { conn, queue, deadLetterQueue } = this.o;
    if (!conn) return null;
    const fig: QueueFigures = { queue, deadLetterQueue, ready: null, consumers: null, deadLetters: null, error: null };
    try {
      if (!conn.connected) throw new Error('broker unavailable: no RabbitMQ node connected');
      const ch = await conn.createChannelUnless(AbortSignal.timeout(this.o.timeoutMs));
      ch.on('error', () => undefined);
      try {
        const q = await ch.checkQueue(queue);
        fig.ready = q.messageCount;
        fig.consumers = q.consumerCount;
        fig.deadLetters = (await ch.checkQueue(deadLetterQueue)).messageCount;
      } finally {
        await ch.close().catch(() => undefined);
      }
    } catch (err) {
      fig.error = errorMessage(err);
    }
    return fig;
  }

  private async health(t: Target): Promise<string> {
    try {
      const res = await httpGet(t.healthUrl, this.o.timeoutMs);
      const body = JSON.parse(res.body) as { status?: string };
      return body.status ?? (res.status === 200 ? 'ok' : 'down');
    } catch {
      return 'down';
    }
  }

  /** Scrapes every target now. */
  async scrape(): Promise<{ scrapes: TargetScrape[]; queue: QueueFigures | null }> {
    const [scrapes, queue] = await Promise.all([Promise.all(this.o.targets.map((t) => scrapeTarget(t, this.o.timeoutMs))), this.queueFigures()]);
    this.last = { at: Date.now(), scrapes, queue };
    return { scrapes, queue };
  }

  async metricsText(): Promise<string> {
    const { scrapes, queue } = await this.scrape();
    return renderFamilies(aggregate(scrapes, queue));
  }

  private async poll(): Promise<void> {
    const { scrapes, queue } = await this.scrape();
    const healths = await Promise.all(this.o.targets.map((t) => this.health(t)));
    const now = Date.now();
    const point: HistoryPoint = { t: now, queueReady: queue?.ready ?? null, deadLetters: queue?.deadLetters ?? null, outPerSecond: {} };
    scrapes.forEach((s, i) => {
      const c = counters(s);
      const id = s.target.instance;
      const window = this.samples.get(id) ?? [];
      while (window.length > 1 && window[1]!.at <= now - Math.max(RATE_WINDOW_MS, 2 * this.o.intervalMs)) window.shift();
      const before = window[0];
      const dt = before ? (now - before.at) / 1000 : 0;
      // a counter that went down (worker restarted) gives no rate for this window
      const rate = (a: number, b: number | undefined) => (before && dt > 0 && b !== undefined && a >= b ? (a - b) / dt : 0);
      const state: InstanceState = {
        instance: id,
        up: s.up,
        error: s.error,
        health: s.up ? (healths[i] ?? 'down') : 'down',
        role: c.role,
        eventsIn: c.in,
        eventsOut: c.out,
        inPerSecond: s.up ? rate(c.in, before?.in) : 0,
        outPerSecond: s.up ? rate(c.out, before?.out) : 0,
        unacked: c.unacked,
        memoryBytes: c.memory,
      };
      if (s.up) {
        window.push({ at: now, in: c.in, out: c.out });
        this.samples.set(id, window);
      }
      this.instances.set(id, state);
      point.outPerSecond[id] = state.outPerSecond;
    });
    this.history.push(point);
    while (this.history.length > 0 && this.history[0]!.t < now - this.o.historyMs) this.history.shift();
  }

  /** Everything the dashboard shows. */
  state() {
    const instances = [...this.instances.values()];
    const totalOut = instances.reduce((a, i) => a + i.eventsOut, 0);
    return {
      at: this.last?.at ?? null,
      queue: this.last?.queue ?? null,
      instances: instances.map((i) => ({ ...i, share: totalOut > 0 ? i.eventsOut / totalOut : 0 })),
      history: this.history,
    };
  }

  healthReport(): Health {
    const instances = [...this.instances.values()].map((i) => ({ instance: i.instance, up: i.up, health: i.health, error: i.error }));
    const anyDown = instances.some((i) => !i.up || i.health === 'down');
    const anyDegraded = instances.some((i) => i.health === 'degraded');
    const queueDown = Boolean(this.last?.queue?.error);
    return {
      status: anyDown || queueDown || anyDegraded ? 'degraded' : 'ok',
      targets: instances,
      queue: this.last?.queue ?? null,
    };
  }
}
