/**
 * `bootstrap --kibana-url`: a Kibana data view of what logship writes (the
 * wildcard of --index, or the --data-stream), through Kibana 8's data views
 * API. The view's id is derived from its space and its pattern, so bootstrap
 * is idempotent: it looks the id up first ("exists"), creates it when missing
 * ("created"), and a create that loses a race with another bootstrap (400/409)
 * finds it again. The space is part of the id because Kibana 8 keeps data views
 * as saved objects shared between spaces (namespaceType "multiple"): an id is
 * unique across all spaces, so the same pattern in two spaces needs two ids.
 * Kibana logs in to Elasticsearch's users: the credentials are the URL's own
 * user:password@, else --es-api-key, else --es-username/--es-password. Over
 * https it trusts the --es-ca file (else the system CAs), with the client
 * certificate of --es-cert/--es-key: Kibana has no TLS options of its own.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Config } from '../config/schema.js';
import { ErrorCodes, LogshipError, errorMessage } from '../errors.js';
import { namerFor } from '../index-name.js';
import { maskUrl, safeDecode, scrubConfigSecrets, scrubSecrets, splitUrl } from '../logger.js';
import { readTls } from '../tls.js';

export type KibanaSettings = Pick<Config, 'kibanaUrl' | 'esUsername' | 'esPassword' | 'esApiKey' | 'esTimeout'> &
  Partial<Pick<Config, 'esCa' | 'esCert' | 'esKey'>>;

/** The data view logship asks for: stable id, the pattern as title, @timestamp as its time field. */
export interface DataViewSpec {
  id: string;
  title: string;
  name: string;
  timeFieldName: string;
}

export const DATA_VIEW_PATH = '/api/data_views/data_view';
/** a GET answers the view with its field list: bounded, like every buffer */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** The Kibana space of --kibana-url: SPACE of a path ending in /s/SPACE, else "default" (also for an empty URL). */
export function kibanaSpace(kibanaUrl: string): string {
  if (!kibanaUrl) return 'default';
  const m = /\/s\/([^/]+)\/*$/.exec(new URL(kibanaUrl).pathname);
  return m ? safeDecode(m[1]!) : 'default';
}

function slugOf(text: string): string {
  return text.replace(/[^a-z0-9_.-]+/g, '_');
}

/**
 * The data view of --data-stream, else of every index of --index, in the space
 * of --kibana-url. The id holds the space and a hash of space and pattern:
 * logship-logs-_-<hash> in the default space, logship-ops-logs-_-<hash> in /s/ops.
 */
export function dataViewSpec(layout: Pick<Config, 'index' | 'dataStream' | 'kibanaUrl'>): DataViewSpec {
  const title = namerFor(layout).wildcard;
  const space = kibanaSpace(layout.kibanaUrl);
  const hash = createHash('sha256').update(`${space}\n${title}`).digest('hex').slice(0, 8);
  const inSpace = space === 'default' ? '' : `${slugOf(space)}-`;
  return { id: `logship-${inSpace}${slugOf(title)}-${hash}`, title, name: `logship ${title}`, timeFieldName: '@timestamp' };
}

/** what went wrong: the HTTP status Kibana answered, no answer at all, or a view that is not as declared */
export type KibanaFailure = number | 'no answer' | 'mismatch';

/** A LOGSHIP_KIBANA error that says how Kibana failed (`status`). */
export class KibanaError extends LogshipError {
  constructor(
    message: string,
    hint: string,
    readonly status: KibanaFailure,
    cause?: unknown,
  ) {
    super(ErrorCodes.KIBANA, message, { hint, cause });
  }
}

/** A few words on why Kibana failed, for bootstrap --check's summary: by the HTTP status, not always "unreachable". */
export function kibanaFailureSummary(err: unknown): string {
  if (!(err instanceof KibanaError)) return 'Kibana failed';
  const { status } = err;
  if (status === 'no answer') return 'Kibana unreachable';
  if (status === 'mismatch') return 'changed by hand';
  if (status === 401) return 'Kibana refused the login, HTTP 401';
  if (status === 403) return 'Kibana refused the permission, HTTP 403';
  if (status === 502 || status === 503 || status === 504) return `Kibana not ready, HTTP ${status}`;
  if (status === 404) return 'Kibana has no such API or space, HTTP 404';
  if (status < 300) return `not a Kibana answer, HTTP ${status}`;
  return `Kibana refused, HTTP ${status}`;
}

interface KibanaAnswer {
  status: number;
  body: Record<string, unknown> | undefined;
  /** the start of the raw answer, for a message when it is not JSON */
  text: string;
}

function authorization(s: KibanaSettings): string | undefined {
  const { user, password } = splitUrl(s.kibanaUrl);
  if (user && password) return `Basic ${Buffer.from(`${safeDecode(user)}:${safeDecode(password)}`).toString('base64')}`;
  if (s.esApiKey) return `ApiKey ${s.esApiKey}`;
  if (s.esUsername) return `Basic ${Buffer.from(`${s.esUsername}:${s.esPassword}`).toString('base64')}`;
  return undefined;
}

/** The URL of an API path under --kibana-url (its path is a base path or a space, /s/SPACE). */
function apiUrl(kibanaUrl: string, path: string): URL {
  const url = new URL(kibanaUrl);
  url.username = '';
  url.password = '';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
  url.search = '';
  url.hash = '';
  return url;
}

function where(s: KibanaSettings): string {
  return `Kibana at ${maskUrl(s.kibanaUrl)}`;
}

function scrub(s: KibanaSettings, text: string): string {
  return scrubConfigSecrets(scrubSecrets(text, [s.kibanaUrl]), s);
}

function fail(message: string, hint: string, status: KibanaFailure, cause?: unknown): KibanaError {
  return new KibanaError(message, hint, status, cause);
}

const RUN_AGAIN = 'bootstrap is safe to run again; leave --kibana-url empty to skip the data view';

async function call(s: KibanaSettings, method: 'GET' | 'POST', path: string, body?: unknown): Promise<KibanaAnswer> {
  const url = apiUrl(s.kibanaUrl, path);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const auth = authorization(s);
  const headers: Record<string, string> = { accept: 'application/json', 'kbn-xsrf': 'logship' };
  if (auth) headers.authorization = auth;
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  const tls = url.protocol === 'https:' ? readTls('es', { ca: s.esCa ?? '', cert: s.esCert ?? '', key: s.esKey ?? '' }) : undefined;
  const transport = url.protocol === 'https:' ? https : http;
  let text: string;
  let status: number;
  try {
    ({ status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = transport.request(url, { method, headers, timeout: s.esTimeout, ...(tls ?? {}) }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) req.destroy(new Error(`the answer is larger than ${MAX_RESPONSE_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${s.esTimeout} ms (--es-timeout)`)));
      req.on('error', reject);
      req.end(payload);
    }));
  } catch (err) {
    throw fail(
      `${where(s)} did not answer: ${scrub(s, errorMessage(err))}`,
      `is Kibana running and reachable? check --kibana-url (LOGSHIP_KIBANA_URL); ${RUN_AGAIN}`,
      'no answer',
      err,
    );
  }
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  const answer: KibanaAnswer = {
    status,
    body: parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined,
    text: text.slice(0, 300),
  };
  refuseCommon(s, method, path, answer);
  return answer;
}

