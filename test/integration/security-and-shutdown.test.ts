/** TLS, credentials and secrets; forced shutdown; connection.blocked; NDJSON injection end to end. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { queueDepth, randomNames } from '../helpers/amqp.js';
import { runCli, startCli } from '../helpers/cli.js';
import { EsDouble } from '../helpers/es-double.js';
import { bootstrap, metricValue, numberedLines, ship, stopProcess } from '../helpers/pipeline.js';
import { PrivateRabbit, rabbitAvailable } from '../helpers/rabbit-node.js';
import { makeCerts, type TestCerts } from '../helpers/tls.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

const FAULTS = process.env.LOGSHIP_TEST_ES_NODE ? 'needs the Elasticsearch double' : false;

describe('security', { skip: FAULTS }, () => {
  // each test starts the Elasticsearch it needs: a double with TLS or credentials, or one of its own
  const pipe = usePipeline({ es: false });
  let certs: TestCerts;
  before(() => {
    certs = makeCerts(pipe.tmpDir(pipe.block, 'certs'));
  });

  it('https Elasticsearch with --es-ca and an API key: works, and the key never reaches a log line or /health', async (t) => {
    const double = new EsDouble();
    pipe.defer(t, () => double.stop());
    const url = await double.start(0, { key: fs.readFileSync(certs.key), cert: fs.readFileSync(certs.cert) });
    const apiKey = 'c2VjcmV0LWlkOnNlY3JldC1hcGkta2V5';
    double.requiredAuthorization = `ApiKey ${apiKey}`;
    const { n, env } = pipe.topology(t, 'tls', {
      LOGSHIP_ES_NODE: url.replace('127.0.0.1', 'localhost'),
      LOGSHIP_ES_CA: certs.ca,
      LOGSHIP_ES_API_KEY: apiKey,
      LOGSHIP_LOG_LEVEL: 'debug',
    });
    const noCa = await runCli(['bootstrap'], { env: { ...env, LOGSHIP_ES_CA: '' } });
    assert.equal(noCa.code, 1);
    assert.match(noCa.stderr, /Elasticsearch at https:\/\/localhost:\d+\/ did not answer: .*(self-signed|certificate)/);
    const ok = await runCli(['bootstrap'], { env });
    assert.equal(ok.code, 0, ok.stderr);
    const p = await pipe.startIndexer(t, env);
    assert.equal((await ship(env, numberedLines(20))).code, 0);
    await waitFor('20 documents over https', () => double.docs(n.indexWildcard).length === 20, 20_000);
    const health = await (await fetch(`${p.url}/health`)).text();
    const metrics = await (await fetch(`${p.url}/metrics`)).text();
    for (const text of [health, metrics, p.stderr(), ok.stdout, ok.stderr]) assert.doesNotMatch(text, /c2VjcmV0|secret-api-key/);
    await stopProcess(p);
    const wrong = await runCli(['bootstrap'], { env: { ...env, LOGSHIP_ES_API_KEY: 'd3Jvbmc6a2V5' } });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /refused (component |index )?template .*HTTP 401/);
  });

  it('basic auth from *_FILE variables (Docker secrets), never logged', async (t) => {
    const double = new EsDouble();
    pipe.defer(t, () => double.stop());
    const url = await double.start();
    double.requiredAuthorization = `Basic ${Buffer.from('indexer:pa55-from-file').toString('base64')}`;
    const secret = path.join(certs.dir, 'es-password');
    fs.writeFileSync(secret, 'pa55-from-file\n');
    const { env } = pipe.topology(t, 'secret', {
      LOGSHIP_ES_NODE: url,
      LOGSHIP_ES_USERNAME: 'indexer',
      LOGSHIP_ES_PASSWORD_FILE: secret,
      LOGSHIP_LOG_LEVEL: 'trace',
    });
    const r = await runCli(['bootstrap'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /pa55-from-file/);
  });

  it('amqps:// with --amqp-ca and a client certificate', { skip: !rabbitAvailable() && 'rabbitmq-server not installed' }, async (t) => {
    const rabbit = new PrivateRabbit();
    pipe.defer(t, () => rabbit.destroy());
    rabbit.tls = { ca: certs.ca, cert: certs.cert, key: certs.key };
    await rabbit.start();
    const es = await pipe.startEs(t);
    const n = randomNames('amqps', rabbit.tlsUrl);
    const env = { ...n.env, LOGSHIP_ES_NODE: es.url, LOGSHIP_AMQP_CA: certs.ca, LOGSHIP_AMQP_CERT: certs.clientCert, LOGSHIP_AMQP_KEY: certs.clientKey };
    const noCa = await runCli(['bootstrap', '--skip-elasticsearch'], { env: { ...env, LOGSHIP_AMQP_CA: '' } });
    assert.equal(noCa.code, 1);
    assert.match(noCa.stderr, /cannot connect to RabbitMQ at amqps:\/\/guest:\*\*\*@localhost:\d+\/%2f: .*(self-signed|certificate)/);
    const halfCert = await runCli(['bootstrap'], { env: { ...env, LOGSHIP_AMQP_KEY: '' } });
    assert.equal(halfCert.code, 2);
    assert.match(halfCert.stderr, /--amqp-cert and --amqp-key go together/);
    await bootstrap(env);
    await pipe.startIndexer(t, env);
    assert.equal((await ship(env, numberedLines(30))).code, 0);
    await waitFor('30 documents through amqps', async () => (await es.count(n.indexWildcard)) === 30, 20_000);
  });

  it('least privilege: a write-only shipper user and a read-queue/write-DLX indexer user are enough', async (t) => {
    const ctl = (...args: string[]) => {
      const r = spawnSync('rabbitmqctl', args, { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    };
    const es = await pipe.startEs(t);
    const { n, env } = pipe.topology(t, 'leastpriv', { LOGSHIP_ES_NODE: es.url });
    const suffix = randomBytes(4).toString('hex');
    const shipper = `logship-test-shipper-${suffix}`;
    const indexer = `logship-test-indexer-${suffix}`;
    pipe.defer(t, () => {
      spawnSync('rabbitmqctl', ['delete_user', shipper]);
      spawnSync('rabbitmqctl', ['delete_user', indexer]);
    });
    const esc = (name: string) => `^${name.replace(/[.]/g, '\\.')}$`;
    await bootstrap(env);
    ctl('add_user', shipper, 'pw-s');
    ctl('add_user', indexer, 'pw-i');
    ctl('set_permissions', '-p', '/', shipper, '^$', esc(n.exchange), '^$');
    ctl('set_permissions', '-p', '/', indexer, '^$', esc(n.deadLetterExchange), esc(n.queue));
    es.double!.setFaults({ reject: (src) => String(src.message).includes('REJECT') });
    const r = await ship({ ...n.env, LOGSHIP_AMQP_URL: `amqp://${shipper}:pw-s@127.0.0.1:5672/%2f` }, 'one\ntwo REJECT\nthree\n');
    assert.equal(r.code, 0, r.stderr);
    const p = await pipe.startIndexer(t, { ...env, LOGSHIP_AMQP_URL: `amqp://${indexer}:pw-i@127.0.0.1:5672/%2f` });
    await waitFor('2 documents', async () => (await es.count(n.indexWildcard)) === 2, 20_000);
    await waitFor('1 dead letter', async () => (await queueDepth(n.deadLetterQueue)).messageCount === 1, 20_000);
    assert.equal((await stopProcess(p)).code, 0);
    const denied = await runCli(['bootstrap', '--skip-elasticsearch'], { env: { ...n.env, LOGSHIP_AMQP_URL: `amqp://${shipper}:pw-s@127.0.0.1:5672/%2f` } });
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /the broker refused to declare exchange .*ACCESS_REFUSED|refused to declare/);
    assert.match(denied.stderr, /least privilege/);
  });

  it('event data cannot change the bulk request nor escape the index pattern, end to end', async (t) => {
    const es = await pipe.startEs(t);
    const { n, env } = pipe.topology(t, 'inject', { LOGSHIP_ES_NODE: es.url });
    await bootstrap(env);
    const p = await pipe.startIndexer(t, env);
    const evil = [
      'x"}}\n{"delete":{"_index":"victim","_id":"1"}}',
      '{"@timestamp":"../../etc/passwd","message":"ts injection","event":{"id":"e\\n{\\"index\\":{}}"}}',
      '{"@timestamp":"2026-01-01T00:00:00Z","index":"other-index","_index":"other","message":"field named _index"}',
    ];
    const r = await ship(env, `${evil.join('\n')}\n`, ['--codec', 'json']);
    assert.equal(r.code, 0, r.stderr);
    await waitFor('4 documents', async () => (await es.count(n.indexWildcard)) === 4, 20_000);
    assert.deepEqual(
      [...es.double!.indices.keys()].filter((i) => !i.startsWith(n.indexWildcard.slice(0, -1))),
      [],
      'no document outside the configured pattern',
    );
    for (const b of es.double!.bulks) for (const idx of b.indices) assert.ok(idx.startsWith(n.indexWildcard.slice(0, -1)), idx);
    await stopProcess(p);
  });
});

describe('shutdown and flow control', { skip: FAULTS }, () => {
  const pipe = usePipeline();
  const es = pipe.es;

  it('--shutdown-timeout forces the exit when the drain cannot finish; nothing held is acked', async (t) => {
    const { n, env } = pipe.topology(t, 'forcetimeout');
    await bootstrap(env);
    pipe.defer(t, () => es.double!.clearFaults());
    es.double!.setFaults({ down: '503' });
    const p = await pipe.startIndexer(t, env, ['--shutdown-timeout', '1s', '--retry-backoff', '50ms', '--retry-max-backoff', '200ms']);
    assert.equal((await ship(env, numberedLines(200))).code, 0);
    await waitFor('the indexer holds every delivery', async () => (await queueDepth(n.queue)).messageCount === 0, 20_000);
    const started = Date.now();
    const r = await stopProcess(p, 'SIGTERM');
    assert.equal(r.code, 1);
    assert.ok(Date.now() - started < 10_000);
    assert.match(r.stderr, /forced exit: unsettled work is left to the broker/);
    assert.match(r.stderr, /--shutdown-timeout/);
    await waitFor('deliveries back in the queue', async () => (await queueDepth(n.queue)).messageCount === 200, 10_000);
    assert.equal(es.double!.docs(n.indexWildcard).length, 0);
  });

  it('a second signal forces the exit at once; unsettled deliveries are left to the broker', async (t) => {
    const { n, env } = pipe.topology(t, 'secondsig');
    await bootstrap(env);
    pipe.defer(t, () => es.double!.clearFaults());
    es.double!.setFaults({ down: '503' });
    const p = await pipe.startIndexer(t, env, ['--shutdown-timeout', '60s']);
    assert.equal((await ship(env, numberedLines(50))).code, 0);
    await waitFor('the indexer holds every delivery', async () => (await queueDepth(n.queue)).messageCount === 0, 20_000);
    p.child.kill('SIGTERM');
    // the second signal must come after the first was taken, not merely after some time
    await waitFor('the first signal taken', () => /shutting down: draining/.test(p.stderr()), 10_000, 20);
    p.child.kill('SIGINT');
    const r = await p.exited;
    assert.equal(r.code, 1);
    assert.match(r.stderr, /second SIGINT/);
    es.double!.clearFaults();
    await waitFor('deliveries back in the queue', async () => (await queueDepth(n.queue)).messageCount === 50, 10_000);
    const again = await pipe.startIndexer(t, env);
    await waitFor('all indexed after restart', async () => (await es.count(n.indexWildcard)) === 50, 20_000);
    await stopProcess(again);
  });

  it('connection.blocked: the shipper stops reading until unblocked, says so in a log line and a metric', {
    skip: !rabbitAvailable() && 'rabbitmq-server not installed',
  }, async (t) => {
    const rabbit = new PrivateRabbit();
    pipe.defer(t, () => rabbit.destroy());
    await rabbit.start();
    const dir = pipe.tmpDir(t, 'blocked');
    // the private broker goes with its topology: no names to delete
    const n = randomNames('blocked', rabbit.url);
    const env = { ...n.env, LOGSHIP_ES_NODE: es.url, LOGSHIP_STATE_DIR: path.join(dir, 'state'), LOGSHIP_LOG_LEVEL: 'info' };
    const file = path.join(dir, 'app.log');
    fs.writeFileSync(file, numberedLines(100));
    await bootstrap(env);
    const s = pipe.track(t, startCli(['ship', '--follow', file, '--metrics-port', '0'], { env }), 'SIGKILL');
    const url = await waitFor('metrics url', () => /"url":"(http:\/\/[^"]+)","metrics"/.exec(s.stderr())?.[1], 20_000);
    await waitFor('100 queued', async () => (await queueDepth(n.queue, rabbit.url)).messageCount === 100, 20_000);
    rabbit.ctl('set_vm_memory_high_watermark', 'absolute', '1');
    fs.appendFileSync(file, numberedLines(100).replace(/line/g, 'more'));
    await waitFor('blocked metric', async () => (await metricValue(url, 'logship_shipper_blocked')) === 1, 20_000);
    assert.match(s.stderr(), /broker blocked publishing \(memory or disk alarm\): input paused/);
    const health = (await (await fetch(`${url}/health`)).json()) as { status: string };
    assert.equal(health.status, 'degraded');
    // the shipper read input appended after the alarm (it had every chance to publish it): nothing of it was published
    await waitFor('lines read after the alarm', async () => (await metricValue(url, 'logship_shipper_events_read_total')) > 100, 20_000);
    assert.equal(await metricValue(url, 'logship_shipper_events_published_total'), 100, 'nothing more is published while blocked');
    assert.equal((await queueDepth(n.queue, rabbit.url)).messageCount, 100, 'nothing more is queued while blocked');
    // input read once the shipper knows it is blocked: it takes one line, waits on it, and reads no further
    const readBefore = await metricValue(url, 'logship_shipper_events_read_total');
    fs.appendFileSync(file, numberedLines(100).replace(/line/g, 'third'));
    await waitFor('a line read while blocked', async () => (await metricValue(url, 'logship_shipper_events_read_total')) > readBefore, 20_000);
    assert.equal(await metricValue(url, 'logship_shipper_events_read_total'), readBefore + 1, 'input paused while blocked');
    rabbit.ctl('set_vm_memory_high_watermark', '0.4');
    await waitFor('unblocked metric', async () => (await metricValue(url, 'logship_shipper_blocked')) === 0, 20_000);
    await waitFor('300 queued', async () => (await queueDepth(n.queue, rabbit.url)).messageCount === 300, 20_000);
    assert.match(s.stderr(), /broker unblocked publishing: input resumed/);
    s.child.kill('SIGTERM');
    assert.equal((await s.exited).code, 0);
  });
});
