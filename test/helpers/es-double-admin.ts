/**
 * The admin endpoints of the Elasticsearch double (es-double.ts delegates to
 * routeAdmin first): component templates, index templates with Elasticsearch's
 * validation, ILM policies, ingest pipelines, data streams (create-only writes
 * to a backing index, rollover) and the `pipeline` parameter of _bulk. Each
 * refusal is one Elasticsearch makes, with its error type; contract tests in
 * test/unit/es-double-admin.test.ts go through the official client.
 */
import type http from 'node:http';
import { randomBytes } from 'node:crypto';
import type { EsDouble, StoredDoc } from './es-double.js';
import { wildcardToRegex } from './es-query.js';

interface DataStream {
  name: string;
  generation: number;
  backing: string[];
  template: string;
}

export interface AdminState {
  components: Map<string, Record<string, unknown>>;
  policies: Map<string, { version: number; policy: Record<string, unknown> }>;
  pipelines: Map<string, Record<string, unknown>>;
  dataStreams: Map<string, DataStream>;
  /** the `pipeline` query parameter of every _bulk request ('' when absent) */
  bulkPipelines: string[];
}

const states = new WeakMap<EsDouble, AdminState>();

export function adminState(es: EsDouble): AdminState {
  // the doubles of one cluster share their state
  let s = states.get(es.cluster);
  if (!s) {
    s = { components: new Map(), policies: new Map(), pipelines: new Map(), dataStreams: new Map(), bulkPipelines: [] };
    states.set(es.cluster, s);
  }
  return s;
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    reason: string,
  ) {
    super(reason);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): true {
  const text = JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) };
  if (status < 300) headers['x-elastic-product'] = 'Elasticsearch';
  res.writeHead(status, headers);
  res.end(text);
  return true;
}

function unknownFields(what: string, obj: Record<string, unknown>, allowed: readonly string[]): void {
  const bad = Object.keys(obj).find((k) => !allowed.includes(k));
  if (bad !== undefined) throw new Refusal(400, 'x_content_parse_exception', `[1:2] [${what}] unknown field [${bad}]`);
}

