/** `logship status [--json]`: queue depth, consumers, dead letters, Elasticsearch health and count. */
import {
  type ChannelModel,
  ExitCodes,
  amqpNodes,
  connectOnce,
  errorMessage,
  maskUrl,
  namerFor,
  requireQueue,
  scrubConfigSecrets,
  type Config,
} from '@logship/common';
import { createEsClient } from '@logship/common/elasticsearch';
import type { CommandContext } from '../context.js';

export interface StatusReport {
  ok: boolean;
  amqp: { url: string; reachable: boolean; error: string | null; nodes?: NodeStatus[] };
  queue: { name: string; messagesReady: number | null; consumers: number | null; error: string | null };
  deadLetterQueue: { name: string; messages: number | null; error: string | null };
  elasticsearch: {
    node: string;
    checked: boolean;
    reachable: boolean;
    clusterStatus: string | null;
    indexPattern: string;
    documents: number | null;
    error: string | null;
  } | null;
}

/** one node of --amqp-url's list (shown only for a list of several) */
export interface NodeStatus {
  url: string;
  reachable: boolean;
  error: string | null;
}

/**
 * Every node of a list, each connected to alone: a node that is down is named
 * even while the others serve. The first connection that opened is kept for
 * the queue figures (no second connect, no second timeout).
 */
async function probeNodes(config: Config): Promise<{ nodes: NodeStatus[]; conn: ChannelModel | null }> {
  const results = await Promise.all(
    amqpNodes(config.amqpUrl).map(async (url) => {
      const node: NodeStatus = { url: maskUrl(url), reachable: false, error: null };
      let conn: ChannelModel | null = null;
      try {
        conn = await connectOnce({ ...config, amqpUrl: url }, 'status');
        node.reachable = true;
      } catch (err) {
        node.error = scrubConfigSecrets(errorMessage(err), config);
      }
      return { node, conn };
    }),
  );
  const kept = results.find((r) => r.conn)?.conn ?? null;
  await Promise.all(results.filter((r) => r.conn && r.conn !== kept).map((r) => r.conn!.close().catch(() => undefined)));
  return { nodes: results.map((r) => r.node), conn: kept };
}

async function amqpPart(config: Config, report: StatusReport): Promise<void> {
  let conn: ChannelModel;
  try {
    if (amqpNodes(config.amqpUrl).length > 1) {
      const probe = await probeNodes(config);
      report.amqp.nodes = probe.nodes;
      if (!probe.conn) throw new Error(`no node of --amqp-url answers: ${probe.nodes.map((n) => `${n.url}: ${n.error}`).join('; ')}`);
      conn = probe.conn;
    } else {
      conn = await connectOnce(config, 'status');
    }
    report.amqp.reachable = true;
  } catch (err) {
    report.amqp.error = scrubConfigSecrets(errorMessage(err), config);
    report.queue.error = report.deadLetterQueue.error = 'broker unreachable';
    return;
  }
  try {
    try {
      const q = await requireQueue(conn, config.queue);
      report.queue.messagesReady = q.messageCount;
      report.queue.consumers = q.consumerCount;
    } catch (err) {
      report.queue.error = scrubConfigSecrets(errorMessage(err), config);
    }
    try {
      report.deadLetterQueue.messages = (await requireQueue(conn, config.deadLetterQueue)).messageCount;
    } catch (err) {
      report.deadLetterQueue.error = scrubConfigSecrets(errorMessage(err), config);
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
}

async function esPart(config: Config, report: StatusReport): Promise<void> {
  const es = report.elasticsearch!;
  const client = createEsClient(config);
  try {
    const health = await client.cluster.health();
    es.reachable = true;
    es.clusterStatus = health.status;
    const count = await client.count({ index: es.indexPattern, ignore_unavailable: true, allow_no_indices: true });
    es.documents = count.count;
  } catch (err) {
    // the client's text may quote the node URL or Elasticsearch's reason naming a credential
    es.error = scrubConfigSecrets(errorMessage(err), config);
  } finally {
    await client.close().catch(() => undefined);
  }
}

export async function collectStatus(config: Config): Promise<StatusReport> {
  const report: StatusReport = {
    ok: false,
    amqp: { url: maskUrl(config.amqpUrl), reachable: false, error: null },
    queue: { name: config.queue, messagesReady: null, consumers: null, error: null },
    deadLetterQueue: { name: config.deadLetterQueue, messages: null, error: null },
    elasticsearch: config.skipElasticsearch
      ? null
      : {
          node: maskUrl(config.esNode),
          checked: true,
          reachable: false,
          clusterStatus: null,
          indexPattern: namerFor(config).wildcard,
          documents: null,
          error: null,
        },
  };
  await Promise.all([amqpPart(config, report), report.elasticsearch ? esPart(config, report) : Promise.resolve()]);
  const es = report.elasticsearch;
  const nodesUp = (report.amqp.nodes ?? []).every((n) => n.reachable);
  report.ok =
    report.amqp.reachable &&
    nodesUp &&
    !report.queue.error &&
    !report.deadLetterQueue.error &&
    (es === null || (es.reachable && !es.error && es.clusterStatus !== 'red'));
  return report;
}

function human(r: StatusReport): string {
  const v = (x: number | null) => (x === null ? '-' : String(x));
  const rows: Array<[string, string, string]> = [
    ['RabbitMQ', r.amqp.url, r.amqp.reachable ? 'ok' : `DOWN: ${r.amqp.error}`],
    ...(r.amqp.nodes ?? []).map((n, i, all): [string, string, string] => [
      `  node ${i + 1} of ${all.length}`,
      n.url,
      n.reachable ? 'ok' : r.amqp.reachable ? `DOWN (the others serve while a majority is up): ${n.error}` : `DOWN: ${n.error}`,
    ]),
    [
      `queue ${r.queue.name}`,
      `${v(r.queue.messagesReady)} ready, ${v(r.queue.consumers)} consumers`,
      r.queue.error ? `PROBLEM: ${r.queue.error}` : r.queue.consumers === 0 ? 'no consumer' : 'ok',
    ],
    [
      `dead letters ${r.deadLetterQueue.name}`,
      `${v(r.deadLetterQueue.messages)} messages`,
      r.deadLetterQueue.error ? `PROBLEM: ${r.deadLetterQueue.error}` : r.deadLetterQueue.messages ? 'inspect: logship dlq list' : 'ok',
    ],
  ];
  const es = r.elasticsearch;
  if (es) {
    rows.push([
      'Elasticsearch',
      `${es.node} cluster ${es.clusterStatus ?? '-'}, ${v(es.documents)} documents in ${es.indexPattern}`,
      es.error ? `DOWN: ${es.error}` : es.clusterStatus === 'red' ? 'PROBLEM: cluster red' : 'ok',
    ]);
  }
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max(...rows.map((x) => x[1].length));
  return `${rows.map(([a, b, c]) => `${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`).join('\n')}\n${r.ok ? 'status: ok' : 'status: PROBLEM'}\n`;
}

export async function runStatus({ config }: CommandContext): Promise<number> {
  const report = await collectStatus(config);
  process.stdout.write(config.json ? `${JSON.stringify(report, null, 2)}\n` : human(report));
  return report.ok ? ExitCodes.OK : ExitCodes.FAILURE;
}
