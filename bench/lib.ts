/**
 * Benchmark helpers: the corpus, child processes with peak RSS and CPU time,
 * random topologies, the rows and their table. The broker, process and double
 * helpers come from test/helpers/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { randomNames, type Names } from '../test/helpers/amqp.js';
import { BIN, ROOT } from '../test/helpers/cli.js';
import { sampleUsage } from '../test/helpers/process-rss.js';
import type { EsDouble } from '../test/helpers/es-double.js';
import { sleep, waitFor } from '../test/helpers/wait.js';

export { ROOT, BIN } from '../test/helpers/cli.js';
export type { Names } from '../test/helpers/amqp.js';
export const AMQP_URL = process.env.LOGSHIP_BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672/%2f';

export interface Row {
  benchmark: string;
  variant: string;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  ratio: number | null;
  peakRssMb: number;
  target?: string;
  pass?: boolean;
  note?: string;
}

const LEVELS = ['INFO', 'INFO', 'INFO', 'WARN', 'DEBUG', 'ERROR'];
const SERVICES = ['checkout', 'payments', 'auth', 'search', 'gateway'];

/** ~250-byte realistic log lines, deterministic. */
export function corpusLine(i: number): string {
  const lvl = LEVELS[i % LEVELS.length];
  const svc = SERVICES[i % SERVICES.length];
  const ts = new Date(Date.UTC(2026, 10, 21, 10, 0, 0) + i * 3).toISOString();
  return (
    `${ts} ${lvl} [${svc}-${i % 7}] request_id=${((i * 2654435761) >>> 0).toString(16).padStart(8, '0')} method=POST ` +
    `path=/api/v2/orders/${i % 100000}/items status=${i % 50 === 0 ? 500 : 200} duration_ms=${(i * 37) % 900} ` +
    `user=u${i % 5000} ua="Mozilla/5.0 (X11; Linux x86_64)" msg="order item updated"`
  );
}

export function writeCorpus(file: string, events: number): number {
  const fd = fs.openSync(file, 'w');
  let chunk = '';
  let bytes = 0;
  for (let i = 0; i < events; i++) {
    chunk += `${corpusLine(i)}\n`;
    if (chunk.length > 1 << 20) {
      bytes += fs.writeSync(fd, chunk);
      chunk = '';
    }
  }
  bytes += fs.writeSync(fd, chunk);
  fs.closeSync(fd);
  return bytes;
}

/**
 * Random names on the bench broker (test/helpers/amqp.ts), logging at warn;
 * the index pattern keeps the bench's short form `<id>-%{+yyyy.MM.dd}`, so
 * the bulk bodies are as long as in earlier rounds.
 */
export function names(tag: string): Names {
  const n = randomNames(`bench-${tag}`, AMQP_URL);
  const id = n.exchange.slice(0, -'.logs'.length);
  const index = `${id}-%{+yyyy.MM.dd}`;
  return { ...n, index, indexWildcard: `${id}-*`, env: { ...n.env, LOGSHIP_INDEX: index, LOGSHIP_LOG_LEVEL: 'warn' } };
}

export interface Child {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** resolves with exit code, the peak RSS seen (VmHWM) and the CPU time last seen (user + system) */
  done: Promise<{ code: number | null; peakRss: number; cpuSeconds: number }>;
}

/**
 * Spawns a process with this environment plus `env`, feeding stdin from a
 * file, a pipe ('pipe') or nothing, and samples its peak RSS and CPU time.
 * Unlike test/helpers/cli.ts it runs the logship binary on the built dist/.
 */
export function run(cmd: string, args: string[], env: Record<string, string>, stdin?: string): Child {
  const fd = stdin && stdin !== 'pipe' ? fs.openSync(stdin, 'r') : undefined;
  const child = spawn(cmd, args, {
    env: { ...process.env, ...env },
    stdio: [stdin === 'pipe' ? 'pipe' : (fd ?? 'ignore'), 'pipe', 'pipe'],
  });
  if (fd !== undefined) fs.closeSync(fd); // the child has its own copy
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const usage = sampleUsage(child.pid, 50);
  const done = new Promise<{ code: number | null; peakRss: number; cpuSeconds: number }>((resolve) => {
    child.on('close', (code) => {
      const { peakRss, cpuSeconds } = usage.stop();
      resolve({ code, peakRss, cpuSeconds });
    });
  });
  return { child, stdout: () => out, stderr: () => err, done };
}

