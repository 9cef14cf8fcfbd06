/** bootstrap: order, --check, idempotence, plain-language mismatches, Elasticsearch unreachable. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deleteTopology, queueDepth, randomNames, withChannel } from '../helpers/amqp.js';
import { runCli } from '../helpers/cli.js';
import { startEs, type EsTarget } from '../helpers/es.js';
import { numberedLines, ship } from '../helpers/pipeline.js';

describe('bootstrap', () => {
  let es: EsTarget;
  before(async () => {
    es = await startEs();
  });
  after(async () => es.close());

  it('--check fails naming what is missing, declares nothing, and passes after bootstrap', async () => {
    const n = randomNames('boot');
    const env = { ...n.env, LOGSHIP_ES_NODE: es.url };
    try {
      const before = await runCli(['bootstrap', '--check'], { env });
      assert.equal(before.code, 1, before.stderr);
      assert.match(before.stdout, new RegExp(`MISSING\\s+exchange "${n.exchange}"`));
      assert.match(before.stdout, new RegExp(`MISSING\\s+queue "${n.queue}"`));
      assert.match(before.stdout, /MISSING\s+Elasticsearch index template/);
      assert.match(before.stderr, /run "logship bootstrap"/);
      await assert.rejects(queueDepth(n.queue), /NOT_FOUND/, '--check must not declare the queue');

      const boot = await runCli(['bootstrap'], { env });
      assert.equal(boot.code, 0, boot.stderr);
      const order = [...boot.stdout.matchAll(/declared (.+)/g)].map((m) => m[1]!);
      assert.match(order[0]!, /^dead-letter exchange/);
      assert.match(order[1]!, /^dead-letter queue/);
      assert.match(order[2]!, /^binding .*dlx/);
      assert.match(order[3]!, /^exchange/);
      assert.match(order[4]!, /^queue/);
      assert.match(order[5]!, /^binding/);
      assert.match(order[6]!, /^Elasticsearch index template/);

      const again = await runCli(['bootstrap'], { env });
      assert.equal(again.code, 0, `bootstrap is idempotent: ${again.stderr}`);
      const after = await runCli(['bootstrap', '--check'], { env });
      assert.equal(after.code, 0, after.stdout + after.stderr);
      if (es.double) {
        const template = es.double.templates.get(n.env.LOGSHIP_TEMPLATE_NAME!) as {
          index_patterns: string[];
          template: { mappings: { properties: Record<string, unknown> } };
        };
        assert.deepEqual(template.index_patterns, [n.indexWildcard]);
        const props = template.template.mappings.properties;
        assert.deepEqual(props['@timestamp'], { type: 'date' });
        assert.deepEqual(props.message, { type: 'text' });
        assert.deepEqual(props.tags, { type: 'keyword' });
        assert.deepEqual(props.event, { properties: { id: { type: 'keyword' } } });
        assert.deepEqual(props.host, { properties: { name: { type: 'keyword' } } });
        assert.deepEqual(props.log, { properties: { file: { properties: { path: { type: 'keyword' } } }, offset: { type: 'long' } } });
      }
    } finally {
      await deleteTopology(n);
    }
  });

  it('ship exits 1 with the bootstrap hint when no queue is bound to the exchange', async () => {
    const n = randomNames('unbound');
    try {
      const missing = await ship(n.env, 'a line\n');
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, new RegExp(`exchange "${n.exchange}" does not exist`));
      assert.match(missing.stderr, /logship bootstrap/);

      // the exchange exists but nothing is bound: the broker returns the message
      await withChannel((ch) => ch.assertExchange(n.exchange, 'direct', { durable: true }));
      const r = await ship(n.env, numberedLines(50));
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /no queue is bound to exchange/);
      assert.match(r.stderr, /logship bootstrap/);
      assert.match(r.stderr, /published 0,/, 'nothing is reported as delivered');
      assert.match(r.stderr, /unroutable [1-9]/);
    } finally {
      await deleteTopology(n);
    }
  });

  it('a mismatched redeclaration becomes a plain-language error with the fix', async () => {
    const n = randomNames('mismatch');
    try {
      await withChannel((ch) => ch.assertExchange(n.exchange, 'fanout', { durable: true }));
      const r = await runCli(['bootstrap', '--skip-elasticsearch'], { env: n.env });
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`exchange "${n.exchange}" in vhost "/" already exists with type = fanout, but logship asked for type = direct`));
      assert.match(r.stderr, /PRECONDITION_FAILED/);
      assert.match(r.stderr, /delete the exchange .* and run logship bootstrap again/);
      assert.match(r.stdout, /declared dead-letter queue/, 'steps before the conflict were declared');

      await withChannel((ch) => ch.deleteExchange(n.exchange));
      assert.equal((await runCli(['bootstrap', '--skip-elasticsearch'], { env: n.env })).code, 0);
      const q = await runCli(['bootstrap', '--skip-elasticsearch', '--queue-type', 'quorum'], { env: n.env });
      assert.equal(q.code, 1);
      // the dead-letter queue comes first in the order, so it is the one named
      assert.match(
        q.stderr,
        new RegExp(`queue "${n.deadLetterQueue}" in vhost "/" already exists with x-queue-type = \\(not set\\), but logship asked for x-queue-type = quorum`),
      );
      assert.match(q.stderr, /--queue-type/);
    } finally {
      await deleteTopology(n);
    }
  });

  it('declares the AMQP side when Elasticsearch is unreachable, then fails clearly about the template', async () => {
    const n = randomNames('noes');
    try {
      const r = await runCli(['bootstrap', '--es-node', 'http://127.0.0.1:9'], { env: n.env });
      assert.equal(r.code, 1);
      assert.match(r.stdout, /declared binding .* with routing key/);
      assert.match(r.stderr, /Elasticsearch at http:\/\/127\.0\.0\.1:9\/ did not answer/);
      assert.match(r.stderr, /--skip-elasticsearch/);
      const check = await runCli(['bootstrap', '--check', '--skip-elasticsearch'], { env: n.env });
      assert.equal(check.code, 0, check.stdout);
    } finally {
      await deleteTopology(n);
    }
  });

  it('bad usage exits 2 naming the problem', async () => {
    const r = await runCli(['bootstrap', '--exchagne', 'x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option --exchagne.*did you mean --exchange/s);
    const u = await runCli(['frobnicate']);
    assert.equal(u.code, 2);
    assert.match(u.stderr, /unknown command "frobnicate"/);
    const help = await runCli(['bootstrap', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--check/);
  });
});

describe('unreachable or missing broker objects', () => {
  it('says which broker could not be reached, with the password masked', async () => {
    const env = { LOGSHIP_AMQP_URL: 'amqp://shipper:hunter2secret@127.0.0.1:9/%2f' };
    for (const args of [['bootstrap', '--skip-elasticsearch'], ['ship'], ['index', '--metrics-port', '0']]) {
      const r = await runCli(args, { env: { ...env, LOGSHIP_LOG_LEVEL: 'debug' } });
      assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /cannot connect to RabbitMQ at amqp:\/\/shipper:\*\*\*@127\.0\.0\.1:9/);
      assert.doesNotMatch(r.stderr + r.stdout, /hunter2secret/, `${args[0]} leaked the password`);
    }
  });

  it('index on a queue that does not exist exits 1 with the bootstrap hint', async () => {
    const n = randomNames('noqueue');
    const r = await runCli(['index', '--metrics-port', '0'], { env: n.env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`queue "${n.queue}" does not exist`));
    assert.match(r.stderr, /logship bootstrap/);
  });
});
