/**
 * A Kibana 8 HTTP double for the data views API, answering like Kibana does
 * (test/unit/kibana-double.test.ts holds it to that):
 * - with `requiredAuthorization` set, a request without that Authorization
 *   header is answered 401 before anything else (Kibana authenticates first);
 * - POST without a kbn-xsrf header: 400 "Request must contain a kbn-xsrf header.";
 * - a POST body is validated like @kbn/config-schema validates the route's
 *   schema: not JSON, not an object, a missing or mistyped title, an unknown
 *   key: 400 with the "[request body.KEY]: ..." message;
 * - a second data view of the same name: 400 "Duplicate data view: NAME"
 *   (unless override); of the same id: 409 conflict;
 * - spaces: /s/SPACE/api/... (an unknown space: 404); views live per space,
 *   but their ids are unique across all spaces, as for Kibana 8's saved
 *   objects of namespaceType "multiple": a GET in another space is 404 and a
 *   POST of an id that exists in another space is 409 conflict (override or not);
 * - faults: `down` 'refuse' (connections reset) or '503' (Kibana not ready),
 *   and `latencyMs` before each answer.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before } from 'node:test';

export interface StoredDataView {
  id: string;
  title: string;
  name: string;
  timeFieldName?: string;
  allowNoIndex?: boolean;
  [key: string]: unknown;
}

export interface KibanaRequestRecord {
  method: string;
  path: string;
  space: string;
  headers: http.IncomingHttpHeaders;
  status: number;
}

/** the keys of dataViewSpecSchema (Kibana's src/plugins/data_views/server/rest_api_routes/schema.ts) */
const SPEC_KEYS: Record<string, 'string' | 'boolean' | 'object' | 'array'> = {
  title: 'string',
  version: 'string',
  id: 'string',
  type: 'string',
  timeFieldName: 'string',
  sourceFilters: 'array',
  fields: 'object',
  typeMeta: 'object',
  fieldFormats: 'object',
  fieldAttrs: 'object',
  allowNoIndex: 'boolean',
  runtimeFieldMap: 'object',
  name: 'string',
  namespaces: 'array',
};

const DATA_VIEW_PATH = '/api/data_views/data_view';

class Answer extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const ERROR_NAMES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  409: 'Conflict',
  415: 'Unsupported Media Type',
  503: 'Service Unavailable',
};

function typeOf(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v;
}

/** @kbn/config-schema's messages for the route's body schema */
function validateBody(body: unknown): { spec: Record<string, unknown>; override: boolean } {
  if (typeOf(body) !== 'object') throw new Answer(400, `[request body]: expected a plain object value, but found [${typeOf(body)}] instead.`);
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) {
    if (key === 'index_pattern') throw new Answer(400, "[request body.index_pattern]: a value wasn't expected to be present");
    if (!['override', 'refresh_fields', 'data_view'].includes(key)) throw new Answer(400, `[request body.${key}]: definition for this key is missing`);
  }
  for (const key of ['override', 'refresh_fields']) {
    if (b[key] !== undefined && typeof b[key] !== 'boolean') {
      throw new Answer(400, `[request body.${key}]: expected value of type [boolean] but got [${typeOf(b[key])}]`);
    }
  }
  const spec = b.data_view;
  if (typeOf(spec) !== 'object') {
    throw new Answer(400, `[request body.data_view.title]: expected value of type [string] but got [${spec === undefined ? 'undefined' : typeOf(spec)}]`);
  }
  const s = spec as Record<string, unknown>;
  for (const [key, value] of Object.entries(s)) {
    const type = SPEC_KEYS[key];
    if (!type) throw new Answer(400, `[request body.data_view.${key}]: definition for this key is missing`);
    if (typeOf(value) !== type) throw new Answer(400, `[request body.data_view.${key}]: expected value of type [${type}] but got [${typeOf(value)}]`);
  }
  if (typeof s.title !== 'string') throw new Answer(400, '[request body.data_view.title]: expected value of type [string] but got [undefined]');
  return { spec: s, override: b.override === true };
}

export class KibanaDouble {
  url = '';
  /** when set, every request must carry this Authorization header (401 otherwise) */
  requiredAuthorization: string | null = null;
  down: null | 'refuse' | '503' = null;
  latencyMs = 0;
  /** spaces that exist ('default' is the one without /s/) */
  readonly spaces = new Set(['default']);
  /** data views by space, then by id */
  readonly views = new Map<string, Map<string, StoredDataView>>();
  readonly requests: KibanaRequestRecord[] = [];
  private server: http.Server | null = null;
  private readonly sockets = new Set<Socket>();