/** `logship bootstrap --skip-elasticsearch` (the built binary, like the timed runs) */
export async function bootstrap(env: Record<string, string>, extra: string[] = []): Promise<void> {
  const c = run(BIN, ['bootstrap', '--skip-elasticsearch', ...extra], env);
  const r = await c.done;
  if (r.code !== 0) throw new Error(`bootstrap failed: ${c.stderr()}`);
}

export function row(benchmark: string, variant: string, events: number, seconds: number, peakRss: number, baseline?: Row): Row {
  const eps = events / seconds;
  return {
    benchmark,
    variant,
    events,
    seconds: Math.round(seconds * 100) / 100,
    eventsPerSecond: Math.round(eps),
    ratio: baseline ? Math.round((eps / baseline.eventsPerSecond) * 100) / 100 : null,
    peakRssMb: Math.round(peakRss / 1048576),
  };
}

export function table(rows: Row[]): string {
  const head = ['benchmark', 'variant', 'events', 'seconds', 'events/s', 'ratio', 'peak RSS MB', 'target', 'ok'];
  const cells = rows.map((r) => [
    r.benchmark,
    r.variant,
    String(r.events),
    r.seconds.toFixed(2),
    String(r.eventsPerSecond),
    r.ratio === null ? '' : r.ratio.toFixed(2),
    String(r.peakRssMb),
    r.target ?? '',
    r.pass === undefined ? '' : r.pass ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...cells.map((x) => x[c]!.length)));
  const line = (x: string[]) => `| ${x.map((v, c) => v.padEnd(widths[c]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

function cpuTimes(): { idle: number; total: number } | null {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return { idle: f[3]! + f[4]!, total: f.reduce((a, b) => a + b, 0) };
  } catch {
    return null; // not Linux: no settling
  }
}

/**
 * Waits until the machine is quiet (two 250 ms windows at least 85 % idle,
 * at most 20 s) so that a run does not share the CPU with the broker still
 * cleaning up after the previous one (deleted queues, message store
 * compaction). Measured timing starts after this.
 */
export async function settle(): Promise<void> {
  const deadline = Date.now() + 20_000;
  let quiet = 0;
  let prev = cpuTimes();
  while (prev && quiet < 2 && Date.now() < deadline) {
    await sleep(250);
    const now = cpuTimes()!;
    const total = now.total - prev.total;
    quiet = total > 0 && (now.idle - prev.idle) / total >= 0.85 ? quiet + 1 : 0;
    prev = now;
  }
}

/**
 * Seconds from `started` to the moment the double holds `events` more
 * documents than `before`, seen by a 20 ms poll: how both indexers' runs
 * are timed. Stops early when `exited` settles first (the process ended
 * before storing them all: its caller says why).
 */
export async function secondsToStored(es: EsDouble, before: number, events: number, started: bigint, exited: Promise<unknown>): Promise<number> {
  let gone = false;
  void exited.then(() => (gone = true));
  await waitFor(`${events} documents`, () => es.stored - before >= events || gone, 900_000, 20);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/**
 * The simplest correct indexer (bench/baseline-index.mjs) on the backlog of
 * `n.queue` at `amqpUrl`, timed like logship's runs: from spawn to the last
 * document stored, seen by the same 20 ms poll (its exit, which follows the
 * ack of its last event, would add its answer, ack and close to its time
 * only). Then it must exit 0. Here, not in steps.ts, so that bench/cluster.ts
 * can run it without the corpus directory steps.ts makes.
 */
export async function timeSimplestIndexer(n: Names, es: EsDouble, events: number, bench: string, amqpUrl = AMQP_URL): Promise<Row> {
  const before = es.stored;
  const prefix = n.index.replace('-%{+yyyy.MM.dd}', '');
  const started = process.hrtime.bigint();
  const args = [path.join(ROOT, 'bench/baseline-index.mjs'), amqpUrl, n.queue, String(events), es.url, prefix];
  const c = run(process.execPath, args, {});
  const seconds = await secondsToStored(es, before, events, started, c.done);
  const r = await c.done;
  if (r.code !== 0) throw new Error(`the simplest indexer failed: ${c.stderr()}`);
  if (es.stored - before < events) throw new Error(`the simplest indexer stored ${es.stored - before} of ${events}`);
  return row(bench, 'simplest correct indexer (amqplib + http _bulk)', events, seconds, r.peakRss);
}
