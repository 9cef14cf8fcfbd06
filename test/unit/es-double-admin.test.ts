/** Contract tests of the double's admin endpoints through the official client: it accepts what logship sends and refuses what Elasticsearch refuses. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errors } from '@elastic/elasticsearch';
import {
  type EsLayout,
  checkElasticsearch,
  declareElasticsearch,
  ilmPolicyRequest,
  indexTemplateRequest,
  mappingsComponentRequest,
  settingsComponentRequest,
} from '@logship/common/elasticsearch';
import { adminState } from '../helpers/es-double-admin.js';
import { useEsDouble } from '../helpers/es.js';

function refusedWith(status: number, type: string, reason?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof errors.ResponseError, String(err));
    assert.equal(err.statusCode, status);
    const body = err.body as { error?: { type?: string; reason?: string } };
    assert.equal(body.error?.type, type);
    if (reason) assert.match(body.error?.reason ?? '', reason);
    return true;
  };
}

const DAY = 86_400_000;

describe('Elasticsearch double: admin endpoints', () => {
  const { es, client } = useEsDouble();

  async function declare(layout: EsLayout): Promise<void> {
    const policy = ilmPolicyRequest(layout);
    if (policy) await client.ilm.putLifecycle(policy);
    await client.cluster.putComponentTemplate(mappingsComponentRequest(layout));
    await client.cluster.putComponentTemplate(settingsComponentRequest(layout));
    await client.indices.putIndexTemplate(indexTemplateRequest(layout));
  }

  it("accepts logship's bodies (policy, component templates, data stream template) and answers them back", async () => {
    const layout: EsLayout = { templateName: 'a1', index: 'a1-%{+yyyy.MM.dd}', dataStream: 'logs-a1-default', ilmPolicy: 'a1-policy', retention: 30 * DAY };
    await declare(layout);
    await declare(layout); // idempotent
    const got = await client.ilm.getLifecycle({ name: 'a1-policy' });
    // like Elasticsearch, the double answers the delete action with its default
    assert.deepEqual(got['a1-policy']?.policy.phases.delete, { min_age: '30d', actions: { delete: { delete_searchable_snapshot: true } } });
    const c = await client.cluster.getComponentTemplate({ name: 'a1-mappings' });
    assert.equal(c.component_templates[0]?.name, 'a1-mappings');
    const t = await client.indices.getIndexTemplate({ name: 'a1' });
    assert.deepEqual(t.index_templates[0]?.index_template.data_stream, {});
  });

  it('bootstrap --check finds the ILM policy ok although Elasticsearch answers the delete action with delete_searchable_snapshot: true', async () => {
    const layout = {
      templateName: 'chk1',
      index: 'chk1-%{+yyyy.MM.dd}',
      dataStream: 'logs-chk1-default',
      ilmPolicy: 'chk1-policy',
      retention: 30 * DAY,
      pipeline: '',
    };
    await declareElasticsearch(client, layout, { esNode: 'http://double' }, () => {});
    const checks = await checkElasticsearch(client, layout, { esNode: 'http://double' });
    assert.deepEqual(
      checks.filter((c) => c.state !== 'ok'),
      [],
    );
    // a setting logship sets still counts: another retention is a mismatch
    const other = await checkElasticsearch(client, { ...layout, retention: 7 * DAY }, { esNode: 'http://double' });
    assert.equal(other.find((c) => c.what.includes('ILM policy'))?.state, 'mismatch');
    // and so does a phase logship does not set (a delete phase when logship keeps everything)
    const keep = await checkElasticsearch(client, { ...layout, retention: 0 }, { esNode: 'http://double' });
    assert.equal(keep.find((c) => c.what.includes('ILM policy'))?.state, 'mismatch');
  });

  it('refuses an unknown field in a policy phase, an action in the wrong phase and a rollover without conditions', async () => {
    await assert.rejects(
      client.ilm.putLifecycle({ name: 'bad', policy: { phases: { delete: { min_age: '1d', actions: { delete: {} }, after: '1d' } as never } } }),
      refusedWith(400, 'x_content_parse_exception', /\[phase\] unknown field \[after\]/),
    );
    await assert.rejects(
      client.ilm.putLifecycle({ name: 'bad', policy: { phases: { delete: { actions: { rollover: { max_age: '1d' } } } } } }),
      refusedWith(400, 'illegal_argument_exception', /invalid action \[rollover\] defined in phase \[delete\]/),
    );
    await assert.rejects(
      client.ilm.putLifecycle({ name: 'bad', policy: { phases: { hot: { actions: { rollover: {} } } } } }),
      refusedWith(400, 'x_content_parse_exception', /at least one rollover condition/),
    );
    await assert.rejects(client.ilm.getLifecycle({ name: 'bad' }), refusedWith(404, 'resource_not_found_exception'));
  });

  it('refuses an index template composed of a component template that does not exist', async () => {
    await assert.rejects(
      client.indices.putIndexTemplate({ name: 'b1', index_patterns: ['b1-*'], composed_of: ['nope'] }),
      refusedWith(400, 'invalid_index_template_exception', /component templates \[nope\] that do not exist/),
    );
  });

  it('refuses an index template whose patterns overlap another template of the same priority', async () => {
    await client.indices.putIndexTemplate({ name: 'o1', index_patterns: ['over-*'], priority: 300 });
    await assert.rejects(
      client.indices.putIndexTemplate({ name: 'o2', index_patterns: ['over-app-*'], priority: 300 }),
      refusedWith(400, 'illegal_argument_exception', /same priority \[300\]/),
    );
    await client.indices.putIndexTemplate({ name: 'o2', index_patterns: ['over-app-*'], priority: 301 });
  });

  it('refuses a data stream template whose @timestamp is not a date', async () => {
    await client.cluster.putComponentTemplate({ name: 'kw', template: { mappings: { properties: { '@timestamp': { type: 'keyword' } } } } });
    await assert.rejects(
      client.indices.putIndexTemplate({ name: 'd1', index_patterns: ['logs-d1-x'], composed_of: ['kw'], data_stream: {}, priority: 400 }),
      refusedWith(400, 'illegal_argument_exception', /\[@timestamp\] is of type \[keyword\]/),
    );
  });

  it('refuses an unknown field in a component template', async () => {
    await assert.rejects(
      client.cluster.putComponentTemplate({ name: 'c9', template: { mappings: {}, mapping: {} } as never }),
      refusedWith(400, 'x_content_parse_exception', /\[template\] unknown field \[mapping\]/),
    );
  });

  it('ingest pipelines: 404 with an empty body when missing; a bulk naming a missing pipeline fails every item with 400', async () => {
    await assert.rejects(client.ingest.getPipeline({ id: 'p1' }), (err: unknown) => err instanceof errors.ResponseError && err.statusCode === 404);
    const r = await client.bulk({ pipeline: 'p1', operations: [{ create: { _index: 'pi', _id: 'a' } }, { m: 1 }] });
    assert.equal(r.items[0]?.create?.status, 400);
    assert.match(r.items[0]?.create?.error?.reason ?? '', /pipeline with id \[p1\] does not exist/);
    await client.ingest.putPipeline({ id: 'p1', processors: [{ set: { field: 'x', value: 1 } }] });
    assert.ok((await client.ingest.getPipeline({ id: 'p1' })).p1);
    const ok = await client.bulk({ pipeline: 'p1', operations: [{ create: { _index: 'pi', _id: 'a' } }, { m: 1 }] });
    assert.equal(ok.items[0]?.create?.status, 201);
    assert.deepEqual(adminState(es).bulkPipelines.slice(-2), ['p1', 'p1']);
  });

  it('data streams: create only, @timestamp required, writes go to the backing index, and an _id is a conflict only inside one backing index', async () => {
    await declare({ templateName: 'ds1', index: 'x', dataStream: 'logs-ds1-default', ilmPolicy: '', retention: 0 });
    const ts = '2026-01-01T00:00:00Z';
    const first = await client.bulk({ operations: [{ create: { _index: 'logs-ds1-default', _id: 'e1' } }, { '@timestamp': ts }] });
    assert.equal(first.items[0]?.create?.status, 201);
    assert.match(first.items[0]?.create?._index ?? '', /^\.ds-logs-ds1-default-\d{4}\.\d{2}\.\d{2}-000001$/);
    const wrong = await client.bulk({
      operations: [{ index: { _index: 'logs-ds1-default', _id: 'e2' } }, { '@timestamp': ts }, { create: { _index: 'logs-ds1-default', _id: 'e3' } }, { m: 1 }],
    });
    assert.match(wrong.items[0]?.index?.error?.reason ?? '', /op_type of create/);
    assert.match(wrong.items[1]?.create?.error?.reason ?? '', /\[@timestamp\] is missing/);
    const again = await client.bulk({ operations: [{ create: { _index: 'logs-ds1-default', _id: 'e1' } }, { '@timestamp': ts }] });
    assert.equal(again.items[0]?.create?.status, 409, 'a redelivery meets its first copy in the same backing index');
    const rolled = await client.indices.rollover({ alias: 'logs-ds1-default' });
    assert.match(rolled.new_index, /-000002$/);
    const straddling = await client.bulk({ operations: [{ create: { _index: 'logs-ds1-default', _id: 'e1' } }, { '@timestamp': ts }] });
    assert.equal(straddling.items[0]?.create?.status, 201, 'after a rollover the same _id is written again: a duplicate');
    assert.equal(es.docs('.ds-logs-ds1-default-*').filter((d) => d.id === 'e1').length, 2);
    const info = await client.indices.getDataStream({ name: 'logs-ds1-default' });
    assert.equal(info.data_streams[0]?.generation, 2);
  });
});