function object(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

const TEMPLATE_KEYS = ['aliases', 'mappings', 'settings', 'lifecycle', 'data_stream_options'] as const;
const INDEX_TEMPLATE_KEYS = [
  'index_patterns',
  'composed_of',
  'template',
  'data_stream',
  'priority',
  'version',
  '_meta',
  'allow_auto_create',
  'ignore_missing_component_templates',
  'deprecated',
] as const;
const PHASE_ACTIONS: Record<string, readonly string[]> = {
  hot: ['set_priority', 'unfollow', 'rollover', 'readonly', 'downsample', 'shrink', 'forcemerge', 'searchable_snapshot'],
  warm: ['set_priority', 'unfollow', 'readonly', 'downsample', 'allocate', 'migrate', 'shrink', 'forcemerge'],
  cold: ['set_priority', 'unfollow', 'readonly', 'downsample', 'searchable_snapshot', 'allocate', 'migrate', 'freeze'],
  frozen: ['unfollow', 'searchable_snapshot'],
  delete: ['wait_for_snapshot', 'delete'],
};
const ROLLOVER_CONDITIONS = ['max_size', 'max_primary_shard_size', 'max_age', 'max_docs', 'max_primary_shard_docs'];
const DURATION = /^\d+(d|h|m|s|ms|micros|nanos)$/;

function componentTemplate(s: AdminState, name: string, body: Record<string, unknown>): void {
  unknownFields('component_template', body, ['template', 'version', '_meta', 'deprecated']);
  if (!('template' in body)) throw new Refusal(400, 'x_content_parse_exception', '[component_template] failed to parse: [template] is required');
  unknownFields('template', object(body.template), TEMPLATE_KEYS);
  s.components.set(name, body);
}

/** the mappings a template composes: its component templates' then its own */
function composedProperties(s: AdminState, body: Record<string, unknown>): Record<string, unknown> {
  const props: Record<string, unknown> = {};
  for (const c of (body.composed_of as string[] | undefined) ?? [])
    Object.assign(props, object(object(object(s.components.get(c)?.template).mappings).properties));
  Object.assign(props, object(object(object(body.template).mappings).properties));
  return props;
}

/** Elasticsearch compares patterns with automata; two wildcards overlap here when either matches the other */
function overlaps(a: string, b: string): boolean {
  return wildcardToRegex(a).test(b) || wildcardToRegex(b).test(a);
}

function indexTemplate(es: EsDouble, s: AdminState, name: string, body: Record<string, unknown>): void {
  unknownFields('index_template', body, INDEX_TEMPLATE_KEYS);
  const patterns = body.index_patterns as string[] | undefined;
  if (!Array.isArray(patterns) || patterns.length === 0) {
    throw new Refusal(400, 'action_request_validation_exception', 'Validation Failed: 1: index patterns are missing;');
  }
  unknownFields('template', object(body.template), TEMPLATE_KEYS);
  const composed = (body.composed_of as string[] | undefined) ?? [];
  const absent = composed.filter((c) => !s.components.has(c) && !((body.ignore_missing_component_templates as string[] | undefined) ?? []).includes(c));
  if (absent.length > 0) {
    throw new Refusal(
      400,
      'invalid_index_template_exception',
      `index_template [${name}] invalid, cause [index template [${name}] specifies component templates [${absent.join(', ')}] that do not exist]`,
    );
  }
  const priority = (body.priority as number | undefined) ?? 0;
  for (const [other, t] of es.templates) {
    const o = object(t);
    if (other === name || ((o.priority as number | undefined) ?? 0) !== priority) continue;
    const theirs = (o.index_patterns as string[] | undefined) ?? [];
    if (patterns.some((p) => theirs.some((q) => overlaps(p, q)))) {
      throw new Refusal(
        400,
        'illegal_argument_exception',
        `index template [${name}] has index patterns ${JSON.stringify(patterns)} matching patterns from existing templates [${other}] with patterns (${other} => ${JSON.stringify(theirs)}) that have the same priority [${priority}], multiple index templates may not match during index creation, please use a different priority`,
      );
    }
  }
  if (body.data_stream !== undefined) {
    const ts = object(composedProperties(s, body)['@timestamp']);
    if (ts.type !== undefined && ts.type !== 'date' && ts.type !== 'date_nanos') {
      throw new Refusal(
        400,
        'illegal_argument_exception',
        `composable template [${name}] template after composition with component templates [${composed.join(', ')}] is invalid: data stream timestamp field [@timestamp] is of type [${String(ts.type)}], but [date,date_nanos] is expected`,
      );
    }
  }
  es.templates.set(name, body);
}

function ilmPolicy(s: AdminState, name: string, body: Record<string, unknown>): void {
  unknownFields('put_lifecycle_request', body, ['policy']);
  const policy = object(body.policy);
  unknownFields('policy', policy, ['phases', '_meta', 'deprecated']);
  for (const [phase, value] of Object.entries(object(policy.phases))) {
    if (!(phase in PHASE_ACTIONS)) throw new Refusal(400, 'illegal_argument_exception', `Timeseries lifecycle does not support phase [${phase}]`);
    const p = object(value);
    unknownFields('phase', p, ['min_age', 'actions']);
    if (p.min_age !== undefined && !DURATION.test(String(p.min_age))) {
      throw new Refusal(
        400,
        'parse_exception',
        `failed to parse setting [min_age] with value [${String(p.min_age)}] as a time value: unit is missing or unrecognized`,
      );
    }
    for (const [action, config] of Object.entries(object(p.actions))) {
      if (!PHASE_ACTIONS[phase]!.includes(action))
        throw new Refusal(400, 'illegal_argument_exception', `invalid action [${action}] defined in phase [${phase}]`);
      if (action === 'rollover' && !Object.keys(object(config)).some((k) => ROLLOVER_CONDITIONS.includes(k))) {
        throw new Refusal(400, 'x_content_parse_exception', '[rollover] failed to parse field: should specify at least one rollover condition');
      }
    }
  }
  s.policies.set(name, { version: (s.policies.get(name)?.version ?? 0) + 1, policy });
}

/** A policy as Elasticsearch answers it: with the defaults it adds (the delete action deletes searchable snapshots too). */
function policyAsAnswered(policy: Record<string, unknown>): Record<string, unknown> {
  const phases = Object.fromEntries(
    Object.entries(object(policy.phases)).map(([phase, value]) => {
      const p = object(value);
      const actions = Object.fromEntries(
        Object.entries(object(p.actions)).map(([action, config]) => [
          action,
          action === 'delete' ? { delete_searchable_snapshot: true, ...object(config) } : config,
        ]),
      );
      return [phase, { ...p, actions }];
    }),
  );
  return { ...policy, phases };
}

function backingName(ds: string, generation: number): string {
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '.');
  return `.ds-${ds}-${day}-${String(generation).padStart(6, '0')}`;
}

