/** The index rows: 1 event/message (+0 and +30 ms), 100 events/message, --es-compression and scaling. */
import path from 'node:path';
import { startLeanDouble } from '../../test/helpers/es.js';
import { startInflatingProxy } from '../proxy.js';
import { AMQP_URL, ROOT, bootstrap, names, row, run, settle, type Row } from '../lib.js';
import { alternatingRounds, medianRun, ratioOf, record, roundsNote, roundsWanted, scaled } from '../report.js';
import { drop, fill, indexRun, simplestIndexerRun } from '../steps.js';

/**
 * The simplest correct indexer and logship (default settings) in
 * alternating rounds (BENCH_ROUNDS), each on a fresh backlog of `events`
 * events, `perMessage` per message.
 */
function indexRounds(n: ReturnType<typeof names>, es: Awaited<ReturnType<typeof startLeanDouble>>, events: number, perMessage: number, bench: string) {
  return alternatingRounds(
    roundsWanted(),
    async () => {
      await fill(n, events, perMessage);
      return simplestIndexerRun(n, es, events, bench);
    },
    async () => {
      await fill(n, events, perMessage);
      const s = await indexRun(n, es, events);
      return row(bench, 'logship index -> ES double', events, s.seconds, s.peakRss);
    },
  );
}

/**
 * Raw consume+ack (what the broker can hand out), then the simplest correct
 * indexer and logship in alternating rounds (BENCH_ROUNDS, default 5), each
 * on a fresh backlog of the same events; logship's ratio is taken against
 * the simplest indexer of its round, and the median round stands for the
 * row. With latencyMs, the double answers every request that much later (a
 * remote cluster).
 */
export async function benchIndexSingle(latencyMs = 0): Promise<void> {
  const events = scaled(200_000);
  const n = names('index1');
  const es = await startLeanDouble();
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
    const { median, rounds } = await indexRounds(n, es, events, 1, bench);
    record(median.base, undefined, `ratio to raw consume+ack: ${ratioOf(median.base, raw)}`);
    // the ratio column is to the simplest correct indexer (one bulk in flight): several in flight must beat it most when Elasticsearch is far
    const want = latencyMs === 0 ? 1 : 2;
    const lr = median.logship;
    record(lr, { text: `ratio >= ${want.toFixed(1)}`, pass: (lr.ratio ?? 0) >= want }, `${roundsNote(rounds)}; ratio to raw consume+ack: ${ratioOf(lr, raw)}`);
  } finally {
    await es.stop();
    await drop(n);
  }
}

/**
 * 100 events per message at default settings, against an absolute target:
 * the simplest indexer and logship in alternating rounds (BENCH_ROUNDS, as
 * the ratio rows), each on a fresh backlog. Each side's median rate stands
 * for it, with the highest peak RSS of any of its runs: one run of each
 * moved by 10 to 20 % with this shared host (docs/performance.md).
 */
export async function benchIndexBatched(): Promise<void> {
  const events = scaled(1_000_000);
  const n = names('index100');
  const es = await startLeanDouble();
  const bench = '4 index, 100 events/message';
  try {
    await bootstrap(n.env);
    // default settings: the prefetch window follows the size of the messages
    const { rounds } = await indexRounds(n, es, events, 100, bench);
    const base = record(medianRun(rounds.map((x) => x.base)));
    const r = medianRun(rounds.map((x) => x.logship));
    r.ratio = ratioOf(r, base);
    record(
      r,
      { text: '>= 150k events/s, peak RSS <= 200 MB', pass: r.eventsPerSecond >= 150_000 && r.peakRssMb <= 200 },
      `each side's median rate, and its highest peak RSS, over ${rounds.length} alternating rounds; by round, baseline / logship events/s: ${rounds.map((x) => `${x.base.eventsPerSecond} / ${x.logship.eventsPerSecond}`).join(', ')}`,
    );
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
export async function benchCompression(): Promise<void> {
  const events = scaled(200_000);
  for (const perMessage of [1, 100]) {
    const n = names(`gzip${perMessage}`);
    const es = await startLeanDouble();
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

export async function benchScaling(): Promise<void> {
  const events = scaled(200_000);
  let one: Row | undefined;
  for (const k of [1, 2, 4]) {
    const n = names(`scale${k}`);
    const es = await startLeanDouble();
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
