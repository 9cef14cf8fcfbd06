/**
 * `npm run bench`: each benchmark runs its baseline and logship one after the
 * other, on the same broker and the same generated lines, and prints a row:
 * events, seconds, events/s, ratio to baseline, peak RSS. The table goes to
 * stdout and bench/results.json. BENCH_SCALE=0.1 makes a quick run;
 * `npm run bench -- ship-batched latency` runs only those.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EsDouble } from '../test/helpers/es-double.js';
import {
  AMQP_URL,
  BIN,
  ROOT,
  bootstrap,
  corpusLine,
  depth,
  drop,
  names,
  startInflatingProxy,
  row,
  run,
  settle,
  table,
  until,
  withChannel,
  writeCorpus,
  type Names,
  type Row,
} from './lib.js';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const scaled = (n: number) => Math.max(1000, Math.round(n * SCALE));
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'logship-bench-'));
const rows: Row[] = [];

function record(r: Row, target?: { text: string; pass: boolean }, note?: string): Row {
  if (target) {
    r.target = target.text;
    r.pass = target.pass;
  }
  if (note) r.note = note;
  rows.push(r);
  process.stdout.write(`${table([r]).split('\n').pop()}\n`);
  if (note) process.stdout.write(`    note: ${note}\n`);
  return r;
}

/**
 * A bench topology whose queue keeps only the newest messages, so broker
 * memory stays flat; it is created afresh before each run so that every run
 * meets the same broker state.
 */
async function cappedTopology(tag: string, n: Names = names(tag)): Promise<Names> {
  await withChannel(async (ch) => {
    await ch.deleteQueue(n.queue).catch(() => undefined);
  });
  await withChannel(async (ch) => {
    await ch.assertExchange(n.exchange, 'direct', { durable: true });
    await ch.assertQueue(n.queue, { durable: true, arguments: { 'x-max-length': 20_000 } });
    await ch.bindQueue(n.queue, n.exchange, 'logs');
  });
  await settle();
  return n;
}

async function shipRun(n: Names, file: string, events: number, extra: string[]): Promise<{ seconds: number; peakRss: number }> {
  const started = process.hrtime.bigint();
  const c = run(BIN, ['ship', ...extra], { ...n.env, LOGSHIP_MAX_INFLIGHT: '1000' }, file);
  const r = await c.done;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.code !== 0 || !c.stderr().includes(`published ${events},`)) throw new Error(`ship failed: ${c.stderr()}`);
  return { seconds, peakRss: r.peakRss };
}

type PropertySet = 'bare' | 'previous' | string;

/**
 * Both sides are timed the same way: from spawning the process to its exit.
 * `props`: 'bare' is the ship baseline (persistent, mandatory, content_type,
 * message_id: wire format v1); 'previous' adds timestamp, app_id and
 * content_encoding (the wire format before v1); other values are passed to
 * baseline-publish.mjs as flags (--with=..., --no-mandatory).
 */
async function baselinePublish(n: Names, file: string, events: number, props: PropertySet, bench = '1 ship, 1 event/message'): Promise<Row> {
  const started = process.hrtime.bigint();
  const flags = props === 'bare' ? [] : props === 'previous' ? ['--previous'] : props.split(' ');
  const args = [path.join(ROOT, 'bench/baseline-publish.mjs'), AMQP_URL, n.exchange, 'logs', ...flags];
  const c = run(process.execPath, args, {}, file);
  const r = await c.done;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.code !== 0) throw new Error(`baseline failed: ${c.stderr()}`);
  const out = JSON.parse(c.stdout()) as { events: number; seconds: number };
  if (out.events !== events) throw new Error(`baseline published ${out.events} of ${events}`);
  const variant =
    props === 'bare'
      ? 'raw amqplib, bare confirmed publish'
      : props === 'previous'
        ? 'raw amqplib, + timestamp, app_id, content_encoding'
        : `raw amqplib ${props}`;
  return row(bench, variant, events, seconds, r.peakRss);
}