/** Kibana's own words for an error ({statusCode, error, message}), scrubbed and cut short. */
function said(s: KibanaSettings, answer: KibanaAnswer): string {
  const message = typeof answer.body?.message === 'string' ? answer.body.message.slice(0, 1000) : answer.text;
  return scrub(s, message.replace(/\s+/g, ' ').trim()) || 'no message';
}

/** The answers that mean the same for every call: login, permission, not ready, not Kibana. */
function refuseCommon(s: KibanaSettings, method: string, path: string, answer: KibanaAnswer): void {
  const { status } = answer;
  if (status === 401) {
    throw fail(
      `${where(s)} refused the login (HTTP 401: ${said(s, answer)})`,
      'Kibana logs in with Elasticsearch users: set --es-api-key, or --es-username and --es-password, or user:password@ in --kibana-url',
      status,
    );
  }
  if (status === 403) {
    throw fail(
      `${where(s)} refused ${method} ${path} (HTTP 403: ${said(s, answer)})`,
      'the user needs the Kibana privilege to manage data views (Stack Management > Data Views: all) in the space of --kibana-url',
      status,
    );
  }
  if (status === 503 || status === 502 || status === 504) {
    throw fail(
      `${where(s)} is not ready (HTTP ${status}: ${said(s, answer)})`,
      `wait until Kibana has started (GET /api/status), then run bootstrap again; ${RUN_AGAIN}`,
      status,
    );
  }
  if (status >= 500 || status < 200) {
    throw fail(`${where(s)} failed ${method} ${path} (HTTP ${status}: ${said(s, answer)})`, `look at Kibana's log; ${RUN_AGAIN}`, status);
  }
  if (status < 300 && answer.body === undefined) {
    throw fail(
      `${where(s)} did not answer ${method} ${path} like Kibana (HTTP ${status}, not a JSON object)`,
      'check that --kibana-url is the Kibana URL (port 5601), not Elasticsearch',
      status,
    );
  }
}

