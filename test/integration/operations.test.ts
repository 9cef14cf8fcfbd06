/** Operations: metrics and health, status, the monitor, the generator. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { queueDepth } from '../helpers/amqp.js';
import { runCli } from '../helpers/cli.js';
import { bootstrap, metricValue, numberedLines, ship } from '../helpers/pipeline.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

const DESIGN_METRICS = {
  shipper: [
    'logship_shipper_events_read_total',
    'logship_shipper_events_published_total',
    'logship_shipper_events_unroutable_total',
    'logship_shipper_publish_errors_total',
    'logship_shipper_inflight_events',
  ],
  indexer: [
    'logship_indexer_events_in_total',
    'logship_indexer_events_indexed_total',
    'logship_indexer_events_duplicate_total',
    'logship_indexer_events_dead_lettered_total',
    'logship_indexer_bulk_retries_total',
    'logship_indexer_bulk_duration_seconds',
    'logship_indexer_batch_events',
  ],
  queue: ['logship_queue_messages_ready', 'logship_queue_consumers', 'logship_dead_letter_messages'],
};

async function text(url: string): Promise<string> {
  return (await fetch(url)).text();
}

describe('operations', () => {
  const pipe = usePipeline();
  const es = pipe.es;

  it('metric names of docs/DESIGN.md are present and move with traffic', async (t) => {
    const dir = pipe.tmpDir(t, 'metrics');
    const { env } = pipe.topology(t, 'metrics', { LOGSHIP_STATE_DIR: path.join(dir, 'state') });
    await bootstrap(env);
    const file = path.join(dir, 'app.log');
    fs.writeFileSync(file, numberedLines(120));
    const idx = await pipe.startIndexer(t, env, ['--batch-size', '50']);
    const shipper = await pipe.startServing(t, ['ship', '--follow', file, '--metrics-port', '0'], env);
    await waitFor('120 indexed', async () => (await metricValue(idx.url, 'logship_indexer_events_indexed_total')) === 120, 20_000);
    const shipMetrics = await text(`${shipper.url}/metrics`);
    const idxMetrics = await text(`${idx.url}/metrics`);
    for (const name of DESIGN_METRICS.shipper) assert.match(shipMetrics, new RegExp(`^# TYPE ${name} `, 'm'), name);
    for (const name of DESIGN_METRICS.indexer) assert.match(idxMetrics, new RegExp(`^# TYPE ${name} `, 'm'), name);
    assert.match(idxMetrics, /^process_resident_memory_bytes /m, 'default process metrics');
    assert.equal(await metricValue(shipper.url, 'logship_shipper_events_read_total'), 120);
    assert.equal(await metricValue(shipper.url, 'logship_shipper_events_published_total'), 120);
    assert.equal(await metricValue(shipper.url, 'logship_shipper_inflight_events'), 0);
    assert.equal(await metricValue(idx.url, 'logship_indexer_events_in_total'), 120);
    assert.ok((await metricValue(idx.url, 'logship_indexer_batch_events_count')) >= 3, 'batches observed');
    assert.ok((await metricValue(idx.url, 'logship_indexer_bulk_duration_seconds_count')) >= 3, 'bulk durations observed');
    fs.appendFileSync(file, numberedLines(30).replace(/line/g, 'more'));
    await waitFor('counters move', async () => (await metricValue(idx.url, 'logship_indexer_events_indexed_total')) === 150, 20_000);
    assert.equal(await metricValue(shipper.url, 'logship_shipper_events_published_total'), 150);
    const health = (await (await fetch(`${idx.url}/health`)).json()) as Record<string, Record<string, unknown>> & { status: string };
    assert.equal(health.status, 'ok');
    assert.equal(health.amqp!.connected, true);
    assert.equal(health.output!.reachable, true);
    assert.ok(health.output!.lastSuccessfulBulk);
    assert.equal(health.inflight!.unackedDeliveries, 0);
  });

  it('monitor with two indexers: instance labels, totals equal the sum, queue figures, up 0 after kill -9', async (t) => {
    const { n, env } = pipe.topology(t, 'monitor');
    await bootstrap(env);
    const a = await pipe.startIndexer(t, env, ['--prefetch', '50', '--batch-size', '50']);
    const b = await pipe.startIndexer(t, env, ['--prefetch', '50', '--batch-size', '50']);
    const mon = await pipe.startServing(
      t,
      ['monitor', '--targets', `${a.url},${b.url}`, '--port', '0', '--scrape-interval', '500ms', '--scrape-timeout', '2s'],
      env,
    );
    await waitFor('2 consumers', async () => (await queueDepth(n.queue)).consumerCount === 2);
    assert.equal((await ship(env, numberedLines(2000))).code, 0);
    await waitFor('2000 indexed', async () => (await es.count(n.indexWildcard)) === 2000, 30_000);
    const ia = new URL(a.url).host;
    const ib = new URL(b.url).host;
    const metrics = await text(`${mon.url}/metrics`);
    const value = (name: string, instance?: string) => {
      const re = new RegExp(`^${name}\\{${instance ? `instance="${instance}"` : ''}[^}]*\\} (\\S+)$|^${name} (\\S+)$`, 'm');
      const m = re.exec(metrics);
      return m ? Number(m[1] ?? m[2]) : Number.NaN;
    };
    const va = value('logship_indexer_events_indexed_total', ia);
    const vb = value('logship_indexer_events_indexed_total', ib);
    assert.ok(va > 0 && vb > 0, `both instances present and working: ${va}, ${vb}`);
    assert.equal(value('logship_cluster_indexer_events_indexed_total'), va + vb, 'cluster total is the sum');
    assert.equal(va + vb, 2000);
    assert.equal(value('up', ia), 1);
    assert.equal(value('up', ib), 1);
    assert.match(metrics, new RegExp(`^logship_queue_messages_ready\\{queue="${n.queue.replace(/\./g, '\\.')}"\\} 0$`, 'm'));
    assert.match(metrics, new RegExp(`^logship_queue_consumers\\{queue="${n.queue.replace(/\./g, '\\.')}"\\} 2$`, 'm'));
    assert.match(metrics, /^logship_dead_letter_messages\{queue="[^"]+"\} 0$/m);
    assert.match(metrics, new RegExp(`^process_resident_memory_bytes\\{instance="${ia}"\\} `, 'm'), 'process metrics re-exposed per instance');

    b.child.kill('SIGKILL');
    await b.exited;
    const after = await text(`${mon.url}/metrics`);
    assert.match(after, new RegExp(`^up\\{instance="${ib}"\\} 0$`, 'm'), 'up 0 for the dead target');
    assert.match(after, new RegExp(`^up\\{instance="${ia}"\\} 1$`, 'm'));
    await waitFor(
      'health reports each target',
      async () => {
        const h = (await (await fetch(`${mon.url}/health`)).json()) as { status: string; targets: Array<{ instance: string; up: boolean }> };
        return h.status === 'degraded' && h.targets.find((t) => t.instance === ib)?.up === false && h.targets.find((t) => t.instance === ia)?.up === true;
      },
      10_000,
    );
    const state = (await (await fetch(`${mon.url}/api/state`)).json()) as { instances: Array<{ instance: string; share: number }> };
    assert.equal(state.instances.length, 2);
  });

  it('generator: POST /generate of 500 events ends with 500 documents; bad bodies get 400', async (t) => {
    const { n, env } = pipe.topology(t, 'gen');
    await bootstrap(env);
    await pipe.startIndexer(t, env);
    const gen = await pipe.startServing(t, ['generate', '--serve', '--port', '0'], env);
    try {
      const post = (body: string) => fetch(`${gen.url}/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const r = await post(JSON.stringify({ count: 500, level: 'info' }));
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { requested: 500, published: 500, failed: 0 });
      await waitFor('500 documents', async () => (await es.count(n.indexWildcard)) === 500, 30_000);
      const docs = await es.all(n.indexWildcard);
      assert.ok(
        docs.every((d) => / INFO /.test(String(d.source.message))),
        'level respected',
      );
      assert.ok(docs.every((d) => (d.source.input as { type: string }).type === 'generator'));
      for (const [body, reason] of [
        ['not json', /must be JSON/],
        ['[1]', /JSON object/],
        ['{"count":0}', /count must be/],
        ['{"count":1.5}', /count must be/],
        ['{"count":100001}', /count must be/],
        ['{"count":5,"level":"loud"}', /level must be one of/],
        ['{"count":5,"colour":"red"}', /unknown field\(s\): colour/],
      ] as const) {
        const bad = await post(body);
        assert.equal(bad.status, 400, body);
        assert.match(((await bad.json()) as { error: string }).error, reason);
      }
      assert.equal((await post(`{"count":5,"pad":"${'x'.repeat(20_000)}"}`)).status, 413);
      assert.equal((await fetch(`${gen.url}/health`)).status, 200);
      assert.match(await text(`${gen.url}/`), /<form id="form">/);
    } finally {
      gen.p.child.kill('SIGTERM');
      assert.equal((await gen.p.exited).code, 0);
    }
  });

  it('generator bounds the work in progress: 20 parallel POSTs of 100000 get 429 with Retry-After beyond the bound', async (t) => {
    const { n, env } = pipe.topology(t, 'genbusy');
    await bootstrap(env);
    const gen = await pipe.startServing(t, ['generate', '--serve', '--port', '0'], env);
    let maxInProgress = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const stats = (await (await fetch(`${gen.url}/api/stats`)).json()) as { inProgress: number };
        maxInProgress = Math.max(maxInProgress, stats.inProgress);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      const answers = await Promise.all(
        Array.from({ length: 20 }, () =>
          fetch(`${gen.url}/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"count":100000}' }),
        ),
      );
      const ok = answers.filter((r) => r.status === 200);
      const busy = answers.filter((r) => r.status === 429);
      assert.equal(ok.length + busy.length, 20, `statuses: ${answers.map((r) => r.status).join(',')}`);
      assert.ok(ok.length >= 1 && busy.length >= 1, `statuses: ${answers.map((r) => r.status).join(',')}`);
      for (const r of busy) {
        assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
        assert.match(((await r.json()) as { error: string }).error, /busy: .* in progress, at most 100000 at once/);
      }
      let published = 0;
      for (const r of ok) published += ((await r.json()) as { published: number }).published;
      assert.equal(published, ok.length * 100_000);
      polling = false;
      await poller;
      assert.ok(maxInProgress > 0 && maxInProgress <= 100_000, `events in progress peaked at ${maxInProgress}`);
      assert.equal((await queueDepth(n.queue)).messageCount, published, 'nothing beyond the admitted requests was queued');
    } finally {
      polling = false;
      await poller.catch(() => undefined);
      gen.p.child.kill('SIGTERM');
      assert.equal((await gen.p.exited).code, 0);
    }
  });

  it('generator drops the work of a client that went away: generation stops well before the count', async (t) => {
    const { env } = pipe.topology(t, 'genabort');
    await bootstrap(env);
    const gen = await pipe.startServing(t, ['generate', '--serve', '--port', '0'], env);
    try {
      const ac = new AbortController();
      const req = fetch(`${gen.url}/generate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"count":100000}',
        signal: ac.signal,
      }).catch((err: unknown) => err);
      await waitFor('the first events generated', async () => (await metricValue(gen.url, 'logship_shipper_events_read_total')) > 0, 20_000, 5);
      ac.abort();
      assert.ok((await req) instanceof Error, 'the client aborted');
      // the request is over once nothing is in progress any more; then the counters are final
      await waitFor(
        'the aborted request to finish',
        async () => {
          const stats = (await (await fetch(`${gen.url}/api/stats`)).json()) as { inProgress?: number; inflight: number };
          return stats.inProgress === 0 && stats.inflight === 0;
        },
        20_000,
        20,
      );
      const read = await metricValue(gen.url, 'logship_shipper_events_read_total');
      const published = await metricValue(gen.url, 'logship_shipper_events_published_total');
      assert.ok(read < 100_000, `generation stopped early: ${read} of 100000 generated`);
      assert.equal(published, read, 'what was generated is still confirmed and counted');
      // a generation that kept running in the background would add more than the next request's events
      const next = await fetch(`${gen.url}/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"count":10}' });
      assert.equal(next.status, 200, await next.text());
      assert.equal(await metricValue(gen.url, 'logship_shipper_events_read_total'), read + 10, 'and nothing more is generated for the aborted request');
    } finally {
      gen.p.child.kill('SIGTERM');
      assert.equal((await gen.p.exited).code, 0);
    }
  });

  it('generate to stdout pipes into ship, in every format', async () => {
    for (const format of ['plain', 'json', 'nginx', 'syslog']) {
      const r = await runCli(['generate', '--count', '50', '--format', format, '--level', 'warn']);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trimEnd().split('\n');
      assert.equal(lines.length, 50, format);
      if (format === 'json') assert.equal((JSON.parse(lines[0]!) as { level: string }).level, 'warn');
      if (format === 'syslog') assert.match(lines[0]!, /^<12>\w{3} [ \d]\d \d\d:\d\d:\d\d /);
      if (format === 'nginx') assert.match(lines[0]!, /^\d+\.\d+\.\d+\.\d+ - - \[\d\d\/\w{3}\/\d{4}:/);
    }
    const started = Date.now();
    const slow = await runCli(['generate', '--count', '20', '--rate', '40']);
    assert.equal(slow.stdout.trimEnd().split('\n').length, 20);
    assert.ok(Date.now() - started >= 400, '--rate paces the output');
  });

  it('status: table and --json; exits non-zero when Elasticsearch is down', async (t) => {
    const { n, env } = pipe.topology(t, 'status');
    await bootstrap(env);
    assert.equal((await ship(env, numberedLines(7))).code, 0);
    const table = await runCli(['status'], { env });
    assert.equal(table.code, 0, table.stdout + table.stderr);
    assert.match(table.stdout, new RegExp(`queue ${n.queue.replace(/\./g, '\\.')}\\s+7 ready, 0 consumers`));
    assert.match(table.stdout, /status: ok/);
    const json = await runCli(['status', '--json'], { env });
    const report = JSON.parse(json.stdout) as {
      ok: boolean;
      queue: { messagesReady: number; consumers: number };
      deadLetterQueue: { messages: number };
      elasticsearch: { clusterStatus: string; documents: number };
    };
    assert.equal(report.ok, true);
    assert.equal(report.queue.messagesReady, 7);
    assert.equal(report.deadLetterQueue.messages, 0);
    assert.equal(report.elasticsearch.clusterStatus, 'green');
    assert.equal(report.elasticsearch.documents, 0);
    const down = await runCli(['status', '--es-node', 'http://127.0.0.1:9'], { env });
    assert.equal(down.code, 1);
    assert.match(down.stdout, /Elasticsearch .*DOWN/);
    const noQueue = await runCli(['status', '--queue', 'no.such.queue', '--skip-elasticsearch'], { env });
    assert.equal(noQueue.code, 1);
    assert.match(noQueue.stdout, /queue "no.such.queue" does not exist/);
  });
});
