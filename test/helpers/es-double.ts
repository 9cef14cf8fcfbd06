/**
 * An Elasticsearch HTTP double that the official client accepts: the product
 * header on every 2xx, JSON bodies, real _bulk item shapes, refresh semantics
 * (documents are invisible to _count/_search until a refresh), index
 * templates, and switchable faults (down, 503, item 429s, 400 documents,
 * latency). Like Elasticsearch 8 it refuses a request body over
 * `maxContentLength` (http.max_content_length, 100mb) with an empty 413 (on
 * the headers when content-length says so, while the client still sends), and
 * a document nested deeper than 1000 levels with a 400 item.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { DEFAULT_MAX_CONTENT_LENGTH, tooDeepAt, tooDeepItem } from './es-limits.js';
import { conflictItem, parsingFailedItem, rejectedItem } from './es-bulk-items.js';
import { invalidIndexName, invalidIndexNameItem } from './es-index-names.js';
import { routeAdmin } from './es-double-admin.js';
import { matches, seeded, wildcardToRegex } from './es-query.js';
import { compileFilterPath, filterPath, type PathNode } from './filter-path.js';

export { DEFAULT_MAX_CONTENT_LENGTH, MAX_NESTING_DEPTH, tooDeepAt } from './es-limits.js';
export { invalidIndexName } from './es-index-names.js';

export interface StoredDoc {
  id: string;
  index: string;
  source: Record<string, unknown>;
  visible: boolean;
}

export interface Faults {
  /** 'refuse': connections are reset; '503': every request answers 503 */
  down: null | 'refuse' | '503';
  /** fraction of bulk items answered 429 es_rejected_execution_exception */
  itemRate429: number;
  /** documents answered 400 document_parsing_exception */
  reject: ((source: Record<string, unknown>) => boolean) | null;
  /** added latency of every request (a 413 included: it crosses the same network) */
  latencyMs: number;
  /**
   * a successful answer sends its headers and the first half of its body,
   * then nothing more (a node that hangs mid-answer); what the request
   * asked for is done, as on a node that wrote the documents and then stalled
   */
  stallBody: boolean;
}

export interface BulkRecord {
  ids: Array<string | undefined>;
  indices: string[];
  statuses: number[];
}

const PRODUCT = { 'x-elastic-product': 'Elasticsearch' };

/** what documents hold when sources are not kept, and the _shards of a write (both shared, never changed) */
const NO_SOURCE: Record<string, unknown> = Object.freeze({});
const SHARDS_OK = Object.freeze({ total: 1, successful: 1, failed: 0 });

export class EsDouble {
  readonly indices = new Map<string, Map<string, StoredDoc>>();
  readonly templates = new Map<string, unknown>();
  readonly bulks: BulkRecord[] = [];
  faults: Faults = { down: null, itemRate429: 0, reject: null, latencyMs: 0, stallBody: false };
  requests = 0;
  /** answers left hanging by the stallBody fault */
  stalledAnswers = 0;
  /** requests waiting out the latency fault right now */
  held = 0;
  /** epoch ms of the last _bulk answer (0: none yet) */
  bulkAnsweredAt = 0;
  /** false: remember ids only (benchmarks with millions of documents) */
  keepSources = true;
  /** false: no per-bulk records (ids, indices, statuses) are kept (benchmarks) */
  keepBulkRecords = true;
  private readonly filters = new WeakMap<http.ServerResponse, PathNode>();
  private readonly compiledFilters = new Map<string, PathNode>();
  /**
   * false: document sources are only checked to be one JSON object line, not
   * parsed (benchmarks: a real cluster parses on its own nodes, not on the
   * indexer's cores); ignored while a reject fault is set
   */
  parseSources = true;
  /** called for every document stored (benchmarks measure latency with it) */
  onDocument: ((source: Record<string, unknown>, at: number) => void) | null = null;
  /** documents stored so far, visible or not */
  stored = 0;
  /** http.max_content_length: a request body over it is answered 413 with an empty body, like Elasticsearch */
  maxContentLength = DEFAULT_MAX_CONTENT_LENGTH;
  /** requests answered 413 because of maxContentLength */
  tooLarge = 0;
  private server: http.Server | null = null;
  private sockets = new Set<Socket>();
  private random = seeded(42);
  url = '';

