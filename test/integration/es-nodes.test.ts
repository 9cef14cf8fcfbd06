/**
 * --es-node with two nodes of one cluster (two Elasticsearch doubles sharing
 * one store), one stopped mid-run: every event is indexed exactly once across
 * the two, the rest goes to the living node, and /health, the log and status
 * name both nodes with their credentials masked.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { EsDouble } from '../helpers/es-double.js';
import { bootstrap, metricValue, numberedLines, ship } from '../helpers/pipeline.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

const FAULTS = process.env.LOGSHIP_TEST_ES_NODE ? 'needs the Elasticsearch double' : false;
const SECRET = 'es-n0de-pa55';
const LINES = 1200;

/** ids written with 201 by one double, from its bulk records */
function createdIds(es: EsDouble): string[] {
  return es.bulks.flatMap((b) => b.ids.filter((id, i) => b.statuses[i] === 201 && id !== undefined) as string[]);
}

describe('Elasticsearch node list', { skip: FAULTS }, () => {
  // the two nodes are the test's own doubles
  const pipe = usePipeline({ es: false });

  it('one of two nodes stopped mid-run: every event indexed exactly once, the rest on the living node', async (t) => {
    const a = new EsDouble();
    const b = new EsDouble(a);
    pipe.defer(t, () => a.stop());
    pipe.defer(t, () => b.stop());
    const [urlA, urlB] = [await a.start(), await b.start()];
    const auth = `Basic ${Buffer.from(`logship:${SECRET}`).toString('base64')}`;
    a.requiredAuthorization = b.requiredAuthorization = auth;
    // slow enough that the run is still going when node A stops
    a.setFaults({ latencyMs: 20 });
    b.setFaults({ latencyMs: 20 });
    const esNode = [urlA, urlB].map((u) => u.replace('http://', `http://logship:${SECRET}@`)).join(',');
    const { n, env } = pipe.topology(t, 'esnodes', {
      LOGSHIP_ES_NODE: esNode,
      LOGSHIP_BATCH_SIZE: '20',
      LOGSHIP_PREFETCH: '40',
      LOGSHIP_FLUSH_INTERVAL: '50ms',
    });
    const masked = [urlA, urlB].map((u) => `${u.replace('http://', 'http://logship:***@')}/`).join(',');
    const boot = await bootstrap(env);
    assert.match(boot.stdout, new RegExp(`declared Elasticsearch index template .* on ${masked.replace(/[*.]/g, '\\$&')}`));
    const p = await pipe.startIndexer(t, env);
    assert.equal((await ship(env, numberedLines(LINES))).code, 0);
    await waitFor('node A to take part of the run', () => a.bulks.length >= 3 && b.bulks.length >= 3, 30_000, 20);
    const storedWhenStopped = a.docs(n.indexWildcard).length;
    await a.stop();
    // a bulk held in A's latency when it stopped may still be applied (its answer is lost): B then answers 409
    const requestsOfAAtStop = a.requests;
    assert.ok(storedWhenStopped < LINES, `the run was still going when node A stopped (${storedWhenStopped} of ${LINES})`);
    const bulksOfBAtStop = b.bulks.length;
    await waitFor(`${LINES} documents`, () => b.docs(n.indexWildcard).length >= LINES, 60_000);

    const docs = b.docs(n.indexWildcard);
    assert.equal(docs.length, LINES, 'nothing lost, nothing twice');
    const messages = new Set(docs.map((d) => String(d.source.message)));
    assert.equal(messages.size, LINES, 'every line once');
    const eventIds = docs.map((d) => (d.source.event as { id: string }).id);
    assert.equal(new Set(eventIds).size, LINES);
    // per node: each event created (201) on exactly one of them, none on both
    const onA = createdIds(a);
    const onB = createdIds(b);
    assert.equal(new Set(onA).size, onA.length);
    assert.equal(new Set(onB).size, onB.length);
    assert.deepEqual(
      onA.filter((id) => onB.includes(id)),
      [],
      'no event created on both nodes',
    );
    assert.deepEqual(new Set([...onA, ...onB]), new Set(eventIds));
    assert.ok(onA.length > 0 && onB.length > onA.length, `A created ${onA.length}, B ${onB.length}`);
    assert.equal(a.requests, requestsOfAAtStop, 'a stopped node takes no request');
    assert.ok(b.bulks.length > bulksOfBAtStop, 'the rest went to the living node');
    // a request that found node A gone moved to node B at once: the indexer never had to retry
    assert.equal(await metricValue(p.url, 'logship_indexer_bulk_retries_total'), 0);

    const health = (await (await fetch(`${p.url}/health`)).json()) as { status: string; output: { nodes: Array<{ node: string; alive: boolean }> } };
    assert.deepEqual(health.output.nodes, [
      { node: `${urlA}/`, alive: false },
      { node: `${urlB}/`, alive: true },
    ]);
    assert.equal(health.status, 'ok', 'one living node is enough');
    const deadLine = p
      .stderr()
      .split('\n')
      .find((l) => l.includes('Elasticsearch node did not answer'));
    assert.ok(deadLine, 'the indexer says which node it skips');
    assert.equal((JSON.parse(deadLine) as { node: string }).node, `${urlA}/`);
    const status = await runCli(['status', '--json'], { env });
    const report = JSON.parse(status.stdout) as { ok: boolean; elasticsearch: { node: string; reachable: boolean; documents: number } };
    assert.equal(report.elasticsearch.node, masked);
    assert.equal(report.elasticsearch.reachable, true, status.stdout);
    for (const text of [JSON.stringify(health), p.stderr(), boot.stdout, boot.stderr, status.stdout, status.stderr])
      assert.doesNotMatch(text, new RegExp(SECRET));
  });
});
