/** bootstrap --kibana-url: the data view is created, found again (idempotent), verified by --check; Kibana down is a clear exit 1. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { useKibanaDouble } from '../helpers/kibana-double.js';
import { freePort } from '../helpers/ports.js';
import { usePipeline } from '../helpers/use-pipeline.js';

describe('bootstrap --kibana-url', () => {
  const pipe = usePipeline();
  const kibana = useKibanaDouble();

  it('creates the data view of --index, reports it as existing on a second run, and --check verifies it', async (t) => {
    const { n, env } = pipe.topology(t, 'kib', { LOGSHIP_KIBANA_URL: kibana.url });
    const missing = await runCli(['bootstrap', '--check'], { env });
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, new RegExp(`MISSING\\s+Kibana data view "${n.indexWildcard.replace('*', '\\*')}" \\(id logship-`));

    const first = await runCli(['bootstrap'], { env });
    assert.equal(first.code, 0, first.stderr);
    assert.match(
      first.stdout,
      new RegExp(`created\\s+Kibana data view "${n.indexWildcard.replace('*', '\\*')}" \\(id (logship-\\S+), time field @timestamp\\) on ${kibana.url}/`),
    );
    const lines = first.stdout.trim().split('\n');
    assert.match(lines[lines.length - 2]!, /Kibana data view/, 'after the Elasticsearch templates');
    const views = kibana.dataViews().filter((v) => v.title === n.indexWildcard);
    assert.equal(views.length, 1);
    assert.deepEqual([views[0]!.timeFieldName, views[0]!.allowNoIndex], ['@timestamp', true]);

    const second = await runCli(['bootstrap'], { env });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /exists\s+Kibana data view/);
    assert.equal(kibana.dataViews().filter((v) => v.title === n.indexWildcard).length, 1);

    const check = await runCli(['bootstrap', '--check'], { env });
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /ok\s+Kibana data view/);
  });

  it('a data stream gets its own view, in the space of the URL, with the Elasticsearch credentials', async (t) => {
    const { n } = pipe.topology(t, 'kibds');
    kibana.spaces.add('ops');
    const apiKey = 'b3BzOmtpYmFuYS1zZWNyZXQ=';
    kibana.requiredAuthorization = `ApiKey ${apiKey}`;
    pipe.defer(t, () => {
      kibana.requiredAuthorization = null;
    });
    const stream = `logs-${n.queue.split('.')[0]!.replace(/-/g, '')}-default`;
    const env = {
      ...n.env,
      LOGSHIP_SKIP_ELASTICSEARCH: 'true',
      LOGSHIP_DATA_STREAM: stream,
      LOGSHIP_ES_API_KEY: apiKey,
      LOGSHIP_KIBANA_URL: `${kibana.url}/s/ops`,
    };
    const r = await runCli(['bootstrap'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`created\\s+Kibana data view "${stream}"`));
    assert.equal(kibana.dataViews('ops').filter((v) => v.title === stream).length, 1);
    assert.doesNotMatch(r.stdout + r.stderr, /b3BzOmtpYmFuYS1zZWNyZXQ|kibana-secret/);
    const refused = await runCli(['bootstrap'], { env: { ...env, LOGSHIP_ES_API_KEY: '' } });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /error: Kibana at http:\/\/127\.0\.0\.1:\d+\/s\/ops refused the login \(HTTP 401: Unauthorized\)/);
    assert.match(refused.stderr, /hint: Kibana logs in with Elasticsearch users/);
  });

  it('the same --index bootstrapped into two spaces (/s/a, then /s/b) gets a data view in each, not a 409 blamed on a duplicate name', async (t) => {
    const { n } = pipe.topology(t, 'kibsp');
    kibana.spaces.add('a');
    kibana.spaces.add('b');
    const env = { ...n.env, LOGSHIP_SKIP_ELASTICSEARCH: 'true' };
    for (const space of ['a', 'b']) {
      const r = await runCli(['bootstrap'], { env: { ...env, LOGSHIP_KIBANA_URL: `${kibana.url}/s/${space}` } });
      assert.equal(r.code, 0, `${space}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`created\\s+Kibana data view "${n.indexWildcard.replace('*', '\\*')}" \\(id logship-${space}-`));
      const check = await runCli(['bootstrap', '--check'], { env: { ...env, LOGSHIP_KIBANA_URL: `${kibana.url}/s/${space}` } });
      assert.equal(check.code, 0, check.stdout + check.stderr);
    }
    for (const space of ['a', 'b']) assert.equal(kibana.dataViews(space).filter((v) => v.title === n.indexWildcard).length, 1, space);
  });

  it('bootstrap --check names why Kibana failed: a refused login is not "Kibana unreachable"', async (t) => {
    const { n } = pipe.topology(t, 'kib401');
    kibana.requiredAuthorization = 'ApiKey not-this';
    pipe.defer(t, () => {
      kibana.requiredAuthorization = null;
    });
    const check = await runCli(['bootstrap', '--check', '--skip-elasticsearch'], { env: { ...n.env, LOGSHIP_KIBANA_URL: kibana.url } });
    assert.equal(check.code, 1);
    assert.match(check.stderr, /not in place: .*Kibana data view "[^"]+" \(Kibana refused the login, HTTP 401\)/);
    assert.match(check.stderr, /Kibana logs in with Elasticsearch users/);
    assert.doesNotMatch(check.stderr, /Kibana unreachable/);
  });

  it('Kibana down: exit 1 naming the URL masked and what to do; --check reports it missing', async (t) => {
    const port = await freePort();
    const { n, env } = pipe.topology(t, 'kibdown', { LOGSHIP_KIBANA_URL: `http://elastic:k1bana-pw@127.0.0.1:${port}` });
    const r = await runCli(['bootstrap'], { env });
    assert.equal(r.code, 1, 'like an unreachable Elasticsearch');
    assert.match(r.stderr, new RegExp(`error: Kibana at http://elastic:\\*\\*\\*@127\\.0\\.0\\.1:${port}/ did not answer: .*ECONNREFUSED`));
    assert.match(r.stderr, /hint: is Kibana running and reachable\? check --kibana-url \(LOGSHIP_KIBANA_URL\); bootstrap is safe to run again/);
    assert.match(r.stdout, /declared Elasticsearch index template/, 'the broker and Elasticsearch sides were declared first');
    const check = await runCli(['bootstrap', '--check'], { env });
    assert.equal(check.code, 1);
    assert.match(check.stdout, /MISSING\s+Kibana data view .*did not answer/);
    assert.match(check.stderr, /not in place: Kibana data view "[^"]+" \(Kibana unreachable\)/);
    for (const text of [r.stdout, r.stderr, check.stdout, check.stderr]) assert.doesNotMatch(text, /k1bana-pw/);
    const badUrl = await runCli(['bootstrap', '--kibana-url', 'kibana:5601'], { env: n.env });
    assert.equal(badUrl.code, 2);
    assert.match(badUrl.stderr, /--kibana-url \(LOGSHIP_KIBANA_URL\): must be an http:\/\/ or https:\/\/ URL/);
  });
});
