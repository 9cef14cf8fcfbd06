/** The request bodies bootstrap sends, built with the client's request types (requests.ts). */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { Client } from '@elastic/elasticsearch';
import {
  ROLLOVER,
  type EsLayout,
  checkElasticsearch,
  declareElasticsearch,
  ilmPolicyRequest,
  indexTemplateRequest,
  lifecycleProblem,
  mappingsComponentRequest,
  pipelineRequest,
  settingsComponentRequest,
} from '@logship/common/elasticsearch';
import { LogshipError, formatEsDuration, parseDuration } from '@logship/common';
import { EsDouble } from '../helpers/es-double.js';

const DAY = 86_400_000;
const daily: EsLayout = { templateName: 'lt', index: 'logs-%{+yyyy.MM.dd}', dataStream: '', ilmPolicy: '', retention: 0 };
const stream: EsLayout = { ...daily, dataStream: 'logs-app-default', ilmPolicy: 'logship-30d', retention: 30 * DAY };

describe('Elasticsearch request bodies', () => {
  it('mappings component: the ECS fields of docs/DESIGN.md, message as match_only_text, labels as keywords', () => {
    const r = mappingsComponentRequest(daily);
    assert.equal(r.name, 'lt-mappings');
    const props = r.template.mappings?.properties ?? {};
    assert.deepEqual(props['@timestamp'], { type: 'date' });
    assert.deepEqual(props.message, { type: 'match_only_text' });
    assert.deepEqual(props.tags, { type: 'keyword' });
    assert.deepEqual(props.host, { properties: { name: { type: 'keyword' } } });
    assert.deepEqual(props.event, { properties: { id: { type: 'keyword' } } });
    assert.deepEqual(props.log, { properties: { file: { properties: { path: { type: 'keyword' } } }, offset: { type: 'long' } } });
    assert.deepEqual(props.labels, { type: 'object', dynamic: true });
    assert.deepEqual(r.template.mappings?.dynamic_templates, [{ labels_as_keyword: { path_match: 'labels.*', mapping: { type: 'keyword' } } }]);
  });

  it('settings component: the ILM policy name when there is one, empty settings otherwise', () => {
    assert.deepEqual(settingsComponentRequest(daily).template, { settings: {} });
    assert.deepEqual(settingsComponentRequest(stream).template, { settings: { index: { lifecycle: { name: 'logship-30d' } } } });
  });

  it('index template: daily indices cover the --index wildcard; a data stream template names the stream and has data_stream {}', () => {
    const d = indexTemplateRequest(daily);
    assert.deepEqual(d.index_patterns, ['logs-*']);
    assert.deepEqual(d.composed_of, ['lt-mappings', 'lt-settings']);
    assert.equal(d.priority, 200);
    assert.equal(d.data_stream, undefined);
    const s = indexTemplateRequest(stream);
    assert.deepEqual(s.index_patterns, ['logs-app-default']);
    assert.deepEqual(s.data_stream, {});
  });

  it('ILM policy: data streams roll over (50gb primary shard or 1d) and delete after --retention; daily indices only delete', () => {
    assert.equal(ilmPolicyRequest(daily), undefined);
    assert.deepEqual(ilmPolicyRequest(stream)?.policy?.phases, {
      hot: { min_age: '0ms', actions: { rollover: { max_primary_shard_size: '50gb', max_age: '1d' } } },
      delete: { min_age: '30d', actions: { delete: {} } },
    });
    assert.deepEqual(ROLLOVER, { max_primary_shard_size: '50gb', max_age: '1d' });
    const d = ilmPolicyRequest({ ...daily, ilmPolicy: 'p', retention: 7 * DAY });
    assert.deepEqual(d?.policy?.phases, { delete: { min_age: '7d', actions: { delete: {} } } });
  });

  it('--retention without --ilm-policy, and a daily-indices policy without --retention, are refused', () => {
    assert.match(lifecycleProblem({ ...daily, retention: DAY }) ?? '', /--retention needs --ilm-policy/);
    assert.match(lifecycleProblem({ ...daily, ilmPolicy: 'p' }) ?? '', /needs --retention/);
    assert.equal(lifecycleProblem({ ...stream, retention: 0 }), undefined, 'a data stream policy may only roll over');
    assert.equal(lifecycleProblem(stream), undefined);
  });

  it('durations: d is days, m stays minutes; Elasticsearch durations use the largest exact unit', () => {
    assert.equal(parseDuration('30d'), 30 * DAY);
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(formatEsDuration(30 * DAY), '30d');
    assert.equal(formatEsDuration(36 * 3_600_000), '36h');
    assert.equal(formatEsDuration(90_000), '90s');
    assert.equal(formatEsDuration(1500), '1500ms');
  });

  it('a 4xx refusal from Elasticsearch never repeats --es-password or --es-api-key, nor the node URL password', async () => {
    const password = 'pw-hunter2-secret';
    const keySecret = 'apikey-secret-part';
    const apiKey = Buffer.from(`key-id:${keySecret}`).toString('base64');
    const esNode = `http://elastic:${password}@127.0.0.1`;
    // a proxy or a security realm that quotes the credentials it refused
    const server = http.createServer((_req, res) => {
      const reason = `action refused for [elastic] with password [${password}], api key [${apiKey}] = [key-id:${keySecret}] at ${esNode}`;
      res.writeHead(403, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
      res.end(JSON.stringify({ error: { root_cause: [{ type: 'security_exception', reason }], type: 'security_exception', reason }, status: 403 }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new Client({ node: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, maxRetries: 0 });
    try {
      await assert.rejects(
        declareElasticsearch(client, { ...daily, templateName: 'sx' }, { esNode, esPassword: password, esApiKey: apiKey }, () => {}),
        (err: unknown) => {
          assert.ok(err instanceof LogshipError);
          assert.match(err.message, /Elasticsearch refused component template "sx-mappings" \(HTTP 403\)/);
          assert.match(err.message, /security_exception/);
          for (const secret of [password, apiKey, keySecret]) assert.ok(!err.message.includes(secret), `${secret} in: ${err.message}`);
          return true;
        },
      );
    } finally {
      await client.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('--index with field references: the template covers every expansion (a * per field), and bootstrap --check verifies it', async () => {
    const byService: EsLayout = { ...daily, templateName: 'fx', index: 'logs-%{[service][name]:other}-%{+yyyy.MM.dd}' };
    assert.deepEqual(indexTemplateRequest(byService).index_patterns, ['logs-*-*']);
    assert.deepEqual(indexTemplateRequest({ ...byService, index: 'app.%{host}%{[service][name]}' }).index_patterns, ['app.**']);
    const es = new EsDouble();
    const client = new Client({ node: await es.start(), maxRetries: 0 });
    try {
      const steps: string[] = [];
      await declareElasticsearch(client, byService, { esNode: es.url }, (s) => steps.push(s));
      assert.match(steps.at(-1) ?? '', /index template "fx" \(indices logs-\*-\*\)/);
      const checks = await checkElasticsearch(client, { ...byService, pipeline: '' }, { esNode: es.url });
      assert.deepEqual(
        checks.map((c) => c.state),
        ['ok', 'ok', 'ok'],
        JSON.stringify(checks),
      );
      // the same template checked against another pattern is a mismatch naming both
      const other = await checkElasticsearch(client, { ...byService, index: 'logs-%{+yyyy.MM.dd}', pipeline: '' }, { esNode: es.url });
      assert.match(other.at(-1)?.problem ?? '', /index_patterns are \["logs-\*-\*"\], expected \["logs-\*"\]/);
    } finally {
      await client.close();
      await es.stop();
    }
  });

  it('pipeline check request', () => {
    assert.deepEqual(pipelineRequest('geoip'), { id: 'geoip' });
  });
});