/**
 * The ratio is taken against raw amqplib doing the bare confirmed publish of
 * the same events (persistent, mandatory, content_type, message_id): what the
 * wire format v1 asks of the broker, and nothing logship could leave out.
 */
async function benchShipSingle(): Promise<void> {
  const events = scaled(200_000);
  const file = path.join(TMP, 'ship1.log');
  writeCorpus(file, events);
  const n = await cappedTopology('ship1');
  try {
    const base = record(await baselinePublish(n, file, events, 'bare'));
    await cappedTopology('ship1', n);
    const s = await shipRun(n, file, events, []);
    const r = row('1 ship, 1 event/message', 'logship ship', events, s.seconds, s.peakRss, base);
    record(r, { text: 'ratio >= 0.95', pass: (r.ratio ?? 0) >= 0.95 });
  } finally {
    await drop(n);
  }
}

/**
 * What each message property costs the broker: the raw publisher with one
 * property added at a time, in alternating rounds (BENCH_ROUNDS, default 2),
 * so that the noise of a shared machine spreads over all of them.
 */
async function benchShipProperties(): Promise<void> {
  const events = scaled(100_000);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
  const file = path.join(TMP, 'props.log');
  writeCorpus(file, events);
  const sets = ['--no-mandatory', 'bare', '--with=content_encoding', '--with=timestamp', '--with=app_id', 'previous'];
  const n = await cappedTopology('props');
  const rates = new Map<string, number[]>(sets.map((x) => [x, []]));
  try {
    for (let i = 0; i < rounds; i++) {
      for (const props of sets) {
        await cappedTopology('props', n);
        const r = await baselinePublish(n, file, events, props, `0 properties, round ${i + 1}`);
        rates.get(props)!.push(r.eventsPerSecond);
        record(r);
      }
    }
  } finally {
    await drop(n);
  }
  for (const [props, list] of rates) process.stdout.write(`    ${props}: ${list.join(' / ')} msg/s\n`);
}
async function benchShipBatched(): Promise<void> {
  const events = scaled(1_000_000);
  const file = path.join(TMP, 'ship100.log');
  writeCorpus(file, events);
  const n = await cappedTopology('ship100');
  try {
    const s = await shipRun(n, file, events, ['--events-per-message', '100']);
    const r = row('2 ship, 100 events/message', 'logship ship', events, s.seconds, s.peakRss);
    record(r, { text: '>= 300k events/s', pass: r.eventsPerSecond >= 300_000 });
  } finally {
    await drop(n);
  }
}

async function startDouble(): Promise<EsDouble> {
  const es = new EsDouble();
  // stands in for a cluster on other machines: ids are checked, sources not parsed here
  es.keepSources = false;
  es.parseSources = false;
  es.keepBulkRecords = false;
  await es.start();
  return es;
}

async function fill(n: Names, events: number, perMessage: number): Promise<void> {
  const file = path.join(TMP, `fill-${events}.log`);
  if (!fs.existsSync(file)) writeCorpus(file, events);
  const c = run(BIN, ['ship', '--events-per-message', String(perMessage)], n.env, file);
  const r = await c.done;
  if (r.code !== 0) throw new Error(`fill failed: ${c.stderr()}`);
  const expected = Math.ceil(events / perMessage);
  await until(
    async () => `a backlog of ${expected} messages (queue has ${await depth(n.queue)}; ship said ${c.stderr().trim()})`,
    async () => (await depth(n.queue)) >= expected,
    60_000,
  );
}

