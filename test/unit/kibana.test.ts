/** bootstrap's Kibana step (packages/common/src/elasticsearch/kibana.ts) against the Kibana double. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLogshipError } from '@logship/common';
import {
  KibanaError,
  checkDataView,
  dataViewSpec,
  ensureDataView,
  kibanaFailureSummary,
  kibanaSpace,
  type KibanaSettings,
} from '@logship/common/elasticsearch';
import { useKibanaDouble } from '../helpers/kibana-double.js';
import { freePort } from '../helpers/ports.js';

function settings(kibanaUrl: string, extra: Partial<KibanaSettings> = {}): KibanaSettings {
  return { kibanaUrl, esUsername: '', esPassword: '', esApiKey: '', esTimeout: 2000, ...extra };
}

describe('Kibana data view', () => {
  const kibana = useKibanaDouble();

  it('has a stable id derived from the pattern: daily indices give their wildcard, a data stream itself', () => {
    const daily = dataViewSpec({ index: 'app-%{+yyyy.MM.dd}', dataStream: '', kibanaUrl: '' });
    assert.deepEqual(daily, dataViewSpec({ index: 'app-%{+yyyy.MM.dd}', dataStream: '', kibanaUrl: '' }));
    assert.equal(daily.title, 'app-*');
    assert.equal(daily.timeFieldName, '@timestamp');
    assert.match(daily.id, /^logship-app-_-[0-9a-f]{8}$/);
    const stream = dataViewSpec({ index: 'ignored-%{+yyyy}', dataStream: 'logs-app-default', kibanaUrl: '' });
    assert.equal(stream.title, 'logs-app-default');
    assert.notEqual(stream.id, daily.id);
    // two patterns with the same slug do not share an id
    const starred = dataViewSpec({ index: 'ab-%{+yyyy}', dataStream: '', kibanaUrl: '' });
    const literal = dataViewSpec({ index: 'ab-_', dataStream: '', kibanaUrl: '' });
    assert.equal(starred.id.slice(0, -8), literal.id.slice(0, -8));
    assert.notEqual(starred.id, literal.id);
  });

  it('is created once, then reported as existing (idempotent), and --check finds it', async () => {
    const spec = dataViewSpec({ index: 'idem-%{+yyyy.MM.dd}', dataStream: '', kibanaUrl: '' });
    assert.deepEqual(await checkDataView(settings(kibana.url), spec), { state: 'missing' });
    assert.equal(await ensureDataView(settings(kibana.url), spec), 'created');
    assert.equal(await ensureDataView(settings(kibana.url), spec), 'exists');
    assert.deepEqual(await checkDataView(settings(kibana.url), spec), { state: 'ok' });
    const stored = kibana.dataViews().filter((v) => v.id === spec.id);
    assert.equal(stored.length, 1);
    assert.deepEqual([stored[0]!.title, stored[0]!.timeFieldName, stored[0]!.allowNoIndex], ['idem-*', '@timestamp', true]);
    const posts = kibana.requests.filter((r) => r.method === 'POST');
    assert.ok(posts.every((r) => r.headers['kbn-xsrf'] !== undefined));
  });

  it('two bootstraps at once: one creates, the other finds it after its create is refused', async () => {
    const spec = dataViewSpec({ index: 'race-%{+yyyy.MM.dd}', dataStream: '', kibanaUrl: '' });
    kibana.latencyMs = 100; // both look-ups are answered before either create arrives
    try {
      const refusedBefore = kibana.requests.filter((r) => r.method === 'POST' && r.status >= 400).length;
      const results = await Promise.all([ensureDataView(settings(kibana.url), spec), ensureDataView(settings(kibana.url), spec)]);
      assert.deepEqual(results.sort(), ['created', 'exists']);
      assert.equal(kibana.requests.filter((r) => r.method === 'POST' && r.status >= 400).length, refusedBefore + 1);
    } finally {
      kibana.latencyMs = 0;
    }
  });

  it('a view changed by hand is a mismatch, never overwritten', async () => {
    const spec = dataViewSpec({ index: 'hand-%{+yyyy.MM.dd}', dataStream: '', kibanaUrl: '' });
    await ensureDataView(settings(kibana.url), spec);
    kibana.views.get('default')!.get(spec.id)!.timeFieldName = 'event.created';
    const check = await checkDataView(settings(kibana.url), spec);
    assert.equal(check.state, 'mismatch');
    assert.match(check.problem!, /time field is "event\.created", expected "@timestamp"/);
    await assert.rejects(ensureDataView(settings(kibana.url), spec), /exists at .* but its time field is "event\.created"/);
  });

  it('a space is the path of --kibana-url', async () => {
    kibana.spaces.add('team');
    const spec = dataViewSpec({ index: 'space-%{+yyyy.MM.dd}', dataStream: '', kibanaUrl: `${kibana.url}/s/team` });
    assert.equal(await ensureDataView(settings(`${kibana.url}/s/team`), spec), 'created');
    assert.equal(kibana.dataViews('team').filter((v) => v.id === spec.id).length, 1);
    assert.equal(kibana.dataViews().filter((v) => v.id === spec.id).length, 0);
    await assert.rejects(ensureDataView(settings(`${kibana.url}/s/absent`), spec), (err: unknown) => {
      assert.ok(isLogshipError(err, 'LOGSHIP_KIBANA'));
      assert.match(err.message, /has no POST \/api\/data_views\/data_view \(HTTP 404/);
      assert.match(err.hint ?? '', /space .* must exist/);
      return true;
    });
  });

  it('the same --index in two spaces gets a view in each: the id holds the space, as Kibana 8 data view ids are unique across spaces', async () => {
    kibana.spaces.add('a');
    kibana.spaces.add('b');
    const layout = { index: 'spaces-%{+yyyy.MM.dd}', dataStream: '' };
    const inA = dataViewSpec({ ...layout, kibanaUrl: `${kibana.url}/s/a` });
    const inB = dataViewSpec({ ...layout, kibanaUrl: `${kibana.url}/s/b/` });
    const inDefault = dataViewSpec({ ...layout, kibanaUrl: kibana.url });
    assert.notEqual(inA.id, inB.id);
    assert.notEqual(inA.id, inDefault.id);
    assert.match(inA.id, /^logship-a-spaces-_-[0-9a-f]{8}$/);
    assert.match(inDefault.id, /^logship-spaces-_-[0-9a-f]{8}$/);
    assert.equal(inA.title, inB.title);
    assert.equal(await ensureDataView(settings(`${kibana.url}/s/a`), inA), 'created');
    assert.equal(await ensureDataView(settings(`${kibana.url}/s/b/`), inB), 'created');
    assert.equal(await ensureDataView(settings(kibana.url), inDefault), 'created');
    assert.equal(await ensureDataView(settings(`${kibana.url}/s/b`), inB), 'exists');
    assert.deepEqual(await checkDataView(settings(`${kibana.url}/s/a`), inA), { state: 'ok' });
    for (const space of ['a', 'b', 'default']) assert.equal(kibana.dataViews(space).filter((v) => v.title === 'spaces-*').length, 1, space);
    // a base path before the space does not change it; /s/default is the default space
    assert.equal(kibanaSpace('http://h:5601/kibana/s/ops'), 'ops');
    assert.equal(kibanaSpace('http://h:5601/kibana'), 'default');
    assert.equal(kibanaSpace('http://h:5601/s/default'), 'default');
    assert.equal(dataViewSpec({ ...layout, kibanaUrl: 'http://h:5601/base/s/a' }).id, inA.id);
  });

  it('an id taken in another space is a 409 naming that, not a duplicate name', async () => {
    kibana.spaces.add('c');
    const layout = { index: 'taken-%{+yyyy.MM.dd}', dataStream: '' };
    const spec = dataViewSpec({ ...layout, kibanaUrl: kibana.url });
    kibana.views.set('c', kibana.views.get('c') ?? new Map());
    kibana.views.get('c')!.set(spec.id, { id: spec.id, title: spec.title, name: 'shared by hand' });
    await assert.rejects(ensureDataView(settings(kibana.url), spec), (err: unknown) => {
      assert.ok(isLogshipError(err, 'LOGSHIP_KIBANA'));
      assert.match(err.message, /refused the data view "taken-\*" \(HTTP 409: Saved object \[index-pattern\/logship-taken-_-[0-9a-f]{8}\] conflict\)/);
      assert.match(err.hint ?? '', /exists in another space of this Kibana \(data view ids are unique across spaces\)/);
      assert.equal(kibanaFailureSummary(err), 'Kibana refused, HTTP 409');
      return true;
    });
  });

  it('bootstrap --check summarises a failure by what Kibana answered, not always "unreachable"', async () => {
    const spec = dataViewSpec({ index: 'sum-%{+yyyy.MM.dd}', dataStream: '', kibanaUrl: '' });
    const summary = async (s: KibanaSettings) => {
      try {
        await checkDataView(s, spec);
      } catch (err) {
        return kibanaFailureSummary(err);
      }
      return 'no error';
    };
    kibana.requiredAuthorization = 'ApiKey x';
    try {
      assert.equal(await summary(settings(kibana.url)), 'Kibana refused the login, HTTP 401');
    } finally {
      kibana.requiredAuthorization = null;
    }
    kibana.down = '503';
    try {
      assert.equal(await summary(settings(kibana.url)), 'Kibana not ready, HTTP 503');
    } finally {
      kibana.down = null;
    }
    assert.equal(await summary(settings(`http://127.0.0.1:${await freePort()}`)), 'Kibana unreachable');
    assert.equal(kibanaFailureSummary(new KibanaError('m', 'h', 403)), 'Kibana refused the permission, HTTP 403');
    assert.equal(kibanaFailureSummary(new KibanaError('m', 'h', 400)), 'Kibana refused, HTTP 400');
    assert.equal(kibanaFailureSummary(new Error('x')), 'Kibana failed');
  });

  it('logs in with the URL credentials, else the API key, else the user; a refusal names the URL masked', async () => {
    const spec = dataViewSpec({ index: 'auth-%{+yyyy.MM.dd}', dataStream: '', kibanaUrl: '' });
    const port = new URL(kibana.url).port;
    kibana.requiredAuthorization = `Basic ${Buffer.from('kib:url-pa55').toString('base64')}`;
    try {
      assert.equal(await ensureDataView(settings(`http://kib:url-pa55@127.0.0.1:${port}`, { esApiKey: 'aWQ6a2V5' }), spec), 'created');
      kibana.requiredAuthorization = 'ApiKey aWQ6c2VjcmV0LWtleQ==';
      assert.equal(await ensureDataView(settings(kibana.url, { esApiKey: 'aWQ6c2VjcmV0LWtleQ==', esUsername: 'u' }), spec), 'exists');
      kibana.requiredAuthorization = `Basic ${Buffer.from('elastic:es-pa55').toString('base64')}`;
      assert.equal(await ensureDataView(settings(kibana.url, { esUsername: 'elastic', esPassword: 'es-pa55' }), spec), 'exists');
      await assert.rejects(ensureDataView(settings(`http://kib:wrong-pa55@127.0.0.1:${port}`), spec), (err: unknown) => {
        assert.ok(isLogshipError(err, 'LOGSHIP_KIBANA'));
        assert.equal(err.message, `Kibana at http://kib:***@127.0.0.1:${port}/ refused the login (HTTP 401: Unauthorized)`);
        assert.match(err.hint ?? '', /--es-api-key/);
        assert.doesNotMatch(`${err.message} ${err.hint}`, /wrong-pa55/);
        return true;
      });
    } finally {
      kibana.requiredAuthorization = null;
    }
  });

  it('Kibana down or not ready: LOGSHIP_KIBANA naming the URL masked and what to do', async () => {
    const spec = dataViewSpec({ index: 'down-%{+yyyy.MM.dd}', dataStream: '', kibanaUrl: '' });
    const port = await freePort();
    await assert.rejects(ensureDataView(settings(`http://elastic:s3cr3t-pw@127.0.0.1:${port}`), spec), (err: unknown) => {
      assert.ok(isLogshipError(err, 'LOGSHIP_KIBANA'));
      assert.match(err.message, new RegExp(`^Kibana at http://elastic:\\*\\*\\*@127\\.0\\.0\\.1:${port}/ did not answer: .*ECONNREFUSED`));
      assert.match(err.hint ?? '', /is Kibana running .* --kibana-url \(LOGSHIP_KIBANA_URL\)/);
      assert.doesNotMatch(`${err.message} ${err.hint}`, /s3cr3t/);
      assert.equal(err.exitCode, 1);
      return true;
    });
    kibana.down = '503';
    try {
      await assert.rejects(ensureDataView(settings(kibana.url), spec), /is not ready \(HTTP 503: Kibana server is not ready yet\)/);
    } finally {
      kibana.down = null;
    }
  });
});
