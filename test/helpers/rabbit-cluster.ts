/**
 * A private three-node RabbitMQ cluster on loopback ports, for tests of
 * failover: node names logship-cl-<random>-<i>@localhost, their own ports,
 * data dirs and one Erlang cookie of their own (a private HOME shared by the
 * three and by rabbitmqctl), never the machine's shared broker. Nodes 2 and 3
 * join node 1 with rabbitmqctl stop_app / join_cluster / start_app. Every node
 * is stopped by the pid of its process group: by destroy(), and as a last
 * resort when the test process exits (rabbit-node.ts).
 *
 * Nodes are numbered from 0 in this API: urls[0] is node 1.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PrivateRabbit, privateHome } from './rabbit-node.js';
import { waitFor } from './wait.js';

export interface ClusterOptions {
  size?: number;
  /** more rabbitmq.conf lines for every node */
  conf?: string;
}

export class PrivateCluster {
  readonly id = randomBytes(3).toString('hex');
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logship-cluster-'));
  readonly nodes: PrivateRabbit[];
  /** how long start() took, in ms */
  startMs = 0;

  constructor(options: ClusterOptions = {}) {
    const home = privateHome(this.dir);
    this.nodes = Array.from(
      { length: options.size ?? 3 },
      (_, i) => new PrivateRabbit({ name: `logship-cl-${this.id}-${i + 1}`, dir: path.join(this.dir, `node${i + 1}`), home, conf: options.conf }),
    );
  }

  /** each node's AMQP URL, in node order */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  /** the comma-separated list of every node's URL (issue 11's --amqp-url form) */
  get urlList(): string {
    return this.urls.join(',');
  }

  node(i: number): PrivateRabbit {
    const n = this.nodes[i];
    if (!n) throw new Error(`the cluster has nodes 0..${this.nodes.length - 1}, not ${i}`);
    return n;
  }

  /**
   * start(): starts every node, joins them into one cluster and waits until
   * each lists all as running. start(i): starts node i again with its data
   * (after stop(i) or kill(i)): it rejoins the cluster by itself.
   */
  async start(i?: number, timeoutMs = 120_000): Promise<void> {
    if (i !== undefined) {
      await this.node(i).start(timeoutMs);
      return;
    }
    const t0 = Date.now();
    try {
      // ports first, one after the other, so no two nodes pick the same free port
      for (const n of this.nodes) await n.allocatePorts();
      await Promise.all(this.nodes.map((n) => n.start(timeoutMs)));
      const [first, ...rest] = this.nodes;
      for (const n of rest) {
        await n.ctlAsync(['stop_app']);
        await n.ctlAsync(['join_cluster', first!.node]);
        await n.ctlAsync(['start_app']);
      }
      await this.waitForAllRunning();
    } catch (err) {
      // the data dirs go with destroy(): keep what the nodes said
      const logs = this.nodes.map((n) => `--- ${n.node}:\n${n.log.slice(-1500)}`).join('\n');
      await this.destroy();
      throw new Error(`cluster ${this.id} did not start: ${err instanceof Error ? err.message : String(err)}\n${logs}`, { cause: err });
    }
    this.startMs = Date.now() - t0;
  }

  /** the nodes the cluster reports as running, asked of the first node that answers */
  async runningNodes(): Promise<string[]> {
    for (const n of this.nodes.filter((x) => x.running)) {
      try {
        const status = JSON.parse(await n.ctlAsync(['cluster_status', '--formatter', 'json'])) as { running_nodes?: string[] };
        return status.running_nodes ?? [];
      } catch {
        // ask the next one
      }
    }
    return [];
  }

  /** Waits until every node that should run is running and clustered. */
  async waitForAllRunning(timeoutMs = 60_000): Promise<void> {
    const expected = this.nodes.filter((n) => n.running).map((n) => n.node);
    await waitFor(
      `cluster ${this.id}: ${expected.join(', ')} running`,
      async () => {
        const running = await this.runningNodes();
        return expected.every((e) => running.includes(e));
      },
      timeoutMs,
      500,
    );
  }

  /** kill -9 of node i's process group */
  kill(i: number): Promise<void> {
    return this.node(i).kill();
  }

  /** graceful stop of node i (it stays a cluster member) */
  stop(i: number): Promise<void> {
    return this.node(i).stop();
  }

  /**
   * Index of the node holding the leader of quorum queue `queue`, asked of a
   * running node; null while it has none (an election under way, or no majority).
   */
  async leaderOf(queue: string, vhost = '/'): Promise<number | null> {
    for (const n of this.nodes.filter((x) => x.running)) {
      let rows: Array<{ name: string; leader?: string; members?: string[] }>;
      try {
        rows = JSON.parse(await n.ctlAsync(['list_queues', '-p', vhost, 'name', 'leader', 'members', '--formatter', 'json', '--quiet'])) as typeof rows;
      } catch {
        continue;
      }
      const row = rows.find((r) => r.name === queue);
      if (!row) throw new Error(`no queue "${queue}" in vhost "${vhost}" of cluster ${this.id}`);
      const i = this.nodes.findIndex((x) => x.node === row.leader);
      return i >= 0 ? i : null;
    }
    return null;
  }

  /** the members (node indexes) of quorum queue `queue` */
  async membersOf(queue: string, vhost = '/'): Promise<number[]> {
    const n = this.nodes.find((x) => x.running);
    if (!n) throw new Error(`cluster ${this.id}: no node is running`);
    const rows = JSON.parse(await n.ctlAsync(['list_queues', '-p', vhost, 'name', 'members', '--formatter', 'json', '--quiet'])) as Array<{
      name: string;
      members?: string[];
    }>;
    const row = rows.find((r) => r.name === queue);
    if (!row) throw new Error(`no queue "${queue}" in vhost "${vhost}" of cluster ${this.id}`);
    return (row.members ?? []).map((m) => this.nodes.findIndex((x) => x.node === m));
  }

  /** total resident memory of each running node, KiB */
  rssKb(): number[] {
    return this.nodes.map((n) => n.rssKb());
  }

  /** Stops every node by pid (killed, not stopped: nothing of the data is kept) and removes the data; never throws. */
  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill().catch(() => undefined)));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