function notFound(s: KibanaSettings, method: string, answer: KibanaAnswer): LogshipError {
  return fail(
    `${where(s)} has no ${method} ${DATA_VIEW_PATH} (HTTP 404: ${said(s, answer)})`,
    'Kibana 8 is needed (data views API); a space is written http://host:5601/s/SPACE and must exist; check --kibana-url',
    answer.status,
  );
}

export interface DataViewCheck {
  state: 'ok' | 'missing' | 'mismatch';
  problem?: string;
}

/** Looks the data view up by id: undefined when Kibana answers 404 for it. */
async function lookUp(s: KibanaSettings, spec: DataViewSpec): Promise<Record<string, unknown> | undefined> {
  const path = `${DATA_VIEW_PATH}/${encodeURIComponent(spec.id)}`;
  const answer = await call(s, 'GET', path);
  if (answer.status === 404) return undefined;
  if (answer.status >= 300) {
    throw fail(`${where(s)} refused GET ${path} (HTTP ${answer.status}: ${said(s, answer)})`, `check --kibana-url; ${RUN_AGAIN}`, answer.status);
  }
  const view = answer.body?.data_view;
  if (!view || typeof view !== 'object') {
    throw fail(
      `${where(s)} answered GET ${path} without a data_view`,
      'check that --kibana-url is the Kibana URL (port 5601), not Elasticsearch',
      answer.status,
    );
  }
  return view as Record<string, unknown>;
}

function compare(view: Record<string, unknown>, spec: DataViewSpec): DataViewCheck {
  const problems: string[] = [];
  if (view.title !== spec.title) problems.push(`its pattern is ${JSON.stringify(view.title)}, expected ${JSON.stringify(spec.title)}`);
  if (view.timeFieldName !== spec.timeFieldName) {
    problems.push(`its time field is ${JSON.stringify(view.timeFieldName ?? null)}, expected ${JSON.stringify(spec.timeFieldName)}`);
  }
  return problems.length ? { state: 'mismatch', problem: problems.join('; ') } : { state: 'ok' };
}

/** bootstrap --check: whether the data view exists as logship declares it. Throws LOGSHIP_KIBANA when Kibana does not answer. */
export async function checkDataView(s: KibanaSettings, spec: DataViewSpec): Promise<DataViewCheck> {
  const view = await lookUp(s, spec);
  return view ? compare(view, spec) : { state: 'missing' };
}

/** bootstrap: creates the data view unless it exists; says which. */
export async function ensureDataView(s: KibanaSettings, spec: DataViewSpec): Promise<'created' | 'exists'> {
  const mismatch = (check: DataViewCheck) =>
    fail(
      `Kibana data view "${spec.id}" exists at ${maskUrl(s.kibanaUrl)}, but ${check.problem}`,
      'it was changed by hand: delete it in Kibana (Stack Management > Data Views) and run bootstrap again',
      'mismatch',
    );
  const existing = await lookUp(s, spec);
  if (existing) {
    const check = compare(existing, spec);
    if (check.state !== 'ok') throw mismatch(check);
    return 'exists';
  }
  const body = { data_view: { id: spec.id, title: spec.title, name: spec.name, timeFieldName: spec.timeFieldName, allowNoIndex: true }, override: false };
  const answer = await call(s, 'POST', DATA_VIEW_PATH, body);
  if (answer.status < 300) return 'created';
  if (answer.status === 404) throw notFound(s, 'POST', answer);
  // 400/409: created meanwhile by another bootstrap (same id), or refused for another reason
  const raced = answer.status === 400 || answer.status === 409 ? await lookUp(s, spec) : undefined;
  if (raced) {
    const check = compare(raced, spec);
    if (check.state !== 'ok') throw mismatch(check);
    return 'exists';
  }
  const hint =
    answer.status === 409
      ? `a saved object with the id "${spec.id}" exists in another space of this Kibana (data view ids are unique across ` +
        `spaces): delete it there, or share it to this space; ${RUN_AGAIN}`
      : `a data view named "${spec.name}" with another id is refused as a duplicate: rename or delete it in Kibana; ${RUN_AGAIN}`;
  throw fail(`${where(s)} refused the data view "${spec.title}" (HTTP ${answer.status}: ${said(s, answer)})`, hint, answer.status);
}
