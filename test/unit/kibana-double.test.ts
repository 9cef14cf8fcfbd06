/**
 * The Kibana double answers the data views API like Kibana 8 does: the
 * status codes and messages of Kibana's route validation (@kbn/config-schema),
 * its XSRF check, its authentication and its duplicate handling.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { useKibanaDouble } from '../helpers/kibana-double.js';

const XSRF = { 'kbn-xsrf': 'true', 'content-type': 'application/json' };

describe('Kibana double (contract)', () => {
  const kibana = useKibanaDouble();

  async function post(body: unknown, headers: Record<string, string> = XSRF, path = '/api/data_views/data_view') {
    const res = await fetch(`${kibana.url}${path}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('creates a data view and answers it by id, with the title as its name when it has none', async () => {
    const created = await post({ data_view: { id: 'c-1', title: 'c-logs-*', timeFieldName: '@timestamp', allowNoIndex: true } });
    assert.equal(created.status, 200);
    const view = created.body.data_view as Record<string, unknown>;
    assert.deepEqual([view.id, view.title, view.name, view.timeFieldName], ['c-1', 'c-logs-*', 'c-logs-*', '@timestamp']);
    const got = await fetch(`${kibana.url}/api/data_views/data_view/c-1`);
    assert.equal(got.status, 200);
    assert.equal(((await got.json()) as { data_view: { title: string } }).data_view.title, 'c-logs-*');
    const missing = await fetch(`${kibana.url}/api/data_views/data_view/nope`);
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { statusCode: 404, error: 'Not Found', message: 'Saved object [index-pattern/nope] not found' });
  });

  it('refuses a POST without kbn-xsrf with 400, and a GET does not need it', async () => {
    const r = await post({ data_view: { title: 'x-*' } }, { 'content-type': 'application/json' });
    assert.equal(r.status, 400);
    assert.equal(r.body.message, 'Request must contain a kbn-xsrf header.');
    assert.equal((await fetch(`${kibana.url}/api/status`)).status, 200);
  });

  it('refuses bad bodies with the route validation messages', async () => {
    const cases: Array<[unknown, string]> = [
      ['{not json', 'Invalid request payload JSON format'],
      [[1], '[request body]: expected a plain object value, but found [array] instead.'],
      [{}, '[request body.data_view.title]: expected value of type [string] but got [undefined]'],
      [{ data_view: {} }, '[request body.data_view.title]: expected value of type [string] but got [undefined]'],
      [{ data_view: { title: 7 } }, '[request body.data_view.title]: expected value of type [string] but got [number]'],
      [{ data_view: { title: 'a', colour: 'red' } }, '[request body.data_view.colour]: definition for this key is missing'],
      [{ data_view: { title: 'a', allowNoIndex: 'yes' } }, '[request body.data_view.allowNoIndex]: expected value of type [boolean] but got [string]'],
      [{ data_view: { title: 'a' }, force: true }, '[request body.force]: definition for this key is missing'],
      [{ index_pattern: { title: 'a' } }, "[request body.index_pattern]: a value wasn't expected to be present"],
    ];
    for (const [body, message] of cases) {
      const r = await post(body);
      assert.deepEqual(r, { status: 400, body: { statusCode: 400, error: 'Bad Request', message } }, JSON.stringify(body));
    }
    assert.equal(kibana.dataViews().filter((v) => v.title === 'a').length, 0);
  });

  it('refuses a duplicate name with 400 and a duplicate id with 409; override replaces', async () => {
    assert.equal((await post({ data_view: { id: 'd-1', title: 'd-*', name: 'D' } })).status, 200);
    const sameName = await post({ data_view: { id: 'd-2', title: 'd-*', name: 'D' } });
    assert.deepEqual(sameName, { status: 400, body: { statusCode: 400, error: 'Bad Request', message: 'Duplicate data view: D' } });
    const sameId = await post({ data_view: { id: 'd-1', title: 'd-*', name: 'other' } });
    assert.equal(sameId.status, 409);
    assert.equal(sameId.body.message, 'Saved object [index-pattern/d-1] conflict');
    assert.equal((await post({ data_view: { id: 'd-3', title: 'd2-*', name: 'D' }, override: true })).status, 200);
    assert.deepEqual(
      kibana
        .dataViews()
        .filter((v) => v.name === 'D')
        .map((v) => v.id),
      ['d-3'],
    );
  });

  it('keeps views per space (/s/SPACE/api/...); an unknown space is 404', async () => {
    kibana.spaces.add('ops');
    assert.equal((await post({ data_view: { id: 's-1', title: 's-*' } }, XSRF, '/s/ops/api/data_views/data_view')).status, 200);
    assert.equal((await fetch(`${kibana.url}/s/ops/api/data_views/data_view/s-1`)).status, 200);
    assert.equal((await fetch(`${kibana.url}/api/data_views/data_view/s-1`)).status, 404);
    assert.equal((await post({ data_view: { title: 's-*' } }, XSRF, '/s/nowhere/api/data_views/data_view')).status, 404);
  });

  it('data view ids are unique across spaces (saved objects of namespaceType "multiple"): an id from another space is 409, override or not, and 404 to a GET', async () => {
    kibana.spaces.add('one');
    kibana.spaces.add('two');
    assert.equal((await post({ data_view: { id: 'g-1', title: 'g-*' } }, XSRF, '/s/one/api/data_views/data_view')).status, 200);
    assert.equal((await fetch(`${kibana.url}/s/two/api/data_views/data_view/g-1`)).status, 404);
    for (const override of [false, true]) {
      const r = await post({ data_view: { id: 'g-1', title: 'g-*' }, override }, XSRF, '/s/two/api/data_views/data_view');
      assert.deepEqual(r, { status: 409, body: { statusCode: 409, error: 'Conflict', message: 'Saved object [index-pattern/g-1] conflict' } });
    }
    assert.equal((await post({ data_view: { id: 'g-1', title: 'g-*' } })).status, 409, 'the default space too');
    assert.equal(kibana.dataViews('two').length, 0);
    assert.equal((await post({ data_view: { id: 'g-2', title: 'g-*' } }, XSRF, '/s/two/api/data_views/data_view')).status, 200);
  });

  it('with authentication required: 401 without or with wrong credentials, before the XSRF check', async () => {
    kibana.requiredAuthorization = `Basic ${Buffer.from('elastic:pw').toString('base64')}`;
    try {
      const none = await post({ data_view: { title: 'z-*' } }, { 'content-type': 'application/json' });
      assert.deepEqual(none, { status: 401, body: { statusCode: 401, error: 'Unauthorized', message: 'Unauthorized' } });
      const wrong = await fetch(`${kibana.url}/api/data_views/data_view/x`, {
        headers: { authorization: `Basic ${Buffer.from('elastic:no').toString('base64')}` },
      });
      assert.equal(wrong.status, 401);
      assert.match(wrong.headers.get('www-authenticate') ?? '', /Basic/);
      const right = await fetch(`${kibana.url}/api/data_views/data_view/x`, { headers: { authorization: kibana.requiredAuthorization } });
      assert.equal(right.status, 404);
    } finally {
      kibana.requiredAuthorization = null;
    }
  });

  it('answers 503 while "not ready" and resets connections when down', async () => {
    kibana.down = '503';
    const r = await fetch(`${kibana.url}/api/status`);
    assert.equal(r.status, 503);
    assert.equal(((await r.json()) as { message: string }).message, 'Kibana server is not ready yet');
    kibana.down = 'refuse';
    await assert.rejects(fetch(`${kibana.url}/api/status`));
    kibana.down = null;
  });
});