  /** when set, every request must carry this Authorization header (401 security_exception otherwise) */
  requiredAuthorization: string | null = null;
  /** Authorization headers seen */
  readonly authorizations = new Set<string>();
  /** the double whose documents, templates and admin state this one shares (itself unless made with one) */
  readonly cluster: EsDouble;

  /**
   * `cluster`: another double to share documents, templates, ILM policies,
   * pipelines and data streams with, like two nodes of one cluster (each
   * keeps its own server, faults and request records).
   */
  constructor(cluster?: EsDouble) {
    this.cluster = cluster?.cluster ?? this;
    if (cluster) {
      this.indices = this.cluster.indices;
      this.templates = this.cluster.templates;
    }
  }

  async start(port = 0, tls?: { key: Buffer; cert: Buffer }): Promise<string> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.handle(req, res);
    const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, handler) : http.createServer(handler);
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.server = server;
    this.url = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = null;
  }

  setFaults(f: Partial<Faults>): void {
    this.faults = { ...this.faults, ...f };
    if (f.itemRate429 !== undefined) this.random = seeded(42);
  }

  clearFaults(): void {
    this.faults = { down: null, itemRate429: 0, reject: null, latencyMs: 0, stallBody: false };
  }

  /** items answered with `status` in indices matching the pattern */
  itemsWithStatus(pattern: string, status: number): number {
    const re = wildcardToRegex(pattern);
    let n = 0;
    for (const b of this.bulks) {
      b.statuses.forEach((s, i) => {
        if (s === status && re.test(b.indices[i]!)) n++;
      });
    }
    return n;
  }

  /** forgets the indices (and bulk records) of a pattern, to keep memory flat across scenarios */
  drop(pattern: string): void {
    const re = wildcardToRegex(pattern);
    for (const name of [...this.indices.keys()]) if (re.test(name)) this.indices.delete(name);
    for (let i = this.bulks.length - 1; i >= 0; i--) if (this.bulks[i]!.indices.every((x) => re.test(x))) this.bulks.splice(i, 1);
  }

  /** every stored document (visible or not) of indices matching the pattern */
  docs(pattern = '*'): StoredDoc[] {
    const re = wildcardToRegex(pattern);
    const out: StoredDoc[] = [];
    for (const [name, docs] of this.indices) if (re.test(name)) out.push(...docs.values());
    return out;
  }

  private send(res: http.ServerResponse, status: number, body: unknown): void {
    // like Elasticsearch: filter_path applies to successful responses, not to errors
    const filter = status < 300 ? this.filters.get(res) : undefined;
    const text = JSON.stringify(filter ? (filterPath(body, filter) ?? {}) : body);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) };
    if (status >= 200 && status < 300) Object.assign(headers, PRODUCT);
    res.writeHead(status, headers);
    if (this.faults.stallBody && status < 300) {
      // the rest never comes; stop() destroys the socket
      this.stalledAnswers++;
      res.write(text.slice(0, text.length >> 1));
      return;
    }
    res.end(text);
  }

  private error(res: http.ServerResponse, status: number, type: string, reason: string): void {
    this.send(res, status, { error: { root_cause: [{ type, reason }], type, reason }, status });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.requests++;
    if (this.faults.down === 'refuse') {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    const declared = Number(req.headers['content-length'] ?? 0);
    let size = 0;
    let over = false;
    // Elasticsearch 8: "413 Request Entity Too Large", content-length 0, no product header. Like
    // Netty's aggregator it answers as soon as it knows (on the headers when content-length is
    // over the limit, while the client may still be sending), never buffers the body, reads it
    // to its end and keeps the connection
    const refuse = () => {
      over = true;
      chunks.length = 0;
      this.tooLarge++;
      const answer = () => {
        res.writeHead(413, { 'content-length': '0' });
        res.end();
      };
      if (this.faults.latencyMs <= 0) return answer();
      this.held++;
      setTimeout(() => {
        this.held--;
        answer();
      }, this.faults.latencyMs);
    };
    if (declared > this.maxContentLength) refuse();
    for await (const c of req) {
      if (over) continue;
      size += (c as Buffer).length;
      if (size > this.maxContentLength) refuse();
      else chunks.push(c as Buffer);
    }
    if (over) return;
    if (this.faults.latencyMs > 0) {
      this.held++;
      await new Promise((r) => setTimeout(r, this.faults.latencyMs));
      this.held--;
    }
    const body = Buffer.concat(chunks).toString('utf8');
    if (this.faults.down === '503') {
      this.error(res, 503, 'unavailable_shards_exception', 'the double is switched to 503');
      return;
    }
    if (req.headers.authorization) this.authorizations.add(req.headers.authorization);
    if (this.requiredAuthorization && req.headers.authorization !== this.requiredAuthorization) {
      this.error(res, 401, 'security_exception', 'missing authentication credentials for REST request');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const filter = url.searchParams.get('filter_path');
    if (filter) {
      let node = this.compiledFilters.get(filter);
      if (!node) {
        node = compileFilterPath(filter);
        this.compiledFilters.set(filter, node);
      }
      this.filters.set(res, node);
    }
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const method = req.method ?? 'GET';
    try {
      this.route(method, parts, body, res);
    } catch (err) {
      this.error(res, 400, 'x_content_parse_exception', (err as Error).message);
    }
  }

  private route(method: string, parts: string[], body: string, res: http.ServerResponse): void {
    if (routeAdmin(this, method, parts, body, res)) return; // templates, ILM, pipelines, data streams
    const [first, second, third] = parts;
    if (parts.length === 0) {
      if (method === 'HEAD') return this.send(res, 200, {});
      return this.send(res, 200, {
        name: 'es-double',
        cluster_name: 'logship-test',
        version: { number: '8.19.0', build_flavor: 'default', lucene_version: '9.12.0' },
        tagline: 'You Know, for Search',
      });
    }
    if (first === '_index_template' && second) {
      if (method === 'PUT' || method === 'POST') {
        this.templates.set(second, JSON.parse(body));
        return this.send(res, 200, { acknowledged: true });
      }
      if (!this.templates.has(second)) return this.error(res, 404, 'resource_not_found_exception', `index template matching [${second}] not found`);
      if (method === 'HEAD') return this.send(res, 200, {});
      return this.send(res, 200, { index_templates: [{ name: second, index_template: this.templates.get(second) }] });
    }
    if (first === '_cluster' && second === 'health') {
      return this.send(res, 200, { cluster_name: 'logship-test', status: 'green', number_of_nodes: 1 });
    }
    if (first === '_bulk') return this.bulk(body, undefined, res);
    if (second === '_bulk') return this.bulk(body, first, res);
    if (first === '_refresh') return this.refresh('*', res);
    if (second === '_refresh') return this.refresh(first!, res);
    if (first === '_count') return this.count('*', body, res);
    if (second === '_count') return this.count(first!, body, res);
    if (first === '_search') return this.search('*', body, res);
    if (second === '_search') return this.search(first!, body, res);
    if (second === '_doc' && third && method === 'GET') {
      const doc = this.indices.get(first!)?.get(third);
      if (!doc) return this.send(res, 404, { _index: first, _id: third, found: false });
      return this.send(res, 200, { _index: first, _id: third, found: true, _source: doc.source });
    }
    if (parts.length === 1 && method === 'DELETE') {
      const re = wildcardToRegex(first!);
      for (const name of [...this.indices.keys()]) if (re.test(name)) this.indices.delete(name);
      return this.send(res, 200, { acknowledged: true });
    }
    this.error(res, 404, 'not_found', `no handler for ${method} /${parts.join('/')} in the double`);
  }

  private bulk(body: string, defaultIndex: string | undefined, res: http.ServerResponse): void {
    const lines = body.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    else return this.error(res, 400, 'illegal_argument_exception', 'The bulk request must be terminated by a newline [\\n]');
    const items: unknown[] = [];
    const record: BulkRecord | null = this.keepBulkRecords ? { ids: [], indices: [], statuses: [] } : null;
    let errors = false;
    let took = 0;
    for (let i = 0; i < lines.length; i++) {
      const action = JSON.parse(lines[i]!) as Record<string, { _index?: string; _id?: string }>;
      const keys = Object.keys(action);
      if (keys.length !== 1 || !['create', 'index'].includes(keys[0]!)) {
        return this.error(res, 400, 'illegal_argument_exception', `Malformed action/metadata line [${i + 1}]`);
      }
      const op = keys[0]!;
      const meta = action[op]!;
      const sourceLine = lines[++i];
      if (sourceLine === undefined) return this.error(res, 400, 'illegal_argument_exception', 'source missing');
      const index = meta._index ?? defaultIndex;
      if (!index) return this.error(res, 400, 'action_request_validation_exception', 'index is missing');
      const id = meta._id ?? randomBytes(10).toString('base64url');
      const item = this.item(op, index, id, sourceLine);
      if (item === null) return this.error(res, 400, 'x_content_parse_exception', `[${i + 1}] source is not an object`);
      if (record) {
        record.ids.push(meta._id);
        record.indices.push(index);
        record.statuses.push(item.status);
      }
      if (item.status >= 300) errors = true;
      items.push(op === 'create' ? { create: item } : { index: item });
      took++;
    }
    if (record) this.bulks.push(record);
    this.bulkAnsweredAt = Date.now();
    this.send(res, 200, { took, errors, items });
  }

  /** the answer for one document, or null when its source is not a JSON object (the whole request fails) */
  private item(op: string, index: string, id: string, sourceLine: string): { status: number } | null {
    // Elasticsearch creates a missing index on a write, and refuses a name it cannot create for that item only
    if (!this.indices.has(index) && invalidIndexName(index) !== undefined) return invalidIndexNameItem(index, id);
    // Elasticsearch parses a source on its shard: too deep is a 400 item, the rest of the bulk goes on
    const deepAt = tooDeepAt(sourceLine);
    if (deepAt >= 0) return tooDeepItem(index, id, deepAt);
    const parse = this.parseSources || this.faults.reject !== null || this.onDocument !== null || this.keepSources;
    const source = parse ? (JSON.parse(sourceLine) as unknown) : sourceLine.startsWith('{') && sourceLine.endsWith('}') ? {} : null;
    if (source === null || typeof source !== 'object' || Array.isArray(source)) return null;
    return this.store(op, index, id, source as Record<string, unknown>);
  }

  private store(op: string, index: string, id: string, source: Record<string, unknown>) {
    if (this.faults.itemRate429 > 0 && this.random() < this.faults.itemRate429) return rejectedItem(index, id);
    if (this.faults.reject?.(source)) return parsingFailedItem(index, id);
    let docs = this.indices.get(index);
    if (!docs) {
      docs = new Map();
      this.indices.set(index, docs);
    }
    const existing = docs.get(id);
    if (existing && op === 'create') return conflictItem(index, id);
    docs.set(id, { id, index, source: this.keepSources ? source : NO_SOURCE, visible: false });
    this.stored++;
    this.onDocument?.(source, Date.now());
    return { _index: index, _id: id, _version: 1, result: existing ? 'updated' : 'created', _shards: SHARDS_OK, status: existing ? 200 : 201 };
  }

  private refresh(pattern: string, res: http.ServerResponse): void {
    for (const d of this.docs(pattern)) d.visible = true;
    this.send(res, 200, { _shards: { total: 1, successful: 1, failed: 0 } });
  }

  private visible(pattern: string, body: string): StoredDoc[] {
    const query = body ? (JSON.parse(body) as { query?: unknown }).query : undefined;
    return this.docs(pattern).filter((d) => d.visible && matches(d, query));
  }

  private count(pattern: string, body: string, res: http.ServerResponse): void {
    this.send(res, 200, { count: this.visible(pattern, body).length, _shards: { total: 1, successful: 1, skipped: 0, failed: 0 } });
  }

  private search(pattern: string, body: string, res: http.ServerResponse): void {
    const req = body ? (JSON.parse(body) as { size?: number; from?: number }) : {};
    const hits = this.visible(pattern, body);
    const from = req.from ?? 0;
    const size = req.size ?? 10;
    this.send(res, 200, {
      took: 1,
      timed_out: false,
      hits: {
        total: { value: hits.length, relation: 'eq' },
        hits: hits.slice(from, from + size).map((d) => ({ _index: d.index, _id: d.id, _score: 1, _source: d.source })),
      },
    });
  }
}
