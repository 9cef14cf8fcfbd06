/**
 * logship on a private three-node RabbitMQ cluster (issue 11): quorum queues
 * declared through one node have a member on each, the pipeline works through
 * any node, and losing the node that holds a queue's leader loses and
 * duplicates nothing; with the node list in --amqp-url, neither does losing
 * the node a shipper or an indexer is connected to, a rolling restart, or two
 * nodes of three down for a while. The cluster starts once for the file
 * (~20 s); every test but the last leaves all three nodes running.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { before, describe, it, type TestContext } from 'node:test';
import { deleteTopology, queueDepth, randomNames, type Names } from '../helpers/amqp.js';
import { startCli, type CliResult, type RunningCli } from '../helpers/cli.js';
import { bootstrap, metricValue, numberedLines, ship, stopProcess } from '../helpers/pipeline.js';
import { PrivateCluster } from '../helpers/rabbit-cluster.js';
import { rabbitAvailable } from '../helpers/rabbit-node.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

const line = (i: number) => `line ${i} lorem ipsum dolor sit amet`;

/** numberedLines(total), written at `perSecond` lines a second: shipping stays under way for total/perSecond seconds */
function pacedLines(total: number, perSecond: number): Readable {
  let i = 0;
  const chunk = Math.max(1, Math.round(perSecond / 20));
  return new Readable({
    read() {
      if (i >= total) {
        this.push(null);
        return;
      }
      setTimeout(() => {
        let out = '';
        for (let k = 0; k < chunk && i < total; k++, i++) out += `${line(i)}\n`;
        this.push(out);
      }, 50);
    },
  });
}

/** the URL of a process's /metrics and /health, from its "serving" log line */
async function servedUrl(p: RunningCli): Promise<string> {
  return waitFor(
    'the process to serve /health',
    () => {
      const m = /"url":"(http:\/\/[^"]+)"/.exec(p.stderr());
      if (m) return m[1];
      if (p.child.exitCode !== null) throw new Error(`exited ${p.child.exitCode}:\n${p.stderr()}`);
      return undefined;
    },
    30_000,
  );
}

async function health(url: string): Promise<{ status: string; amqp: { node: string | null } }> {
  return (await fetch(`${url}/health`)).json() as Promise<{ status: string; amqp: { node: string | null } }>;
}