/** Runs `count` indexers on the backlog until Elasticsearch has `events` documents. */
async function indexRun(n: Names, es: EsDouble, events: number, count = 1, extra: string[] = [], esUrl = es.url) {
  await settle();
  const before = es.stored;
  const started = process.hrtime.bigint();
  const children = Array.from({ length: count }, () => run(BIN, ['index', '--metrics-port', '0', ...extra], { ...n.env, LOGSHIP_ES_NODE: esUrl }));
  await until(`${events} documents`, () => es.stored - before >= events, 900_000, 20);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  for (const c of children) c.child.kill('SIGTERM');
  const results = await Promise.all(children.map((c) => c.done));
  const cpuSeconds = results.reduce((sum, r) => sum + r.cpuSeconds, 0);
  return { seconds, peakRss: Math.max(...results.map((r) => r.peakRss)), cpuSeconds };
}

/**
 * The simplest correct indexer (bench/baseline-index.mjs) on the backlog,
 * timed from spawn to its exit, which follows the ack of its last event
 * (so at least to the last document stored, like logship's runs).
 */
async function simplestIndexerRun(n: Names, es: EsDouble, events: number, bench: string): Promise<Row> {
  await settle();
  const before = es.stored;
  const prefix = n.env.LOGSHIP_INDEX!.replace('-%{+yyyy.MM.dd}', '');
  const started = process.hrtime.bigint();
  const args = [path.join(ROOT, 'bench/baseline-index.mjs'), AMQP_URL, n.queue, String(events), es.url, prefix];
  const c = run(process.execPath, args, {});
  const r = await c.done;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.code !== 0) throw new Error(`the simplest indexer failed: ${c.stderr()}`);
  if (es.stored - before < events) throw new Error(`the simplest indexer stored ${es.stored - before} of ${events}`);
  return row(bench, 'simplest correct indexer (amqplib + http _bulk)', events, seconds, r.peakRss);
}

/**
 * Raw consume+ack (what the broker can hand out), the simplest correct
 * indexer and logship, on the same backlog; logship's ratio is taken against
 * the simplest indexer. With latencyMs, the double answers every request
 * that much later (a remote cluster).
 */
async function benchIndexSingle(latencyMs = 0): Promise<void> {
  const events = scaled(200_000);
  const n = names('index1');
  const es = await startDouble();
  es.faults.latencyMs = latencyMs;
  const bench = `3 index, 1 event/message, ES +${latencyMs} ms`;
  try {
    await bootstrap(n.env);
    await fill(n, events, 1);
    await settle();
    const started = process.hrtime.bigint();
    const c = run(process.execPath, [path.join(ROOT, 'bench/baseline-consume.mjs'), AMQP_URL, n.queue, String(events)], {});
    const r = await c.done;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const out = JSON.parse(c.stdout()) as { events: number; seconds: number };
    const raw = record(row(bench, 'raw amqplib consume+ack', out.events, seconds, r.peakRss));
    await fill(n, events, 1);
    const simplest = await simplestIndexerRun(n, es, events, bench);
    const base = record(simplest, undefined, `ratio to raw consume+ack: ${ratioOf(simplest, raw)}`);
    await fill(n, events, 1);
    const s = await indexRun(n, es, events);
    const lr = row(bench, 'logship index -> ES double', events, s.seconds, s.peakRss, base);
    // the ratio column is to the simplest correct indexer (one bulk in flight): several in flight must beat it most when Elasticsearch is far
    const want = latencyMs === 0 ? 1 : 2;
    record(lr, { text: `ratio >= ${want.toFixed(1)}`, pass: (lr.ratio ?? 0) >= want }, `ratio to raw consume+ack: ${ratioOf(lr, raw)}`);
  } finally {
    await es.stop();
    await drop(n);
  }
}

function ratioOf(r: Row, of: Row): number {
  return Math.round((r.eventsPerSecond / of.eventsPerSecond) * 100) / 100;
}

async function benchIndexBatched(): Promise<void> {
  const events = scaled(1_000_000);
  const n = names('index100');
  const es = await startDouble();
  const bench = '4 index, 100 events/message';
  try {
    await bootstrap(n.env);
    await fill(n, events, 100);
    const base = record(await simplestIndexerRun(n, es, events, bench));
    await fill(n, events, 100);
    // default settings: the prefetch window follows the size of the messages
    const s = await indexRun(n, es, events);
    const r = row(bench, 'logship index -> ES double', events, s.seconds, s.peakRss, base);
    record(r, { text: '>= 150k events/s, peak RSS <= 200 MB', pass: r.eventsPerSecond >= 150_000 && r.peakRssMb <= 200 });
  } finally {
    await es.stop();
    await drop(n);
  }
}