/** the data stream a write to `target` goes to: an existing one, or one created from a matching data_stream template */
function dataStreamFor(es: EsDouble, s: AdminState, target: string): DataStream | undefined {
  const existing = s.dataStreams.get(target);
  if (existing) return existing;
  if (es.indices.has(target)) return undefined;
  let best: { name: string; priority: number } | undefined;
  for (const [name, t] of es.templates) {
    const o = object(t);
    const priority = (o.priority as number | undefined) ?? 0;
    if (((o.index_patterns as string[] | undefined) ?? []).some((p) => wildcardToRegex(p).test(target)) && (!best || priority > best.priority)) {
      best = { name, priority };
    }
  }
  if (!best || object(es.templates.get(best.name)).data_stream === undefined) return undefined;
  const ds: DataStream = { name: target, generation: 1, backing: [backingName(target, 1)], template: best.name };
  s.dataStreams.set(target, ds);
  return ds;
}

/**
 * A _bulk that names a pipeline or writes to a data stream is answered here
 * (without the double's fault switches); any other returns false.
 */
function bulk(es: EsDouble, s: AdminState, url: URL, target: string | undefined, body: string, res: http.ServerResponse): boolean {
  const pipeline = url.searchParams.get('pipeline') ?? '';
  s.bulkPipelines.push(pipeline);
  // the double's own _bulk (faults, limits, malformed lines) answers everything else, unparsed here
  if (pipeline === '' && ![...es.templates.values()].some((t) => object(t).data_stream !== undefined)) return false;
  const lines = body.split('\n').filter((l) => l !== '');
  const pairs: Array<{ op: string; index: string; id: string; source: Record<string, unknown> }> = [];
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const action = JSON.parse(lines[i]!) as Record<string, { _index?: string; _id?: string }>;
    const op = Object.keys(action)[0] ?? '';
    const meta = action[op] ?? {};
    pairs.push({ op, index: meta._index ?? target ?? '', id: meta._id ?? randomBytes(10).toString('base64url'), source: JSON.parse(lines[i + 1]!) });
  }
  const missingPipeline = pipeline !== '' && pipeline !== '_none' && !s.pipelines.has(pipeline);
  if (!missingPipeline && !pairs.some((p) => dataStreamFor(es, s, p.index))) return false;
  const items = pairs.map((p) => {
    const fail = (status: number, type: string, reason: string) => ({ [p.op]: { _index: p.index, _id: p.id, status, error: { type, reason } } });
    if (missingPipeline) return fail(400, 'illegal_argument_exception', `pipeline with id [${pipeline}] does not exist`);
    const ds = dataStreamFor(es, s, p.index);
    if (ds && p.op !== 'create') return fail(400, 'illegal_argument_exception', `only write ops with an op_type of create are allowed in data streams`);
    if (ds && p.source['@timestamp'] === undefined) {
      return fail(400, 'document_parsing_exception', '[1:2] failed to parse: data stream timestamp field [@timestamp] is missing');
    }
    // Elasticsearch finds an existing _id only in the index it writes to: the data stream's current write index
    const index = ds ? ds.backing[ds.backing.length - 1]! : p.index;
    let docs = es.indices.get(index);
    if (!docs) {
      docs = new Map<string, StoredDoc>();
      es.indices.set(index, docs);
    }
    if (docs.has(p.id) && p.op === 'create') {
      return {
        [p.op]: {
          _index: index,
          _id: p.id,
          status: 409,
          error: { type: 'version_conflict_engine_exception', reason: `[${p.id}]: version conflict, document already exists (current version [1])` },
        },
      };
    }
    docs.set(p.id, { id: p.id, index, source: p.source, visible: false });
    es.stored++;
    return { [p.op]: { _index: index, _id: p.id, _version: 1, result: 'created', status: 201 } };
  });
  const statuses = items.map((it) => (Object.values(it)[0] as { status: number }).status);
  es.bulks.push({ ids: pairs.map((p) => p.id), indices: pairs.map((p) => p.index), statuses });
  return send(res, 200, { took: 1, errors: statuses.some((st) => st >= 300), items });
}

