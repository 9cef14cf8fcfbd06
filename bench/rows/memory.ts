/** The memory rows (ship a 1 GB file, index a 1M-message backlog) and the latency row. */
import fs from 'node:fs';
import path from 'node:path';
import { startLeanDouble } from '../../test/helpers/es.js';
import { sleep, waitFor } from '../../test/helpers/wait.js';
import { BIN, bootstrap, corpusLine, names, row, run, settle, writeCorpus } from '../lib.js';
import { SCALE, record, scaled } from '../report.js';
import { TMP, cappedTopology, drop, fill, indexRun } from '../steps.js';

export async function benchMemory(): Promise<void> {
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
  const es = await startLeanDouble();
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

export async function benchLatency(): Promise<void> {
  const seconds = Math.max(5, Math.round(20 * SCALE));
  const rate = 1000;
  const n = names('latency');
  const es = await startLeanDouble();
  const latencies: number[] = [];
  es.onDocument = (src, at) => {
    const m = /sent=(\d+)/.exec(String(src.message));
    if (m) latencies.push(at - Number(m[1]));
  };
  try {
    await bootstrap(n.env);
    const idx = run(BIN, ['index', '--metrics-port', '0'], { ...n.env, LOGSHIP_ES_NODE: es.url });
    const ship = run(BIN, ['ship'], n.env, 'pipe');
    await sleep(1000);
    const total = seconds * rate;
    const started = Date.now();
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      ship.child.stdin?.write(`${corpusLine(i)} sent=${Date.now()}\n`);
    }
    await waitFor('every event indexed', () => latencies.length >= total, 60_000, 50);
    ship.child.stdin?.end();
    await ship.done;
    idx.child.kill('SIGTERM');
    const r = await idx.done;
    latencies.sort((a, b) => a - b);
    const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
    const lr = row('6 latency at 1k events/s', `read -> indexed p50 ${p(0.5)} ms, p99 ${p(0.99)} ms`, total, seconds, r.peakRss);
    record(lr, { text: 'p99 <= 1000 ms', pass: p(0.99) <= 1000 }, `p50=${p(0.5)}ms p99=${p(0.99)}ms max=${latencies[latencies.length - 1]}ms`);
  } finally {
    await es.stop();
    await drop(n);
  }
}