/**
 * --es-compression: the indexer's CPU time and the bytes it sends, with and
 * without gzip, for 1 and 100 events per message. Requests pass through a
 * proxy that counts their bytes as sent and inflates gzip bodies for the
 * double (which reads plain bodies only), in both runs alike.
 */
async function benchCompression(): Promise<void> {
  const events = scaled(200_000);
  for (const perMessage of [1, 100]) {
    const n = names(`gzip${perMessage}`);
    const es = await startDouble();
    const proxy = await startInflatingProxy(es.url);
    try {
      await bootstrap(n.env);
      for (const gzip of [false, true]) {
        await fill(n, events, perMessage);
        proxy.bytes = 0;
        const s = await indexRun(n, es, events, 1, [`--es-compression=${gzip}`], proxy.url);
        const r = row(`8 compression, ${perMessage} event(s)/message`, `logship index, --es-compression=${gzip}`, events, s.seconds, s.peakRss);
        record(
          r,
          undefined,
          `${s.cpuSeconds.toFixed(2)} CPU-s (${Math.round(events / s.cpuSeconds)} events per CPU-s), ${(proxy.bytes / 1048576).toFixed(1)} MiB sent (${Math.round(proxy.bytes / events)} bytes/event)`,
        );
      }
    } finally {
      await proxy.stop();
      await es.stop();
      await drop(n);
    }
  }
}

async function benchMemory(): Promise<void> {
  // ship a 1 GB file
  const bytesTarget = Math.round(1024 ** 3 * SCALE);
  const lineBytes = corpusLine(0).length + 1;
  const events = Math.round(bytesTarget / lineBytes);
  const file = path.join(TMP, 'big.log');
  const bytes = writeCorpus(file, events);
  const n = await cappedTopology('mem');
  const state = path.join(TMP, 'state');
  try {
    await settle();
    const started = process.hrtime.bigint();
    const c = run(BIN, ['ship', file, '--events-per-message', '100'], { ...n.env, LOGSHIP_STATE_DIR: state });
    const r = await c.done;
    if (r.code !== 0) throw new Error(`ship of the big file failed: ${c.stderr()}`);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const sr = row('5 memory: ship a file', `logship ship ${(bytes / 1024 ** 3).toFixed(2)} GB file`, events, seconds, r.peakRss);
    record(sr, { text: 'peak RSS <= 120 MB', pass: sr.peakRssMb <= 120 });
  } finally {
    fs.rmSync(file, { force: true });
    await drop(n);
  }
  // index with a 1M-message backlog
  const backlog = scaled(1_000_000);
  const m = names('backlog');
  const es = await startDouble();
  try {
    await bootstrap(m.env);
    await fill(m, backlog, 1);
    const s = await indexRun(m, es, backlog);
    const ir = row('5 memory: index a backlog', `logship index, ${backlog} messages queued`, backlog, s.seconds, s.peakRss);
    record(ir, { text: 'peak RSS <= 200 MB', pass: ir.peakRssMb <= 200 });
  } finally {
    await es.stop();
    await drop(m);
  }
}

