/** bootstrap: order, --check, idempotence, plain-language mismatches, Elasticsearch unreachable. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { queueDepth, randomNames, withChannel } from '../helpers/amqp.js';
import { runCli } from '../helpers/cli.js';
import { adminState } from '../helpers/es-double-admin.js';
import { numberedLines, ship } from '../helpers/pipeline.js';
import { usePipeline } from '../helpers/use-pipeline.js';

describe('bootstrap', () => {
  const pipe = usePipeline();
  const es = pipe.es;

  it('--check fails naming what is missing, declares nothing, and passes after bootstrap', async (t) => {
    const { n, env } = pipe.topology(t, 'boot');
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
    assert.match(order[6]!, /^Elasticsearch component template .*-mappings/);
    assert.match(order[7]!, /^Elasticsearch component template .*-settings/);
    assert.match(order[8]!, /^Elasticsearch index template/);

    const again = await runCli(['bootstrap'], { env });
    assert.equal(again.code, 0, `bootstrap is idempotent: ${again.stderr}`);
    const after = await runCli(['bootstrap', '--check'], { env });
    assert.equal(after.code, 0, after.stdout + after.stderr);
    assert.match(after.stdout, new RegExp(`ok\\s+exchange "${n.exchange}" \\(direct, durable\\): verified`));
    assert.match(after.stdout, new RegExp(`ok\\s+queue "${n.queue}" \\(durable, classic, .*\\): verified`));
    if (es.double) {
      const name = n.env.LOGSHIP_TEMPLATE_NAME!;
      const template = es.double.templates.get(name) as { index_patterns: string[]; composed_of: string[] };
      assert.deepEqual(template.index_patterns, [n.indexWildcard]);
      assert.deepEqual(template.composed_of, [`${name}-mappings`, `${name}-settings`]);
      const mappings = adminState(es.double).components.get(`${name}-mappings`) as { template: { mappings: { properties: Record<string, unknown> } } };
      const props = mappings.template.mappings.properties;
      assert.deepEqual(props['@timestamp'], { type: 'date' });
      assert.deepEqual(props.message, { type: 'match_only_text' });
      assert.deepEqual(props.tags, { type: 'keyword' });
      assert.deepEqual(props.event, { properties: { id: { type: 'keyword' } } });
      assert.deepEqual(props.host, { properties: { name: { type: 'keyword' } } });
      assert.deepEqual(props.log, { properties: { file: { properties: { path: { type: 'keyword' } } }, offset: { type: 'long' } } });
    }
  });

  it('ship exits 1 with the bootstrap hint when no queue is bound to the exchange', async (t) => {
    const { n } = pipe.topology(t, 'unbound');
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
  });

  it('a mismatched redeclaration becomes a plain-language error with the fix', async (t) => {
    const { n } = pipe.topology(t, 'mismatch');
    await withChannel((ch) => ch.assertExchange(n.exchange, 'fanout', { durable: true }));
    const r = await runCli(['bootstrap', '--skip-elasticsearch'], { env: n.env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`exchange "${n.exchange}" in vhost "/" already exists with type = fanout, but logship asked for type = direct`));
    assert.match(r.stderr, /PRECONDITION_FAILED/);
    assert.match(r.stderr, /delete the exchange .* and run logship bootstrap again/);
    assert.match(r.stderr, /rabbitmqadmin --vhost="\/" delete exchange name=/);
    assert.doesNotMatch(r.stderr, /delete_exchange/, 'rabbitmqctl has no delete_exchange');
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
  });

  it('--check verifies the exchange type: a fanout main exchange is a MISMATCH with the rabbitmqadmin hint, not "ok (direct)"', async (t) => {
    const { n } = pipe.topology(t, 'chktype');
    assert.equal((await runCli(['bootstrap', '--skip-elasticsearch'], { env: n.env })).code, 0);
    await withChannel((ch) => ch.deleteExchange(n.exchange));
    await withChannel((ch) => ch.assertExchange(n.exchange, 'fanout', { durable: true }));
    const r = await runCli(['bootstrap', '--check', '--skip-elasticsearch'], { env: n.env });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`MISMATCH exchange "${n.exchange}" \\(direct, durable\\): .*already exists with type = fanout, but logship asked for type = direct`),
    );
    assert.doesNotMatch(r.stdout, new RegExp(`ok\\s+exchange "${n.exchange}"`));
    assert.match(r.stdout, new RegExp(`ok\\s+dead-letter exchange "${n.deadLetterExchange}" \\(fanout, durable\\): verified`));
    assert.match(r.stderr, /rabbitmqadmin --vhost="\/" delete exchange/);
    assert.doesNotMatch(r.stderr, /delete_exchange/);
    // --check changed nothing: the exchange still exists (checkExchange never creates one) and is still fanout
    await withChannel((ch) => ch.checkExchange(n.exchange));
    await assert.rejects(
      withChannel((ch) => ch.assertExchange(n.exchange, 'direct', { durable: true })),
      /PRECONDITION_FAILED/,
      'a direct declaration is refused: the exchange is not direct',
    );
  });

  it('--check verifies the queue arguments: quorum queues are a MISMATCH when classic is expected, and ok with --queue-type quorum', async (t) => {
    const { n } = pipe.topology(t, 'chkqt');
    const boot = await runCli(['bootstrap', '--skip-elasticsearch', '--queue-type', 'quorum'], { env: n.env });
    assert.equal(boot.code, 0, boot.stderr);
    const r = await runCli(['bootstrap', '--check', '--skip-elasticsearch'], { env: n.env });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `MISMATCH dead-letter queue "${n.deadLetterQueue}" \\(durable, classic.*already exists with x-queue-type = quorum, but logship asked for x-queue-type = classic`,
      ),
    );
    // the broker names the first argument that differs: on the main queue one only quorum queues get
    assert.match(
      r.stdout,
      new RegExp(
        `MISMATCH queue "${n.queue}" \\(durable, classic.*already exists with x-dead-letter-strategy = at-least-once, but logship asked for x-dead-letter-strategy = \\(not set\\)`,
      ),
    );
    assert.match(r.stderr, /--queue-type/);
    assert.match(r.stderr, /set --queue-type quorum \(logship sets x-dead-letter-strategy only on quorum queues/);
    assert.match(r.stderr, new RegExp(`rabbitmqctl -p "/" delete_queue "${n.deadLetterQueue}"`));
    const ok = await runCli(['bootstrap', '--check', '--skip-elasticsearch', '--queue-type', 'quorum'], { env: n.env });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, new RegExp(`ok\\s+queue "${n.queue}" \\(durable, quorum, .*\\): verified`));
    // a main queue without its dead-letter exchange is a mismatch too
    await withChannel((ch) => ch.deleteQueue(n.queue));
    await withChannel((ch) => ch.assertQueue(n.queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } }));
    const noDlx = await runCli(['bootstrap', '--check', '--skip-elasticsearch', '--queue-type', 'quorum'], { env: n.env });
    assert.equal(noDlx.code, 1, noDlx.stdout);
    assert.match(noDlx.stdout, new RegExp(`MISMATCH queue "${n.queue}".*x-dead-letter-exchange = \\(not set\\)`));
  });

  it('declares the AMQP side when Elasticsearch is unreachable, then fails clearly about the template', async (t) => {
    const { n } = pipe.topology(t, 'noes');
    const r = await runCli(['bootstrap', '--es-node', 'http://127.0.0.1:9'], { env: n.env });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /declared binding .* with routing key/);
    assert.match(r.stderr, /Elasticsearch at http:\/\/127\.0\.0\.1:9\/ did not answer/);
    assert.match(r.stderr, /--skip-elasticsearch/);
    const check = await runCli(['bootstrap', '--check', '--skip-elasticsearch'], { env: n.env });
    assert.equal(check.code, 0, check.stdout);
  });

  it('bad values exit 2 naming the flag or variable, before connecting: --prefetch 70000 or -1, LOGSHIP_SKIP_ELASTICSEARCH=maybe, --index starting with a field reference, field references with --data-stream', async () => {
    for (const args of [
      ['--prefetch', '70000'],
      ['--prefetch', '-1'],
    ]) {
      const r = await runCli(['index', ...args], { env: { LOGSHIP_AMQP_URL: 'amqp://guest:guest@127.0.0.1:9/%2f' } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /--prefetch \(LOGSHIP_PREFETCH\): must be a whole number from 1 to 65535/);
      assert.doesNotMatch(r.stderr, /ambiguous|failed to use queue/);
    }
    const f = await runCli(['bootstrap'], { env: { LOGSHIP_SKIP_ELASTICSEARCH: 'maybe' } });
    assert.equal(f.code, 2);
    assert.match(f.stderr, /LOGSHIP_SKIP_ELASTICSEARCH \(--skip-elasticsearch\): must be true or false/);
    const idx = await runCli(['bootstrap', '--index', '%{foo}-logs']);
    assert.equal(idx.code, 2);
    assert.match(idx.stderr, /--index \(LOGSHIP_INDEX\): starts with a %\{\.\.\.\} reference; with a field reference the pattern must start with literal text/);
    const down = { LOGSHIP_AMQP_URL: 'amqp://guest:guest@127.0.0.1:9/%2f' };
    for (const command of ['bootstrap', 'index']) {
      // a LOGSHIP_INDEX shared by every service (an --index flag beside --data-stream is refused as such)
      const ds = await runCli([command, '--data-stream', 'logs-app-default'], { env: { ...down, LOGSHIP_INDEX: 'logs-%{[service][name]}' } });
      assert.equal(ds.code, 2, `${command}: ${ds.stderr}`);
      assert.match(ds.stderr, /names indices from event fields, which --data-stream logs-app-default cannot do: a data stream has one name/);
      assert.doesNotMatch(ds.stderr, /ECONNREFUSED|did not answer/);
    }
  });

  it('a date-format literal before the first field reference is not literal text: --index %{+0yyyy}-%{[service][name]} or %{+0}%{[a]} exits 2 in bootstrap and index, before connecting', async () => {
    const down = { LOGSHIP_AMQP_URL: 'amqp://guest:guest@127.0.0.1:9/%2f', LOGSHIP_ES_NODE: 'http://127.0.0.1:9' };
    for (const command of ['bootstrap', 'index']) {
      for (const index of ['%{+0yyyy}-%{[service][name]}', '%{+0}%{[a]}']) {
        const r = await runCli([command, '--index', index], { env: down });
        assert.equal(r.code, 2, `${command} --index ${index}: ${r.stderr}`);
        assert.match(
          r.stderr,
          /--index \(LOGSHIP_INDEX\): starts with a %\{\.\.\.\} reference; with a field reference the pattern must start with literal text ending in "-", "_" or "\."/,
        );
        assert.match(r.stderr, /cover every index of the cluster/);
        assert.doesNotMatch(r.stderr, /ECONNREFUSED|did not answer/);
      }
    }
  });

  it('LOGSHIP_SKIP_ELASTICSEARCH=0 means false: the template is declared', async (t) => {
    const { env } = pipe.topology(t, 'skip0', { LOGSHIP_SKIP_ELASTICSEARCH: '0' });
    const r = await runCli(['bootstrap'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /declared Elasticsearch index template/);
    assert.doesNotMatch(r.stdout, /skipped Elasticsearch/);
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

  it('index with an --es-ca it cannot read exits 2 naming the option and the file, every message still queued (the client loads while the broker connects)', async (t) => {
    const { n } = pipe.topology(t, 'badca');
    assert.equal((await runCli(['bootstrap', '--skip-elasticsearch'], { env: n.env })).code, 0);
    assert.equal((await ship(n.env, numberedLines(3))).code, 0);
    const r = await runCli(['index', '--metrics-port', '0', '--es-ca', '/nonexistent/ca.pem'], { env: n.env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /cannot read --es-ca \/nonexistent\/ca\.pem: .*no such file/);
    assert.equal((await queueDepth(n.queue)).messageCount, 3, 'every message still in the queue');
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

  it('a vhost that does not exist is named with the user and the fix, not "is the broker running?"', async () => {
    const vhost = `logship-no-such-vhost-${process.pid}`;
    const env = { LOGSHIP_AMQP_URL: `amqp://guest:guest@127.0.0.1:5672/${vhost}` };
    // in parallel: ship and index retry the connection a few times first
    const commands = [['bootstrap', '--skip-elasticsearch'], ['ship'], ['index', '--metrics-port', '0']];
    const results = await Promise.all(commands.map((args) => runCli(args, { env })));
    for (const [i, r] of results.entries()) {
      const args = commands[i]!;
      assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`refused to open vhost "${vhost}": the vhost does not exist or user "guest" may not use it`), args[0]);
      assert.match(r.stderr, new RegExp(`rabbitmqctl add_vhost "${vhost}"`));
      assert.match(r.stderr, /rabbitmqctl set_permissions/);
      assert.doesNotMatch(r.stderr, /is the broker running/);
    }
  });

  it('bootstrap warns that an even --quorum-group-size (2, 4) tolerates no more members down than one fewer', async () => {
    const down = { LOGSHIP_AMQP_URL: 'amqp://guest:guest@127.0.0.1:9/%2f', LOGSHIP_SKIP_ELASTICSEARCH: 'true' };
    for (const [size, tolerated, odd] of [
      ['2', '0', '1 or 3'],
      ['4', '1', '3 or 5'],
    ]) {
      const r = await runCli(['bootstrap', '--queue-type', 'quorum', '--quorum-group-size', size!], { env: down });
      assert.equal(r.code, 1, 'the broker is down');
      assert.match(r.stderr, new RegExp(`--quorum-group-size ${size} is even: a quorum queue of ${size} members keeps working with ${tolerated} of them down`));
      assert.match(r.stderr, new RegExp(`use an odd number, ${odd}`));
    }
    for (const args of [
      ['--queue-type', 'quorum', '--quorum-group-size', '3'],
      ['--queue-type', 'classic', '--quorum-group-size', '4'],
    ]) {
      const quiet = await runCli(['bootstrap', ...args], { env: down });
      assert.doesNotMatch(quiet.stderr, /is even/, args.join(' '));
    }
  });

  it('index warns when --batch-size is larger than --prefetch, naming both values and the fix', async () => {
    const n = randomNames('batchwarn');
    const r = await runCli(['index', '--metrics-port', '0', '--batch-size', '2000', '--prefetch', '10'], { env: n.env });
    assert.equal(r.code, 1, 'the queue does not exist');
    assert.match(r.stderr, /--batch-size 2000 is larger than --prefetch 10/);
    assert.match(r.stderr, /set --prefetch 2000 or more/);
    const quiet = await runCli(['index', '--metrics-port', '0', '--batch-size', '10', '--prefetch', '10'], { env: n.env });
    assert.doesNotMatch(quiet.stderr, /is larger than --prefetch/);
  });

  it('index on a queue that does not exist exits 1 with the bootstrap hint', async () => {
    const n = randomNames('noqueue');
    const r = await runCli(['index', '--metrics-port', '0'], { env: n.env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`queue "${n.queue}" does not exist`));
    assert.match(r.stderr, /logship bootstrap/);
  });
});
