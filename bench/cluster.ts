/**
 * `npm run bench:cluster`: ship and index on a private three-node RabbitMQ
 * cluster with quorum queues, side by side with raw amqplib on the same
 * cluster, plus the single-queue ceilings the scaling docs quote (classic and
 * quorum queue, 1 and 100 events per message). Each side is a whole process,
 * timed from spawn to exit (ship) or to the last document stored (index).
 *
 * The baselines and logship publish through the same node (node 1 holds the
 * queue's leader: bootstrap declares through it); a row through another node
 * shows what forwarding to the leader costs. BENCH_SCALE=0.1 makes a quick run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deleteTopology, queueDepth } from '../test/helpers/amqp.js';
import type { EsDouble } from '../test/helpers/es-double.js';
import { startLeanDouble } from '../test/helpers/es.js';
import { PrivateCluster } from '../test/helpers/rabbit-cluster.js';
import { waitFor } from '../test/helpers/wait.js';
import { BIN, ROOT, bootstrap, names, row, run, secondsToStored, timeSimplestIndexer, writeCorpus, type Names, type Row } from './lib.js';
import { SCALE, finish, printTableHead, record, scaled } from './report.js';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'logship-bench-cluster-'));

async function rawPublish(url: string, n: Names, file: string, events: number, bench: string): Promise<Row> {
  const started = process.hrtime.bigint();
  const c = run(process.execPath, [path.join(ROOT, 'bench/baseline-publish.mjs'), url, n.exchange, 'logs'], {}, file);
  const r = await c.done;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.code !== 0) throw new Error(`baseline failed: ${c.stderr()}`);
  return row(bench, 'raw amqplib, bare confirmed publish (window 1000)', events, seconds, r.peakRss);
}

async function ship(url: string, n: Names, file: string, events: number, extra: string[] = []) {
  const started = process.hrtime.bigint();
  const c = run(BIN, ['ship', ...extra], { ...n.env, LOGSHIP_AMQP_URL: url }, file);
  const r = await c.done;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.code !== 0 || !c.stderr().includes(`published ${events},`)) throw new Error(`ship failed: ${c.stderr()}`);
  return { seconds, peakRss: r.peakRss };
}

async function index(url: string, n: Names, es: EsDouble, events: number) {
  const before = es.stored;
  const started = process.hrtime.bigint();
  const c = run(BIN, ['index', '--metrics-port', '0'], { ...n.env, LOGSHIP_AMQP_URL: url, LOGSHIP_ES_NODE: es.url });
  const seconds = await secondsToStored(es, before, events, started, c.done);
  c.child.kill('SIGTERM');
  const r = await c.done;
  if (es.stored - before < events) throw new Error(`logship index stopped after ${es.stored - before} of ${events} documents: ${c.stderr().slice(-2000)}`);
  return { seconds, peakRss: r.peakRss };
}

const cluster = new PrivateCluster();
let double: EsDouble | undefined;
process.stdout.write(`logship cluster benchmarks (scale ${SCALE}) on ${os.cpus().length} cores, node ${process.version}\n`);
try {
  await cluster.start();
  // stands in for a cluster on other machines: ids are checked, sources not parsed here
  const es = await startLeanDouble();
  double = es;
  process.stdout.write(`three-node cluster started in ${(cluster.startMs / 1000).toFixed(1)} s\n`);
  printTableHead();
  const [leaderUrl, otherUrl] = cluster.urls as [string, string];
  const events = scaled(100_000);
  const file = path.join(TMP, 'corpus.log');
  writeCorpus(file, events);

  for (const queueType of ['quorum', 'classic'] as const) {
    // ship, 1 event/message: raw publish and logship through the node holding the leader
    const bench = `ship to a 3-node cluster, ${queueType} queue`;
    const n = names(`cl-${queueType}`);
    await bootstrap({ ...n.env, LOGSHIP_AMQP_URL: leaderUrl }, ['--queue-type', queueType]);
    const base = record(await rawPublish(leaderUrl, n, file, events, bench));
    const s = await ship(leaderUrl, n, file, events);
    const shipped = row(bench, 'logship ship (same node)', events, s.seconds, s.peakRss, base);
    record(shipped, queueType === 'quorum' ? { text: 'ratio >= 0.9', pass: (shipped.ratio ?? 0) >= 0.9 } : undefined);
    const other = await ship(otherUrl, n, file, events);
    record(row(bench, 'logship ship (through a follower node)', events, other.seconds, other.peakRss, base));
    const b100 = await ship(leaderUrl, n, file, events, ['--events-per-message', '100']);
    record(row(bench, 'logship ship --events-per-message 100', events, b100.seconds, b100.peakRss));

    // index the backlog: 3 x events at 1 event/message, then events at 100/message
    const ib = `index from a 3-node cluster, ${queueType} queue`;
    const storedAtStart = es.stored;
    const total = 4 * events;
    const backlog = 3 * events + Math.ceil(events / 100);
    await waitFor('the backlog', async () => (await queueDepth(n.queue, leaderUrl)).messageCount >= backlog, 120_000, 200);
    const simple = record(await timeSimplestIndexer(n, es, events, ib, leaderUrl));
    const ix = await index(leaderUrl, n, es, events);
    record(row(ib, 'logship index (defaults)', events, ix.seconds, ix.peakRss, simple));
    // the rest of the backlog (an indexer stopped with SIGTERM settles what it holds first, so count what is left)
    const rest = total - (es.stored - storedAtStart);
    const ix100 = await index(cluster.urlList, n, es, rest);
    record(row(ib, 'logship index (node list; the rest of the backlog, 1 and 100 events/message)', rest, ix100.seconds, ix100.peakRss));
    await deleteTopology(n, leaderUrl);
  }
} finally {
  await double?.stop().catch(() => undefined);
  await cluster.destroy();
  fs.rmSync(TMP, { recursive: true, force: true });
}
finish('results-cluster.json');
