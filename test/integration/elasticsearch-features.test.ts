/** bootstrap with data streams, ILM, ingest pipelines (issue 13), against the double's admin endpoints. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Client } from '@elastic/elasticsearch';
import { runCli } from '../helpers/cli.js';
import { adminState } from '../helpers/es-double-admin.js';
import { REAL_ES } from '../helpers/es.js';
import { bootstrap, numberedLines, ship } from '../helpers/pipeline.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

describe('bootstrap: data streams, ILM, pipelines', () => {
  const pipe = usePipeline();
  const es = pipe.es;

  it('--data-stream with --ilm-policy and --retention 30d installs the policy, components and a data stream template; idempotent; --check verifies it', async (t) => {
    const { n, env: esEnv } = pipe.topology(t, 'dsboot');
    const ds = `logs-${n.exchange.replace(/[^a-z0-9]/g, '')}-default`;
    const env = { ...esEnv, LOGSHIP_DATA_STREAM: ds };
    const policy = `${n.env.LOGSHIP_TEMPLATE_NAME}-policy`;
    for (let i = 0; i < 2; i++) {
      const boot = await runCli(['bootstrap', '--ilm-policy', policy, '--retention', '30d'], { env });
      assert.equal(boot.code, 0, boot.stdout + boot.stderr);
      assert.match(boot.stdout, new RegExp(`declared Elasticsearch ILM policy "${policy}" \\(rollover at 50gb primary shard or 1d, delete after 30d\\)`));
      assert.match(boot.stdout, new RegExp(`declared Elasticsearch index template ".*" \\(data stream ${ds}\\)`));
    }
    const check = await runCli(['bootstrap', '--check', '--ilm-policy', policy, '--retention', '30d'], { env });
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, new RegExp(`ok\\s+Elasticsearch ILM policy "${policy}"`));
    const other = await runCli(['bootstrap', '--check', '--ilm-policy', policy, '--retention', '7d'], { env });
    assert.equal(other.code, 1, 'a policy with another retention is a mismatch');
    assert.match(other.stdout, /MISMATCH Elasticsearch ILM policy .*phases delete differ/);
    if (!REAL_ES) {
      const template = es.double!.templates.get(n.env.LOGSHIP_TEMPLATE_NAME!) as { index_patterns: string[]; data_stream: unknown };
      assert.deepEqual(template.index_patterns, [ds]);
      assert.deepEqual(template.data_stream, {});
      const settings = adminState(es.double!).components.get(`${n.env.LOGSHIP_TEMPLATE_NAME}-settings`) as { template: unknown };
      assert.deepEqual(settings.template, { settings: { index: { lifecycle: { name: policy } } } });
    }
  });

  it('--retention without --ilm-policy, and --ilm-policy for daily indices without --retention, exit 2 before connecting', async () => {
    const env = { LOGSHIP_AMQP_URL: 'amqp://guest:guest@127.0.0.1:1/%2f', LOGSHIP_ES_NODE: es.url };
    const a = await runCli(['bootstrap', '--retention', '30d'], { env });
    assert.equal(a.code, 2, a.stderr);
    assert.match(a.stderr, /--retention needs --ilm-policy/);
    const b = await runCli(['bootstrap', '--ilm-policy', 'p'], { env });
    assert.equal(b.code, 2, b.stderr);
    assert.match(b.stderr, /needs --retention/);
    const c = await runCli(['bootstrap', '--data-stream', 'logs-a-b-c'], { env });
    assert.equal(c.code, 2, c.stderr);
    assert.match(c.stderr, /TYPE-DATASET-NAMESPACE/);
  });

  it('bootstrap --check says whether the --pipeline exists', async (t) => {
    const { n, env: esEnv } = pipe.topology(t, 'pipe');
    const pipeline = `${n.env.LOGSHIP_TEMPLATE_NAME}-pipe`;
    const env = { ...esEnv, LOGSHIP_PIPELINE: pipeline };
    const client = new Client({ node: es.url, maxRetries: 0 });
    pipe.defer(t, async () => {
      await client.ingest.deletePipeline({ id: pipeline }).catch(() => undefined);
      await client.close();
    });
    assert.equal((await runCli(['bootstrap'], { env })).code, 0);
    const missing = await runCli(['bootstrap', '--check'], { env });
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, new RegExp(`MISSING\\s+Elasticsearch ingest pipeline "${pipeline}": every bulk request names it`));
    await client.ingest.putPipeline({ id: pipeline, processors: [{ set: { field: 'labels.via', value: 'pipeline' } }] });
    const ok = await runCli(['bootstrap', '--check'], { env });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, new RegExp(`ok\\s+Elasticsearch ingest pipeline "${pipeline}"`));
  });

  it('index --data-stream --pipeline: events are created in the backing index with data_stream fields, every bulk names the pipeline', async (t) => {
    if (REAL_ES) return t.skip("reads the double's request records");
    const { n, env: esEnv } = pipe.topology(t, 'dsindex');
    const ds = `logs-${n.exchange.replace(/[^a-z0-9]/g, '')}-prod`;
    const pipeline = `${n.env.LOGSHIP_TEMPLATE_NAME}-pipe`;
    const env = { ...esEnv, LOGSHIP_DATA_STREAM: ds, LOGSHIP_PIPELINE: pipeline };
    const client = new Client({ node: es.url, maxRetries: 0 });
    pipe.defer(t, async () => {
      await client.ingest.deletePipeline({ id: pipeline }).catch(() => undefined);
      await client.close();
    });
    await client.ingest.putPipeline({ id: pipeline, processors: [{ set: { field: 'labels.via', value: 'pipeline' } }] });
    const boot = await bootstrap(env);
    assert.equal(boot.code, 0, boot.stderr);
    await pipe.startIndexer(t, env);
    const r = await ship(env, numberedLines(20));
    assert.equal(r.code, 0, r.stderr);
    await waitFor('20 documents in the data stream', async () => es.double!.docs(`.ds-${ds}-*`).length === 20);
    for (const d of es.double!.docs(`.ds-${ds}-*`)) {
      assert.deepEqual(d.source.data_stream, { type: 'logs', dataset: ds.split('-')[1], namespace: 'prod' });
      assert.equal(d.id, (d.source.event as { id: string }).id);
    }
    const pipelines = adminState(es.double!).bulkPipelines;
    assert.ok(pipelines.length > 0 && pipelines.every((p) => p === pipeline), `every bulk names the pipeline: ${JSON.stringify(pipelines)}`);
  });
});