  async start(port = 0): Promise<string> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = null;
  }

  /** the data views of a space */
  dataViews(space = 'default'): StoredDataView[] {
    return [...(this.views.get(space)?.values() ?? [])];
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (this.down === 'refuse') {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    const url = new URL(req.url ?? '/', 'http://x');
    const space = /^\/s\/([^/]+)\//.exec(url.pathname)?.[1];
    const path = space ? url.pathname.slice(`/s/${space}`.length) : url.pathname;
    const record: KibanaRequestRecord = { method: req.method ?? 'GET', path, space: space ?? 'default', headers: req.headers, status: 0 };
    this.requests.push(record);
    let status = 200;
    let body: unknown;
    try {
      body = this.route(record, req.headers, Buffer.concat(chunks).toString('utf8'));
    } catch (err) {
      if (!(err instanceof Answer)) throw err;
      status = err.status;
      body = { statusCode: status, error: ERROR_NAMES[status] ?? 'Error', message: err.message };
    }
    record.status = status;
    const text = JSON.stringify(body);
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) };
    if (status === 401) headers['www-authenticate'] = 'Basic realm="Authorization Required", ApiKey';
    res.writeHead(status, headers);
    res.end(text);
  }

  private route(r: KibanaRequestRecord, headers: http.IncomingHttpHeaders, text: string): unknown {
    if (this.down === '503') throw new Answer(503, 'Kibana server is not ready yet');
    if (this.requiredAuthorization && headers.authorization !== this.requiredAuthorization) throw new Answer(401, 'Unauthorized');
    if (r.method !== 'GET' && r.method !== 'HEAD' && headers['kbn-xsrf'] === undefined) throw new Answer(400, 'Request must contain a kbn-xsrf header.');
    if (!this.spaces.has(r.space)) throw new Answer(404, 'Not Found');
    if (r.path === '/api/status' && r.method === 'GET')
      return { name: 'kibana-double', version: { number: '8.15.3' }, status: { overall: { level: 'available' } } };
    if (r.path === DATA_VIEW_PATH && r.method === 'POST') return this.create(r.space, headers, text);
    const id = r.path.startsWith(`${DATA_VIEW_PATH}/`) ? decodeURIComponent(r.path.slice(DATA_VIEW_PATH.length + 1)) : undefined;
    if (id !== undefined && !id.includes('/') && r.method === 'GET') {
      const view = this.views.get(r.space)?.get(id);
      if (!view) throw new Answer(404, `Saved object [index-pattern/${id}] not found`);
      return { data_view: { ...view, namespaces: [r.space], fields: {} } };
    }
    throw new Answer(404, 'Not Found');
  }

  private create(space: string, headers: http.IncomingHttpHeaders, text: string): unknown {
    if (!String(headers['content-type'] ?? '').startsWith('application/json')) throw new Answer(415, 'Unsupported Media Type');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Answer(400, 'Invalid request payload JSON format');
    }
    const { spec, override } = validateBody(parsed);
    const views = this.views.get(space) ?? new Map<string, StoredDataView>();
    this.views.set(space, views);
    // the route names a view after its title when it has no name
    const view: StoredDataView = {
      ...spec,
      id: (spec.id as string | undefined) ?? randomUUID(),
      title: spec.title as string,
      name: (spec.name as string) || (spec.title as string),
    };
    const dupe = [...views.values()].find((v) => v.name === view.name);
    if (dupe) {
      if (!override) throw new Answer(400, `Duplicate data view: ${view.name}`);
      views.delete(dupe.id);
    }
    if (views.has(view.id) && !override) throw new Answer(409, `Saved object [index-pattern/${view.id}] conflict`);
    for (const [other, theirs] of this.views) {
      if (other !== space && theirs.has(view.id)) throw new Answer(409, `Saved object [index-pattern/${view.id}] conflict`);
    }
    views.set(view.id, view);
    return { data_view: { ...view, version: 'WzEsMV0=', namespaces: [space], fields: {} } };
  }
}

/** A Kibana double for a describe block: started in its before hook (then at kibana.url), stopped in its after hook. */
export function useKibanaDouble(): KibanaDouble {
  const kibana = new KibanaDouble();
  before(() => kibana.start());
  after(() => kibana.stop());
  return kibana;
}
