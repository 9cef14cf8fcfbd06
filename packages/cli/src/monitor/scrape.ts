/**
 * Scrapes workers' /metrics (each with its own timeout, like a multi-target
 * exporter) and builds one exposition: every series labelled by instance, an
 * up gauge per target, cluster totals and the queue figures.
 */
import http from 'node:http';
import https from 'node:https';
import { errorMessage } from '@logship/common';
import { parseExposition, type Family, type Sample } from './exposition.js';
import { mergeTargets } from './merge.js';

export interface Target {
  /** host:port, the instance label */
  instance: string;
  metricsUrl: string;
  healthUrl: string;
}

export interface TargetScrape {
  target: Target;
  up: boolean;
  error: string | null;
  durationMs: number;
  families: Family[];
}

export interface QueueFigures {
  queue: string;
  deadLetterQueue: string;
  ready: number | null;
  consumers: number | null;
  deadLetters: number | null;
  error: string | null;
}

export function parseTarget(raw: string): Target {
  const text = /^https?:\/\//.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`target "${raw}" is not a URL such as http://10.0.0.5:9198`);
  }
  const base = `${url.protocol}//${url.host}`;
  const path = url.pathname === '/' || url.pathname === '' ? '/metrics' : url.pathname;
  return { instance: url.host, metricsUrl: `${base}${path}`, healthUrl: `${base}/health` };
}

const MAX_SCRAPE_BYTES = 32 * 1024 * 1024;

/**
 * GET on a fresh connection (no keep-alive pool: a reused socket that the
 * worker just closed would count as a dead target) with one deadline for
 * the whole answer.
 */
export function httpGet(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const lib = url.startsWith('https:') ? https : http;
    const req = lib.get(url, { agent: false, headers: { accept: 'text/plain, application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_SCRAPE_BYTES) req.destroy(new Error(`answer larger than ${MAX_SCRAPE_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('close', () => clearTimeout(deadline));
    req.on('error', reject);
  });
}

export async function scrapeTarget(target: Target, timeoutMs: number): Promise<TargetScrape> {
  const started = Date.now();
  try {
    const res = await httpGet(target.metricsUrl, timeoutMs);
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    const families = parseExposition(res.body);
    return { target, up: true, error: null, durationMs: Date.now() - started, families };
  } catch (err) {
    return { target, up: false, error: errorMessage(err), durationMs: Date.now() - started, families: [] };
  }
}

function gauge(name: string, help: string, samples: Sample[]): Family {
  return { name, help, type: 'gauge', samples };
}

/** The monitor's own families: a target family with one of these names is re-exposed as exported_<name>. */
const OWN_FAMILIES = [
  'up',
  'logship_scrape_duration_seconds',
  'logship_queue_messages_ready',
  'logship_queue_consumers',
  'logship_dead_letter_messages',
  'logship_queue_up',
  'logship_monitor_dropped_families',
];
const OWN_PREFIXES = ['logship_cluster_'];

/** Sum over instances of every logship_* counter and gauge, grouped by the other labels. */
function clusterTotals(merged: Map<string, Family>): Family[] {
  const out: Family[] = [];
  for (const f of merged.values()) {
    if (!f.name.startsWith('logship_') || (f.type !== 'counter' && f.type !== 'gauge')) continue;
    const name = f.name.replace(/^logship_/, 'logship_cluster_');
    const sums = new Map<string, Sample>();
    for (const s of f.samples) {
      const { instance: _i, ...rest } = s.labels;
      const sampleName = s.name.replace(/^logship_/, 'logship_cluster_');
      const key = `${sampleName}${JSON.stringify(rest)}`;
      const acc = sums.get(key);
      if (acc) acc.value += s.value;
      else sums.set(key, { name: sampleName, labels: rest, value: s.value });
    }
    out.push({ name, help: `${f.help} (sum over instances)`, type: f.type, samples: [...sums.values()] });
  }
  return out;
}

export function aggregate(scrapes: TargetScrape[], queue: QueueFigures | null): Family[] {
  const { families: merged, dropped } = mergeTargets(
    scrapes.map((sc) => ({ instance: sc.target.instance, families: sc.families })),
    new Set(OWN_FAMILIES),
    OWN_PREFIXES,
  );
  const families = [...merged.values()];
  const droppedCounts = new Map<string, Sample>();
  for (const d of dropped) {
    const key = `${d.instance}\u0000${d.reason}`;
    const acc = droppedCounts.get(key);
    if (acc) acc.value++;
    else droppedCounts.set(key, { name: 'logship_monitor_dropped_families', labels: { instance: d.instance, reason: d.reason }, value: 1 });
  }
  families.push(
    gauge(
      'up',
      '1 if the instance answered its last scrape, 0 otherwise',
      scrapes.map((s) => ({ name: 'up', labels: { instance: s.target.instance }, value: s.up ? 1 : 0 })),
    ),
    gauge(
      'logship_scrape_duration_seconds',
      'Duration of the last scrape of each instance',
      scrapes.map((s) => ({ name: 'logship_scrape_duration_seconds', labels: { instance: s.target.instance }, value: s.durationMs / 1000 })),
    ),
    gauge(
      'logship_monitor_dropped_families',
      'Families of an instance left out of the last scrape: their name or type conflicts with another family, or promtool would reject their name',
      [...droppedCounts.values()],
    ),
    ...clusterTotals(merged),
  );
  if (queue) {
    const q = (name: string, help: string, queueName: string, v: number | null) =>
      v === null ? null : gauge(name, help, [{ name, labels: { queue: queueName }, value: v }]);
    families.push(
      ...[
        q('logship_queue_messages_ready', 'Messages ready in the main queue', queue.queue, queue.ready),
        q('logship_queue_consumers', 'Consumers of the main queue', queue.queue, queue.consumers),
        q('logship_dead_letter_messages', 'Messages in the dead-letter queue', queue.deadLetterQueue, queue.deadLetters),
      ].filter((f): f is Family => f !== null),
      gauge('logship_queue_up', '1 if the broker answered the queue checks', [{ name: 'logship_queue_up', labels: {}, value: queue.error ? 0 : 1 }]),
    );
  }
  return families;
}

/** Value of a family for one scrape (sum over its samples without a suffix). */
export function total(families: Family[], name: string): number {
  const f = families.find((x) => x.name === name);
  if (!f) return 0;
  return f.samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);
}
