/** The request bodies bootstrap sends, built with the client's request types (requests.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ROLLOVER,
  type EsLayout,
  ilmPolicyRequest,
  indexTemplateRequest,
  lifecycleProblem,
  mappingsComponentRequest,
  pipelineRequest,
  settingsComponentRequest,
} from '@logship/common/elasticsearch';
import { formatEsDuration, parseDuration } from '@logship/common';

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

  it('pipeline check request', () => {
    assert.deepEqual(pipelineRequest('geoip'), { id: 'geoip' });
  });
});