describe('RabbitMQ cluster of three private nodes', { skip: !rabbitAvailable() && 'rabbitmq-server not installed' }, () => {
  const pipe = usePipeline();
  const es = pipe.es;
  let cluster: PrivateCluster;

  before(
    async () => {
      cluster = new PrivateCluster();
      pipe.defer(pipe.block, () => cluster.destroy());
      await cluster.start();
    },
    { timeout: 180_000 },
  );

  /** the names of one test, the env of every command talking to node `i` (envAt), and to the node list (listEnv) */
  interface ClusterNames extends Names {
    envAt(i: number): Record<string, string>;
    listEnv: Record<string, string>;
  }

  /** the first running node's URL, for checks and clean-up */
  const liveUrl = () => cluster.nodes.find((x) => x.running)!.url;

  /** restarts every node that is down and waits until the cluster lists all three */
  async function healCluster(): Promise<void> {
    for (let i = 0; i < cluster.nodes.length; i++) if (!cluster.node(i).running) await cluster.start(i);
    await cluster.waitForAllRunning(90_000);
  }

  /**
   * The topology of test t, bootstrapped with quorum queues through node `via`
   * (or the node list). After the test: its processes stopped, every node
   * running again (`heal`: the tests that kill nodes), its topology deleted
   * through a node that runs.
   */
  async function quorumTopology(t: TestContext, prefix: string, via: number | 'list', heal: 'heal' | 'leave' = 'leave'): Promise<ClusterNames> {
    const names = randomNames(prefix, cluster.urls[0]);
    const envAt = (j: number) => ({ ...names.env, LOGSHIP_AMQP_URL: cluster.urls[j]!, LOGSHIP_ES_NODE: es.url });
    const n = { ...names, envAt, listEnv: { ...names.env, LOGSHIP_AMQP_URL: cluster.urlList, LOGSHIP_ES_NODE: es.url } };
    pipe.defer(t, () => deleteTopology(n, liveUrl()));
    if (heal === 'heal') pipe.defer(t, healCluster);
    await bootstrap(via === 'list' ? n.listEnv : n.envAt(via), ['--queue-type', 'quorum']);
    return n;
  }

  /** `logship ship --max-inflight <inflight>` reading `input`, killed after test t if it still runs */
  function startShipper(t: TestContext, env: Record<string, string>, input: Readable | string, inflight: number, timeoutMs: number): RunningCli {
    return pipe.track(t, startCli(['ship', '--max-inflight', String(inflight)], { env, input, timeoutMs }), 'SIGKILL');
  }

  /** the same, serving /metrics and /health at shipUrl */
  async function startServingShipper(
    t: TestContext,
    env: Record<string, string>,
    input: Readable,
    inflight: number,
    timeoutMs: number,
  ): Promise<{ shipper: RunningCli; shipUrl: string }> {
    const shipper = pipe.track(
      t,
      startCli(['ship', '--metrics-port', '0', '--max-inflight', String(inflight)], { env: { ...env, LOGSHIP_LOG_LEVEL: 'info' }, input, timeoutMs }),
      'SIGKILL',
    );
    return { shipper, shipUrl: await servedUrl(shipper) };
  }

  /** ship exited 0, having read and published every line */
  function assertShippedAll(shipped: CliResult, total: number): void {
    assert.equal(shipped.code, 0, shipped.stderr);
    assert.match(shipped.stderr, new RegExp(`read ${total}, published ${total}, skipped 0, failed 0`));
  }

  /** every line 0..total-1 indexed exactly once, one document per event id */
  async function assertIndexedOnce(n: Names, total: number): Promise<void> {
    await waitFor(`${total} documents`, async () => (await es.count(n.indexWildcard)) >= total, 60_000, 250);
    const docs = await es.all(n.indexWildcard);
    assert.equal(docs.length, total, 'no event indexed twice');
    assert.equal(new Set(docs.map((d) => d.id)).size, total, 'one document per event.id');
    const messages = new Set(docs.map((d) => d.source.message as string));
    for (let i = 0; i < total; i++) assert.ok(messages.has(line(i)), `line ${i} indexed`);
  }

  /** every line indexed exactly once, then every delivery acked (nothing left in the queue) */
  async function assertIndexedAndAcked(n: Names, total: number, ackTimeoutMs: number): Promise<void> {
    await assertIndexedOnce(n, total);
    await waitFor('every delivery acked', async () => (await queueDepth(n.queue, liveUrl())).messageCount === 0, ackTimeoutMs, 250);
  }

  /** node index of the RabbitMQ node a process is connected to, from its /health (masked URL; the port tells) */
  async function nodeOf(url: string): Promise<number> {
    return waitFor(
      'the process to name its node',
      async () => {
        const node = (await health(url)).amqp.node;
        const i = node ? cluster.nodes.findIndex((x) => node.includes(`:${x.port}/`)) : -1;
        return i >= 0 ? i : undefined;
      },
      30_000,
      100,
    );
  }

  it('bootstrap --queue-type quorum through node 1 declares both queues as quorum queues with a member on each of the 3 nodes', async (t) => {
    const n = await quorumTopology(t, 'clboot', 0);
    const rows = JSON.parse(await cluster.node(1).ctlAsync(['list_queues', 'name', 'type', 'members', '--formatter', 'json', '--quiet'])) as Array<{
      name: string;
      type: string;
      members: string[];
    }>;
    for (const q of [n.queue, n.deadLetterQueue]) {
      const row = rows.find((r) => r.name === q);
      assert.ok(row, `queue ${q} declared`);
      assert.equal(row.type, 'quorum', `${q} is a quorum queue`);
      assert.deepEqual([...row.members].sort(), cluster.nodes.map((x) => x.node).sort(), `${q} has a member on every node`);
    }
  });

  it('ships through node 2 and indexes through node 3 (quorum queues declared through node 1): every line indexed once', async (t) => {
    const n = await quorumTopology(t, 'clpipe', 0);
    const indexer = await pipe.startIndexer(t, n.envAt(2));
    const total = 3000;
    assertShippedAll(await ship(n.envAt(1), numberedLines(total)), total);
    await assertIndexedOnce(n, total);
    assert.equal(await metricValue(indexer.url, 'logship_indexer_events_duplicate_total'), 0);
    assert.equal((await stopProcess(indexer)).code, 0);
  });

  it('kill -9 of the node the shipper is connected to, then of the node the indexer is connected to, each while work is under way: every line indexed exactly once, ship exits 0, failovers counted', async (t) => {
    const n = await quorumTopology(t, 'clfail', 'list', 'heal');
    const total = 20_000;
    // phase 1: the shipper's node dies while it publishes (no indexer yet: the queue keeps a backlog)
    const { shipper, shipUrl } = await startServingShipper(t, n.listEnv, pacedLines(total, 4000), 200, 180_000);
    const shipNode = await nodeOf(shipUrl);
    await waitFor('shipping under way', async () => (await metricValue(shipUrl, 'logship_shipper_events_published_total')) > 3000, 60_000, 50);
    await cluster.kill(shipNode);
    await waitFor('the shipper on another node', async () => (await nodeOf(shipUrl)) !== shipNode, 60_000, 100);
    assert.equal(await metricValue(shipUrl, 'logship_amqp_failovers_total'), 1);
    assertShippedAll(await shipper.exited, total);
    await healCluster();

    // phase 2: the indexer's node dies while it works through the backlog
    const indexer = await pipe.startIndexer(t, n.listEnv, ['--prefetch', '50', '--batch-size', '50']);
    const indexNode = await nodeOf(indexer.url);
    await waitFor('indexing under way', async () => (await es.count(n.indexWildcard)) > 2000, 60_000, 50);
    assert.ok((await es.count(n.indexWildcard)) < total, 'the indexer is still working when its node dies');
    await cluster.kill(indexNode);
    await waitFor('the indexer on another node', async () => (await nodeOf(indexer.url)) !== indexNode, 60_000, 100);
    await assertIndexedAndAcked(n, total, 60_000);
    assert.equal(await metricValue(indexer.url, 'logship_amqp_failovers_total'), 1);
    assert.equal((await stopProcess(indexer)).code, 0);
  });

  it('a rolling restart of all three nodes, one at a time, while shipping and indexing: every line indexed exactly once, ship exits 0', async (t) => {
    const n = await quorumTopology(t, 'clroll', 'list', 'heal');
    const indexer = await pipe.startIndexer(t, n.listEnv);
    // long enough to outlast three restarts (each ~5-10 s); the last lines go out once all are back
    const total = 60_000;
    const shipper = startShipper(t, n.listEnv, pacedLines(total, 1000), 200, 240_000);
    for (let i = 0; i < cluster.nodes.length; i++) {
      assert.equal(shipper.child.exitCode, null, `still shipping when node ${i + 1} restarts`);
      await cluster.stop(i);
      await cluster.start(i);
      await cluster.waitForAllRunning(90_000);
    }
    assertShippedAll(await shipper.exited, total);
    await assertIndexedAndAcked(n, total, 60_000);
    assert.equal((await stopProcess(indexer)).code, 0);
  });

  it('two of three nodes down (no majority): the shipper counts nothing as shipped, pauses its input and reports degraded; once a node is back it finishes, every line indexed once', async (t) => {
    const n = await quorumTopology(t, 'clminor', 'list', 'heal');
    const indexer = await pipe.startIndexer(t, n.listEnv);
    const total = 30_000;
    const { shipper, shipUrl } = await startServingShipper(t, n.listEnv, pacedLines(total, 2000), 100, 240_000);
    await waitFor('shipping under way', async () => (await metricValue(shipUrl, 'logship_shipper_events_published_total')) > 2000, 60_000, 50);
    // the shipper's node survives: it stays connected to a node that cannot reach a majority
    const survivor = await nodeOf(shipUrl);
    const down = [0, 1, 2].filter((i) => i !== survivor);
    await Promise.all(down.map((i) => cluster.kill(i)));
    await waitFor('the shipper reports degraded', async () => (await health(shipUrl)).status === 'degraded', 60_000, 250);
    const published = await metricValue(shipUrl, 'logship_shipper_events_published_total');
    const read = await metricValue(shipUrl, 'logship_shipper_events_read_total');
    // while degraded nothing more is counted as shipped, and the input is paused once the window is full
    await waitFor('the confirm window to fill', async () => (await metricValue(shipUrl, 'logship_shipper_inflight_events')) >= 100, 30_000, 100);
    assert.equal((await health(shipUrl)).status, 'degraded');
    assert.equal(await metricValue(shipUrl, 'logship_shipper_events_published_total'), published, 'no confirm without a majority');
    const readLater = await metricValue(shipUrl, 'logship_shipper_events_read_total');
    assert.ok(readLater - published <= 100 + 64, `input paused at the window: read ${readLater}, published ${published} (read ${read} when degraded)`);
    assert.equal(shipper.child.exitCode, null, 'the shipper waits');

    await cluster.start(down[0]!);
    assertShippedAll(await shipper.exited, total);
    await assertIndexedOnce(n, total);
    assert.equal((await stopProcess(indexer)).code, 0);
  });

  // last in the file: it leaves one node dead (the after hook destroys the cluster)
  it('kill -9 of the node holding the quorum queue leader, while shipping and indexing through the other two: every line indexed exactly once, ship exits 0', async (t) => {
    const n = await quorumTopology(t, 'clleader', 0);
    const leader = await cluster.leaderOf(n.queue);
    assert.ok(leader !== null, 'the queue has a leader');
    const shipVia = (leader + 1) % 3;
    const indexVia = (leader + 2) % 3;
    const indexer = await pipe.startIndexer(t, n.envAt(indexVia), ['--prefetch', '500', '--batch-size', '250']);
    const total = 30_000;
    const shipper = startShipper(t, n.envAt(shipVia), numberedLines(total), 200, 120_000);
    // both under way: some lines indexed, so the leader holds confirms to send and acks to apply
    await waitFor('shipping and indexing under way', async () => (await es.count(n.indexWildcard)) > 2000, 60_000, 50);
    assert.equal(shipper.child.exitCode, null, 'the shipper is still shipping when the leader dies');
    await cluster.kill(leader);
    const newLeader = await waitFor('a new leader', async () => (await cluster.leaderOf(n.queue)) ?? undefined, 30_000, 250);
    assert.notEqual(newLeader, leader);

    assertShippedAll(await shipper.exited, total);
    await assertIndexedAndAcked(n, total, 30_000);
    const dups = await metricValue(indexer.url, 'logship_indexer_events_duplicate_total');
    const res = await stopProcess(indexer);
    assert.equal(res.code, 0, res.stderr);
    // a redelivery after the leader change is answered 409 by Elasticsearch and counted, never indexed twice
    t.diagnostic(`leader was node ${leader + 1}, now node ${newLeader + 1}; redeliveries counted as duplicates: ${dups}`);
  });
});
