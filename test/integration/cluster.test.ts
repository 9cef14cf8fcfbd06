/**
 * logship on a private three-node RabbitMQ cluster (issue 11): quorum queues
 * declared through one node have a member on each, the pipeline works through
 * any node, and losing the node that holds a queue's leader loses and
 * duplicates nothing. The cluster starts once for the file (~20 s); node
 * failover of the clients themselves (a URL list) is tested elsewhere, later.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deleteTopology, queueDepth, randomNames, type Names } from '../helpers/amqp.js';
import { startCli } from '../helpers/cli.js';
import { startEs, type EsTarget } from '../helpers/es.js';
import { bootstrap, metricValue, numberedLines, ship, startIndexer, stopProcess, type IndexerProcess } from '../helpers/pipeline.js';
import { PrivateCluster } from '../helpers/rabbit-cluster.js';
import { rabbitAvailable } from '../helpers/rabbit-node.js';
import { waitFor } from '../helpers/wait.js';

const line = (i: number) => `line ${i} lorem ipsum dolor sit amet`;

describe('RabbitMQ cluster of three private nodes', { skip: !rabbitAvailable() && 'rabbitmq-server not installed' }, () => {
  let es: EsTarget;
  let cluster: PrivateCluster;

  before(
    async () => {
      es = await startEs();
      cluster = new PrivateCluster();
      await cluster.start();
    },
    { timeout: 180_000 },
  );
  after(async () => {
    await cluster?.destroy();
    await es?.close();
  });

  /** names and env of one test, every command talking to node `i` */
  function names(prefix: string, i: number): Names & { envAt(i: number): Record<string, string> } {
    const n = randomNames(prefix, cluster.urls[i]);
    const envAt = (j: number) => ({ ...n.env, LOGSHIP_AMQP_URL: cluster.urls[j]!, LOGSHIP_ES_NODE: es.url });
    return { ...n, envAt };
  }

  /** the first running node's URL, for checks and clean-up */
  const liveUrl = () => cluster.nodes.find((x) => x.running)!.url;

  /** every line 0..total-1 indexed exactly once, one document per event id */
  async function assertIndexedOnce(n: Names, total: number): Promise<void> {
    await waitFor(`${total} documents`, async () => (await es.count(n.indexWildcard)) >= total, 60_000, 250);
    const docs = await es.all(n.indexWildcard);
    assert.equal(docs.length, total, 'no event indexed twice');
    assert.equal(new Set(docs.map((d) => d.id)).size, total, 'one document per event.id');
    const messages = new Set(docs.map((d) => d.source.message as string));
    for (let i = 0; i < total; i++) assert.ok(messages.has(line(i)), `line ${i} indexed`);
  }

  it('bootstrap --queue-type quorum through node 1 declares both queues as quorum queues with a member on each of the 3 nodes', async () => {
    const n = names('clboot', 0);
    try {
      await bootstrap(n.envAt(0), ['--queue-type', 'quorum']);
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
    } finally {
      await deleteTopology(n, liveUrl());
    }
  });

  it('ships through node 2 and indexes through node 3 (quorum queues declared through node 1): every line indexed once', async () => {
    const n = names('clpipe', 0);
    let indexer: IndexerProcess | undefined;
    try {
      await bootstrap(n.envAt(0), ['--queue-type', 'quorum']);
      indexer = await startIndexer(n.envAt(2));
      const total = 3000;
      const r = await ship(n.envAt(1), numberedLines(total));
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`read ${total}, published ${total}, skipped 0, failed 0`));
      await assertIndexedOnce(n, total);
      assert.equal(await metricValue(indexer.url, 'logship_indexer_events_duplicate_total'), 0);
      assert.equal((await stopProcess(indexer)).code, 0);
    } finally {
      if (indexer) await stopProcess(indexer);
      await deleteTopology(n, liveUrl());
    }
  });

  // last in the file: it leaves one node dead (the after hook destroys the cluster)
  it('kill -9 of the node holding the quorum queue leader, while shipping and indexing through the other two: every line indexed exactly once, ship exits 0', async (t) => {
    const n = names('clleader', 0);
    let indexer: IndexerProcess | undefined;
    let shipper: ReturnType<typeof startCli> | undefined;
    try {
      await bootstrap(n.envAt(0), ['--queue-type', 'quorum']);
      const leader = await cluster.leaderOf(n.queue);
      assert.ok(leader !== null, 'the queue has a leader');
      const shipVia = (leader + 1) % 3;
      const indexVia = (leader + 2) % 3;
      indexer = await startIndexer(n.envAt(indexVia), ['--prefetch', '500', '--batch-size', '250']);
      const total = 30_000;
      shipper = startCli(['ship', '--max-inflight', '200'], { env: n.envAt(shipVia), input: numberedLines(total), timeoutMs: 120_000 });
      // both under way: some lines indexed, so the leader holds confirms to send and acks to apply
      await waitFor('shipping and indexing under way', async () => (await es.count(n.indexWildcard)) > 2000, 60_000, 50);
      assert.equal(shipper.child.exitCode, null, 'the shipper is still shipping when the leader dies');
      await cluster.kill(leader);
      const newLeader = await waitFor('a new leader', async () => (await cluster.leaderOf(n.queue)) ?? undefined, 30_000, 250);
      assert.notEqual(newLeader, leader);

      const shipped = await shipper.exited;
      assert.equal(shipped.code, 0, shipped.stderr);
      assert.match(shipped.stderr, new RegExp(`read ${total}, published ${total}, skipped 0, failed 0`));
      await assertIndexedOnce(n, total);
      await waitFor('every delivery acked', async () => (await queueDepth(n.queue, liveUrl())).messageCount === 0, 30_000, 250);
      const dups = await metricValue(indexer.url, 'logship_indexer_events_duplicate_total');
      const res = await stopProcess(indexer);
      assert.equal(res.code, 0, res.stderr);
      // a redelivery after the leader change is answered 409 by Elasticsearch and counted, never indexed twice
      t.diagnostic(`leader was node ${leader + 1}, now node ${newLeader + 1}; redeliveries counted as duplicates: ${dups}`);
    } finally {
      shipper?.child.kill('SIGKILL');
      if (indexer) await stopProcess(indexer);
      await deleteTopology(n, liveUrl());
    }
  });
});