function rollover(s: AdminState, name: string, res: http.ServerResponse): true {
  const ds = s.dataStreams.get(name);
  if (!ds) return send(res, 404, error('index_not_found_exception', `no such index [${name}]`, 404));
  const old = ds.backing[ds.backing.length - 1];
  ds.generation++;
  ds.backing.push(backingName(name, ds.generation));
  return send(res, 200, {
    acknowledged: true,
    shards_acknowledged: true,
    old_index: old,
    new_index: ds.backing[ds.backing.length - 1],
    rolled_over: true,
    dry_run: false,
    conditions: {},
  });
}

function error(type: string, reason: string, status: number) {
  return { error: { root_cause: [{ type, reason }], type, reason }, status };
}

/** Answers the admin endpoints; false leaves the request to the double. */
export function routeAdmin(es: EsDouble, method: string, parts: string[], body: string, res: http.ServerResponse): boolean {
  const s = adminState(es);
  const [first, second, third] = parts;
  const url = new URL(res.req?.url ?? '/', 'http://x');
  const json = () => object(body ? JSON.parse(body) : {});
  try {
    if (first === '_component_template' && second) {
      if (method === 'PUT' || method === 'POST') {
        componentTemplate(s, second, json());
        return send(res, 200, { acknowledged: true });
      }
      const c = s.components.get(second);
      if (!c) return send(res, 404, error('resource_not_found_exception', `component template matching [${second}] not found`, 404));
      if (method === 'DELETE') {
        s.components.delete(second);
        return send(res, 200, { acknowledged: true });
      }
      return send(res, 200, { component_templates: [{ name: second, component_template: c }] });
    }
    if (first === '_index_template' && second && (method === 'PUT' || method === 'POST')) {
      indexTemplate(es, s, second, json());
      return send(res, 200, { acknowledged: true });
    }
    if (first === '_ilm' && second === 'policy' && third) {
      if (method === 'PUT') {
        ilmPolicy(s, third, json());
        return send(res, 200, { acknowledged: true });
      }
      const p = s.policies.get(third);
      if (!p) return send(res, 404, error('resource_not_found_exception', `Lifecycle policy not found: ${third}`, 404));
      return send(res, 200, { [third]: { version: p.version, modified_date: new Date().toISOString(), policy: policyAsAnswered(p.policy), in_use_by: {} } });
    }
    if (first === '_ingest' && second === 'pipeline' && third) {
      if (method === 'PUT') {
        const b = json();
        if (!Array.isArray(b.processors)) throw new Refusal(400, 'parse_exception', '[processors] required property is missing');
        s.pipelines.set(third, b);
        return send(res, 200, { acknowledged: true });
      }
      const p = s.pipelines.get(third);
      // Elasticsearch answers a missing pipeline with 404 and an empty object
      return p ? send(res, 200, { [third]: p }) : send(res, 404, {});
    }
    if (first === '_data_stream' && second && method === 'GET') {
      const ds = s.dataStreams.get(second);
      if (!ds) return send(res, 404, error('index_not_found_exception', `no such index [${second}]`, 404));
      const indices = ds.backing.map((index_name) => ({ index_name, index_uuid: index_name }));
      return send(res, 200, {
        data_streams: [{ name: ds.name, timestamp_field: { name: '@timestamp' }, indices, generation: ds.generation, template: ds.template, status: 'GREEN' }],
      });
    }
    if (second === '_rollover' && first && method === 'POST') return rollover(s, first, res);
    if (first === '_bulk' || second === '_bulk') return bulk(es, s, url, first === '_bulk' ? undefined : first, body, res);
  } catch (err) {
    if (err instanceof Refusal) return send(res, err.status, error(err.type, err.message, err.status));
    throw err;
  }
  return false;
}
