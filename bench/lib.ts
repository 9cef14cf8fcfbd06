/** Benchmark helpers: corpus, child processes with peak RSS, queues, the results table. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import type amqp from 'amqplib';
import { withChannel as withTestChannel } from '../test/helpers/amqp.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = path.join(ROOT, 'node_modules/.bin/logship');
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

export interface Names {
  exchange: string;
  queue: string;
  deadLetterExchange: string;
  deadLetterQueue: string;
  env: Record<string, string>;
}

export function names(tag: string): Names {
  const id = `bench-${tag}-${randomBytes(4).toString('hex')}`;
  const n = { exchange: `${id}.logs`, queue: `${id}.indexer`, deadLetterExchange: `${id}.dlx`, deadLetterQueue: `${id}.dead` };
  return {
    ...n,
    env: {
      LOGSHIP_AMQP_URL: AMQP_URL,
      LOGSHIP_EXCHANGE: n.exchange,
      LOGSHIP_QUEUE: n.queue,
      LOGSHIP_DEAD_LETTER_EXCHANGE: n.deadLetterExchange,
      LOGSHIP_DEAD_LETTER_QUEUE: n.deadLetterQueue,
      LOGSHIP_INDEX: `${id}-%{+yyyy.MM.dd}`,
      LOGSHIP_LOG_LEVEL: 'warn',
    },
  };
}

export function withChannel<T>(fn: (ch: amqp.Channel) => Promise<T>): Promise<T> {
  return withTestChannel(fn, AMQP_URL);
}

export async function depth(queue: string): Promise<number> {
  return withChannel(async (ch) => (await ch.checkQueue(queue)).messageCount);
}

export async function purge(queue: string): Promise<void> {
  await withChannel((ch) => ch.purgeQueue(queue));
}

export async function drop(n: Names): Promise<void> {
  await withChannel(async (ch) => {
    for (const q of [n.queue, n.deadLetterQueue]) await ch.deleteQueue(q).catch(() => undefined);
    for (const x of [n.exchange, n.deadLetterExchange]) await ch.deleteExchange(x).catch(() => undefined);
  }).catch(() => undefined);
}

export interface Child {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** resolves with exit code, the peak RSS seen (VmHWM) and the CPU time last seen (user + system) */
  done: Promise<{ code: number | null; peakRss: number; cpuSeconds: number }>;
}

/** Spawns a process, feeding stdin from a file, a pipe ('pipe') or nothing, tracking its peak RSS. */
export function run(cmd: string, args: string[], env: Record<string, string>, stdin?: string): Child {
  const child = spawn(cmd, args, {
    env: { ...process.env, ...env },
    stdio: [stdin === 'pipe' ? 'pipe' : stdin ? fs.openSync(stdin, 'r') : 'ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  let peak = 0;
  let cpuSeconds = 0;
  const timer = setInterval(() => {
    try {
      const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
      peak = Math.max(peak, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024);
      // utime and stime, in clock ticks (100 per second on Linux)
      const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      cpuSeconds = (Number(stat[11]) + Number(stat[12])) / 100;
    } catch {
      /* exited */
    }
  }, 50);
  const done = new Promise<{ code: number | null; peakRss: number; cpuSeconds: number }>((resolve) => {
    child.on('close', (code) => {
      clearInterval(timer);
      resolve({ code, peakRss: peak, cpuSeconds });
    });
  });
  return { child, stdout: () => out, stderr: () => err, done };
}

export async function bootstrap(env: Record<string, string>): Promise<void> {
  const c = run(BIN, ['bootstrap', '--skip-elasticsearch'], env);
  const r = await c.done;
  if (r.code !== 0) throw new Error(`bootstrap failed: ${c.stderr()}`);
}

export async function until(
  what: string | (() => Promise<string> | string),
  fn: () => Promise<boolean> | boolean,
  timeoutMs = 600_000,
  everyMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : await what()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
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
    await new Promise((r) => setTimeout(r, 250));
    const now = cpuTimes()!;
    const total = now.total - prev.total;
    quiet = total > 0 && (now.idle - prev.idle) / total >= 0.85 ? quiet + 1 : 0;
    prev = now;
  }
}

export interface InflatingProxy {
  url: string;
  /** request body bytes received, as sent by the client (compressed or not) */
  bytes: number;
  stop(): Promise<void>;
}

/**
 * An HTTP proxy in front of the double: counts the request bytes as sent and
 * inflates `content-encoding: gzip` bodies, which the double does not read.
 */
export async function startInflatingProxy(target: string): Promise<InflatingProxy> {
  const to = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const proxy: InflatingProxy = { url: '', bytes: 0, stop: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      proxy.bytes += c.length;
      chunks.push(c);
    });
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
      const headers = { ...req.headers, host: to.host, 'content-length': String(body.length) };
      delete headers['content-encoding'];
      const out = http.request({ hostname: to.hostname, port: to.port, path: req.url, method: req.method, headers, agent }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      out.on('error', () => res.destroy());
      out.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address() as AddressInfo;
  proxy.url = `http://127.0.0.1:${address.port}`;
  proxy.stop = () =>
    new Promise<void>((r) => {
      agent.destroy();
      server.closeAllConnections();
      server.close(() => r());
    });
  return proxy;
}
