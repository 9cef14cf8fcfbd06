/**
 * Steps the rows of bench/run.ts share: topologies, filling a backlog, and the
 * timed runs of logship and of the baselines. Every side is timed the same
 * way, as a whole process: from spawning it to its exit, or to the last
 * document stored.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deleteTopology, queueDepth, withChannel } from '../test/helpers/amqp.js';
import type { EsDouble } from '../test/helpers/es-double.js';
import { waitFor } from '../test/helpers/wait.js';
import { AMQP_URL, BIN, ROOT, names, row, run, secondsToStored, settle, timeSimplestIndexer, writeCorpus, type Names, type Row } from './lib.js';

/** the corpus files of this run; bench/run.ts removes it at the end */
export const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'logship-bench-'));

export async function depth(queue: string): Promise<number> {
  return (await queueDepth(queue, AMQP_URL)).messageCount;
}

/** Deletes a run's queues and exchanges; never throws (it runs in `finally`). */
export async function drop(n: Names): Promise<void> {
  await deleteTopology(n, AMQP_URL).catch(() => undefined);
}

/**
 * A bench topology whose queue keeps only the newest messages, so broker
 * memory stays flat; it is created afresh before each run so that every run
 * meets the same broker state.
 */
export async function cappedTopology(tag: string, n: Names = names(tag)): Promise<Names> {
  await withChannel(async (ch) => {
    await ch.deleteQueue(n.queue).catch(() => undefined);
  }, AMQP_URL);
  await withChannel(async (ch) => {
    await ch.assertExchange(n.exchange, 'direct', { durable: true });
    await ch.assertQueue(n.queue, { durable: true, arguments: { 'x-max-length': 20_000 } });
    await ch.bindQueue(n.queue, n.exchange, 'logs');
  }, AMQP_URL);
  await settle();
  return n;
}

export async function shipRun(n: Names, file: string, events: number, extra: string[]): Promise<{ seconds: number; peakRss: number }> {
  const started = process.hrtime.bigint();
  const c = run(BIN, ['ship', ...extra], { ...n.env, LOGSHIP_MAX_INFLIGHT: '1000' }, file);
  const r = await c.done;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.code !== 0 || !c.stderr().includes(`published ${events},`)) throw new Error(`ship failed: ${c.stderr()}`);
  return { seconds, peakRss: r.peakRss };
}

export type PropertySet = 'bare' | 'previous' | string;

/**
 * Both sides are timed the same way: from spawning the process to its exit.
 * `props`: 'bare' is the ship baseline (persistent, mandatory, content_type,
 * message_id: wire format v1); 'previous' adds timestamp, app_id and
 * content_encoding (the wire format before v1); other values are passed to
 * baseline-publish.mjs as flags (--with=..., --no-mandatory).
 */
export async function baselinePublish(n: Names, file: string, events: number, props: PropertySet, bench = '1 ship, 1 event/message'): Promise<Row> {
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
 * Ships `events` corpus lines, `perMessage` to a message, into an empty
 * queue and waits for the backlog (not timed). A message left by an earlier
 * run would be the next run's to take (already stored, or not its events):
 * that is an error of the bench, not a backlog.
 */
export async function fill(n: Names, events: number, perMessage: number): Promise<void> {
  const left = await depth(n.queue);
  if (left !== 0) throw new Error(`queue ${n.queue} still holds ${left} messages from an earlier run: every run must start on its own backlog`);
  const file = path.join(TMP, `fill-${events}.log`);
  if (!fs.existsSync(file)) writeCorpus(file, events);
  const c = run(BIN, ['ship', '--events-per-message', String(perMessage)], n.env, file);
  const r = await c.done;
  if (r.code !== 0) throw new Error(`fill failed: ${c.stderr()}`);
  const expected = Math.ceil(events / perMessage);
  await waitFor(`a backlog of ${expected} messages`, async () => (await depth(n.queue)) >= expected, 60_000, 50).catch(async (err: Error) => {
    throw new Error(`${err.message} (queue has ${await depth(n.queue).catch(() => '?')}; ship said ${c.stderr().trim()})`);
  });
}

/**
 * BENCH_INDEX_ARGS: options added to every `logship index` of the index rows
 * (e.g. "--prefetch 3000"), to measure a setting other than the defaults.
 * Rows run with it are not the defaults' figures: say so beside them.
 */
const EXTRA_INDEX_ARGS = (process.env.BENCH_INDEX_ARGS ?? '').split(' ').filter(Boolean);

/**
 * Runs `count` indexers on the backlog until Elasticsearch has `events`
 * documents (an indexer that exits before that fails the run at once).
 */
export async function indexRun(n: Names, es: EsDouble, events: number, count = 1, extraArgs: string[] = [], esUrl = es.url) {
  const extra = [...extraArgs, ...EXTRA_INDEX_ARGS];
  await settle();
  const before = es.stored;
  const started = process.hrtime.bigint();
  const children = Array.from({ length: count }, () => run(BIN, ['index', '--metrics-port', '0', ...extra], { ...n.env, LOGSHIP_ES_NODE: esUrl }));
  const seconds = await secondsToStored(es, before, events, started, Promise.race(children.map((c) => c.done)));
  for (const c of children) c.child.kill('SIGTERM');
  const results = await Promise.all(children.map((c) => c.done));
  if (es.stored - before < events) {
    throw new Error(
      `logship index stopped after ${es.stored - before} of ${events} documents: ${children.map((c) => `${c.stderr()}${c.stdout()}`.slice(-2000)).join('\n')}`,
    );
  }
  const cpuSeconds = results.reduce((sum, r) => sum + r.cpuSeconds, 0);
  return { seconds, peakRss: Math.max(...results.map((r) => r.peakRss)), cpuSeconds };
}

/** The simplest correct indexer on the backlog (bench/lib.ts), once the host has settled. */
export async function simplestIndexerRun(n: Names, es: EsDouble, events: number, bench: string): Promise<Row> {
  await settle();
  return timeSimplestIndexer(n, es, events, bench);
}
