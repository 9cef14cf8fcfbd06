/** Prometheus metrics (names are a contract, docs/DESIGN.md). */
import fs from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export { Registry };

/** The cgroup memory limit of this process (container), or null when unlimited or unknown. */
export function memoryLimitBytes(): number | null {
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try {
      const text = fs.readFileSync(file, 'utf8').trim();
      if (text === 'max') return null;
      const n = Number(text);
      // cgroup v1 reports "unlimited" as a huge number
      if (Number.isFinite(n) && n > 0 && n < 2 ** 60) return n;
      return null;
    } catch {
      /* not this cgroup version */
    }
  }
  return null;
}

export function createRegistry(withDefaults = true): Registry {
  const registry = new Registry();
  if (withDefaults) {
    collectDefaultMetrics({ register: registry });
    // gauges named *_total break Prometheus naming rules (promtool check metrics);
    // the same figures stay available as nodejs_active_handles/requests/resources
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      registry.removeSingleMetric(name);
    }
    const limit = memoryLimitBytes();
    if (limit !== null) {
      new Gauge({
        name: 'logship_process_memory_limit_bytes',
        help: 'Memory limit of the container (cgroup) this process runs in',
        registers: [registry],
      }).set(limit);
    }
  }
  return registry;
}

export function createShipperMetrics(registry: Registry) {
  const r = [registry];
  return {
    eventsRead: new Counter({ name: 'logship_shipper_events_read_total', help: 'Lines read from the inputs (empty lines included)', registers: r }),
    eventsPublished: new Counter({ name: 'logship_shipper_events_published_total', help: 'Events confirmed by the broker', registers: r }),
    eventsUnroutable: new Counter({
      name: 'logship_shipper_events_unroutable_total',
      help: 'Events returned by the broker because no queue is bound (never counted as published)',
      registers: r,
    }),
    publishErrors: new Counter({ name: 'logship_shipper_publish_errors_total', help: 'Publishes nacked or lost with their channel (retried)', registers: r }),
    inflight: new Gauge({ name: 'logship_shipper_inflight_events', help: 'Events published and awaiting a broker confirm', registers: r }),
    eventsSkipped: new Counter({ name: 'logship_shipper_events_skipped_total', help: 'Empty lines skipped', registers: r }),
    eventsTruncated: new Counter({ name: 'logship_shipper_events_truncated_total', help: 'Lines truncated to --max-line-bytes', registers: r }),
    blocked: new Gauge({ name: 'logship_shipper_blocked', help: '1 while the broker blocks publishing (memory or disk alarm)', registers: r }),
  };
}
export type ShipperMetrics = ReturnType<typeof createShipperMetrics>;

export function createIndexerMetrics(registry: Registry) {
  const r = [registry];
  return {
    eventsIn: new Counter({ name: 'logship_indexer_events_in_total', help: 'Events received from the queue', registers: r }),
    eventsIndexed: new Counter({ name: 'logship_indexer_events_indexed_total', help: 'Events accepted by the output (201)', registers: r }),
    eventsDuplicate: new Counter({
      name: 'logship_indexer_events_duplicate_total',
      help: 'Events already present (409 on create): duplicates avoided',
      registers: r,
    }),
    eventsDeadLettered: new Counter({
      name: 'logship_indexer_events_dead_lettered_total',
      help: 'Events published to the dead-letter exchange',
      registers: r,
    }),
    bulkRetries: new Counter({ name: 'logship_indexer_bulk_retries_total', help: 'Events sent again after 429/5xx/connection errors', registers: r }),
    bulkDuration: new Histogram({
      name: 'logship_indexer_bulk_duration_seconds',
      help: 'Duration of bulk requests',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: r,
    }),
    batchEvents: new Histogram({
      name: 'logship_indexer_batch_events',
      help: 'Events per bulk request',
      buckets: [1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000],
      registers: r,
    }),
    deliveriesUnacked: new Gauge({ name: 'logship_indexer_unacked_deliveries', help: 'Deliveries received and not yet settled', registers: r }),
    deliveriesRequeued: new Counter({
      name: 'logship_indexer_deliveries_requeued_total',
      help: 'Deliveries nacked with requeue after the retry budget',
      registers: r,
    }),
  };
}
export type IndexerMetrics = ReturnType<typeof createIndexerMetrics>;