async function benchLatency(): Promise<void> {
  const seconds = Math.max(5, Math.round(20 * SCALE));
  const rate = 1000;
  const n = names('latency');
  const es = await startDouble();
  const latencies: number[] = [];
  es.onDocument = (src, at) => {
    const m = /sent=(\d+)/.exec(String(src.message));
    if (m) latencies.push(at - Number(m[1]));
  };
  try {
    await bootstrap(n.env);
    const idx = run(BIN, ['index', '--metrics-port', '0'], { ...n.env, LOGSHIP_ES_NODE: es.url });
    const ship = run(BIN, ['ship'], n.env, 'pipe');
    await new Promise((r) => setTimeout(r, 1000));
    const total = seconds * rate;
    const started = Date.now();
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      ship.child.stdin?.write(`${corpusLine(i)} sent=${Date.now()}\n`);
    }
    await until('every event indexed', () => latencies.length >= total, 60_000);
    ship.child.stdin?.end();
    await ship.done;
    idx.child.kill('SIGTERM');
    const r = await idx.done;
    latencies.sort((a, b) => a - b);
    const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
    const lr = row('6 latency at 1k events/s', `read -> indexed p50 ${p(0.5)} ms, p99 ${p(0.99)} ms`, total, seconds, r.peakRss);
    record(lr, { text: 'p99 <= 1500 ms', pass: p(0.99) <= 1500 }, `p50=${p(0.5)}ms p99=${p(0.99)}ms max=${latencies[latencies.length - 1]}ms`);
  } finally {
    await es.stop();
    await drop(n);
  }
}

async function benchScaling(): Promise<void> {
  const events = scaled(200_000);
  let one: Row | undefined;
  for (const k of [1, 2, 4]) {
    const n = names(`scale${k}`);
    const es = await startDouble();
    try {
      await bootstrap(n.env);
      await fill(n, events, 1);
      const s = await indexRun(n, es, events, k);
      const r = row('7 scaling', `${k} indexer(s), ${Math.round(events / s.seconds / k)} events/s each`, events, s.seconds, s.peakRss, one);
      one ??= r;
      // what the workers would do with a core each: events per CPU-second of the indexers, times k
      const perCore = Math.round(events / s.cpuSeconds);
      record(
        r,
        undefined,
        `indexers used ${s.cpuSeconds.toFixed(1)} CPU-s: ${perCore} events per CPU-second, so with a core each about ${k * perCore} events/s until RabbitMQ or Elasticsearch is the limit`,
      );
    } finally {
      await es.stop();
      await drop(n);
    }
  }
}

const BENCHES: Record<string, () => Promise<void>> = {
  'ship-single': benchShipSingle,
  'ship-batched': benchShipBatched,
  'ship-properties': benchShipProperties,
  'index-single': () => benchIndexSingle(0),
  'index-single-30ms': () => benchIndexSingle(30),
  'index-batched': benchIndexBatched,
  compression: benchCompression,
  memory: benchMemory,
  latency: benchLatency,
  scaling: benchScaling,
};

/** run only when named: measurements for a decision, not part of the table */
const ON_REQUEST = new Set(['ship-properties', 'compression']);
const wanted = process.argv.slice(2);
for (const w of wanted) if (!(w in BENCHES)) throw new Error(`unknown benchmark ${w}; choose from ${Object.keys(BENCHES).join(', ')}`);
process.stdout.write(
  `logship benchmarks (scale ${SCALE}) on ${os.cpus().length} cores, ${Math.round(os.totalmem() / 1024 ** 3)} GiB, node ${process.version}\n`,
);
process.stdout.write(`${table([]).split('\n').slice(0, 2).join('\n')}\n`);
try {
  for (const [name, bench] of Object.entries(BENCHES)) {
    if (wanted.length > 0 ? !wanted.includes(name) : ON_REQUEST.has(name)) continue;
    await bench();
  }
} finally {
  fs.rmSync(TMP, { recursive: true, force: true });
}
process.stdout.write(`\n${table(rows)}\n`);
for (const r of rows) if (r.note) process.stdout.write(`${r.benchmark}, ${r.variant}: ${r.note}\n`);
const file = path.join(ROOT, 'bench', 'results.json');
fs.writeFileSync(file, `${JSON.stringify({ at: new Date().toISOString(), scale: SCALE, cpus: os.cpus().length, node: process.version, rows }, null, 2)}\n`);
process.stdout.write(`results written to ${path.relative(ROOT, file)}\n`);
