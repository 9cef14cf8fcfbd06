/**
 * The official Elasticsearch client, configured from logship options.
 *
 * --es-node takes one URL or the nodes of one cluster as a comma-separated
 * list. The client then uses its ClusterConnectionPool: requests go round-robin
 * to the living nodes; a node that fails to connect (or answers 502/503/504)
 * is marked dead and skipped, and the same request moves on to the
 * next living node at once; a dead node is pinged again after 60 s (doubling on
 * each failure up to 32 min) and takes requests again when it answers.
 */
import { Client, ClusterConnectionPool, errors, type Connection, type NodeOptions } from '@elastic/elasticsearch';
import type { Config } from '../config/schema.js';
import { type Logger, maskUrl, safeDecode, splitUrl, splitUrlList } from '../logger.js';
import { readTls } from '../tls.js';

export { Client, errors as esErrors };

export type EsSettings = Pick<Config, 'esNode' | 'esUsername' | 'esPassword' | 'esApiKey' | 'esTimeout'> &
  Partial<Pick<Config, 'esCa' | 'esCert' | 'esKey' | 'esCompression'>>;

/** The URLs of --es-node, trimmed, in the given order (a single URL is a list of one). */
export function esNodeUrls(esNode: string): string[] {
  return splitUrlList(esNode)
    .map((u) => u.trim())
    .filter((u) => u.length > 0);
}

/**
 * One node of the list: its URL without credentials, and its own basic-auth
 * header when the URL carries user:password@. The client itself would apply the
 * first URL's credentials to every node; each node keeps its own here. A URL
 * with only one of the two (user:@host, user@host, :password@host) never gets
 * here: the configuration refuses it (formats.ts), rather than this node
 * falling back to the global credentials without a word.
 */
function nodeOptions(url: string): NodeOptions {
  const parsed = new URL(url);
  const { user, password } = splitUrl(url);
  parsed.username = '';
  parsed.password = '';
  const node: NodeOptions = { url: parsed };
  if (user && password) {
    // decoded like the client does (percent-encoding in a URL is not part of the password)
    node.headers = { authorization: `Basic ${Buffer.from(`${safeDecode(user)}:${safeDecode(password)}`).toString('base64')}` };
  }
  return node;
}

/** The client's ClusterConnectionPool, telling when a node of several goes dead or comes back (for the log). */
class NodePool extends ClusterConnectionPool {
  onNodeChange: ((node: string, alive: boolean) => void) | undefined;

  override markDead(connection: Connection): this {
    const wasAlive = connection.status === 'alive';
    super.markDead(connection);
    if (wasAlive && this.size > 1) this.onNodeChange?.(maskUrl(connection.url.toString()), false);
    return this;
  }

  override markAlive(connection: Connection): this {
    const wasDead = connection.status === 'dead';
    super.markAlive(connection);
    if (wasDead && this.size > 1) this.onNodeChange?.(maskUrl(connection.url.toString()), true);
    return this;
  }
}

/** One log line when a node of --es-node is marked dead (skipped), and one when it takes requests again. */
export function logEsNodeChanges(client: Client, logger: Logger): void {
  const pool = client.connectionPool;
  if (!(pool instanceof NodePool)) return;
  pool.onNodeChange = (node, alive) => {
    if (alive) logger.info({ node }, 'Elasticsearch node answers again: it takes requests');
    else logger.warn({ node }, 'Elasticsearch node did not answer: the other nodes take its requests until it answers a ping (after 60 s, then longer)');
  };
}

export function createEsClient(s: EsSettings): Client {
  // credentials in a node's URL win for that node; the options apply to the others
  const auth = s.esApiKey ? { apiKey: s.esApiKey } : s.esUsername ? { username: s.esUsername, password: s.esPassword } : undefined;
  const tls = readTls('es', { ca: s.esCa ?? '', cert: s.esCert ?? '', key: s.esKey ?? '' });
  const urls = esNodeUrls(s.esNode);
  return new Client({
    nodes: urls.map(nodeOptions),
    // no `Connection` option: the client's default (undici), on purpose. Its HttpConnection (Node's
    // http) spent less CPU but turns a host that is down into a timeout that never moves to the next
    // node, and Elasticsearch's early 413 on a large body into a connection error (docs/performance.md)
    ConnectionPool: NodePool,
    resurrectStrategy: 'ping',
    ...(auth ? { auth } : {}),
    ...(tls ? { tls } : {}),
    requestTimeout: s.esTimeout,
    // logship retries itself, item by item, with backoff (bulk outcome table). With several
    // nodes the client moves a request that found a node dead (no connection, 502/503/504) to
    // each other node once, at once: a bulk is create-by-id, so sending it again is a 409, never
    // a copy. A request that timed out waiting for its answer's headers is not moved (the node may
    // still be working on it); one whose answer stalls after the headers (undici's body timeout)
    // is a connection error: its node is marked dead and the request moved
    maxRetries: urls.length - 1,
    // gzip request bodies (--es-compression); the default is chosen by measurement (docs/performance.md)
    compression: s.esCompression ?? false,
    // what an error keeps of its request: 'remove' drops the headers (credentials) and the
    // connection. The default, 'replace', copies the whole request into the error to redact it,
    // the bulk body key by key: 4 s of CPU and 800 MB for a failed bulk of 5 MB, 130 ms and 77 MB
    // for one of 500 events (a 503, a timeout, a 413), the event loop blocked (no acks, no heartbeats)
    redaction: { type: 'remove' },
    name: 'logship',
  });
}

/** What /health says about one node: its URL masked, and whether the client sends it requests. */
export interface EsNodeState {
  node: string;
  alive: boolean;
}

/** The nodes of a client's pool, masked, with the pool's view of each (a dead node is skipped until it is pinged back). */
export function esNodeStates(client: Client): EsNodeState[] {
  const pool = client.connectionPool as ClusterConnectionPool;
  return pool.connections.map((c) => ({ node: maskUrl(c.url.toString()), alive: c.status === 'alive' }));
}

/** HTTP status of a client error, if it has one. */
export function esStatusOf(err: unknown): number | undefined {
  if (err instanceof errors.ResponseError) return err.statusCode ?? undefined;
  return undefined;
}
