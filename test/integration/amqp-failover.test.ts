/**
 * The node-list connection (packages/common/src/amqp/amqp-connection.ts) on
 * real brokers: a private node (killed -9 by the test) and the machine's shared
 * broker stand for two nodes of a cluster. What crosses a real cluster (quorum
 * queues, every line indexed once) is in cluster.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AmqpConnection, connectOnce, connectRecovering, createLogger, createRegistry } from '@logship/common';
import { AMQP_URL } from '../helpers/amqp.js';
import { runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { PrivateRabbit, rabbitAvailable } from '../helpers/rabbit-node.js';
import { waitFor } from '../helpers/wait.js';

const logger = createLogger({ level: 'silent' });
const settings = (amqpUrl: string) => ({ amqpUrl, amqpCa: '', amqpCert: '', amqpKey: '' });
/** the shared broker with a password that must never be printed (guest's real one is "guest") */
const withSecret = (url: string, password: string) => url.replace('guest:guest@', `guest:${password}@`);

describe('AMQP node list: connect and fail over', { skip: !rabbitAvailable() && 'rabbitmq-server not installed' }, () => {
  let node: PrivateRabbit;
  before(
    async () => {
      node = new PrivateRabbit();
      await node.start();
      // a user whose password must never be printed
      await node.ctlAsync(['add_user', 'shipper', 'privpw5678']);
      await node.ctlAsync(['set_permissions', '-p', '/', 'shipper', '.*', '.*', '.*']);
    },
    { timeout: 120_000 },
  );
  after(async () => {
    await node?.destroy();
  });

  it('a node that refuses the TCP connection is skipped: the process connects to the next node that answers', async () => {
    const dead = `amqp://guest:deadpw1234@127.0.0.1:${await freePort()}/%2f`;
    const conn = await connectRecovering(settings(`${dead},${AMQP_URL}`), { role: 'test', logger, ordered: true });
    try {
      assert.equal(conn.node, AMQP_URL.replace('guest:guest@', 'guest:***@'));
      const ch = await conn.createChannel();
      await ch.close();
    } finally {
      await conn.close();
    }
    const once = await connectOnce(settings(`${dead},${AMQP_URL}`), 'test', { ordered: true });
    await once.close();
  });

  it('failover: losing the node in use (kill -9) moves to the next node; logship_amqp_failovers_total counts the switch; the metrics and logs name nodes masked', async () => {
    const registry = createRegistry(false);
    const lines: string[] = [];
    const spy = createLogger({ level: 'silent' });
    for (const level of ['info', 'warn'] as const) {
      // biome-ignore lint/suspicious/noExplicitAny: pino's overloads
      (spy as any)[level] = (obj: unknown, msg?: string) => lines.push(`${JSON.stringify(obj)} ${msg ?? ''}`);
    }
    const first = node.url.replace('guest:guest@', 'shipper:privpw5678@');
    const conn = new AmqpConnection(settings(`${first},${AMQP_URL}`), { role: 'test', logger: spy, ordered: true, registry });
    try {
      await conn.waitForConnect();
      assert.match(conn.node ?? '', new RegExp(`:${node.port}/`));
      const events: string[] = [];
      conn.on('disconnect', () => events.push('disconnect'));
      conn.on('connect', () => events.push('connect'));
      await node.kill();
      await waitFor(
        'a connection to the next node',
        async () => conn.connected && conn.node !== undefined && !conn.node.includes(`:${node.port}/`),
        30_000,
        50,
      );
      assert.deepEqual(events, ['disconnect', 'connect']);
      assert.equal(conn.failovers, 1);
      const text = await registry.metrics();
      assert.match(text, /^logship_amqp_failovers_total 1$/m);
      assert.match(text, /^logship_amqp_connected\{node="amqp:\/\/guest:\*\*\*@127\.0\.0\.1:5672\/%2f"\} 1$/m);
      assert.ok(!text.includes('privpw5678'), 'no password in the metrics');
      const ch = await conn.createConfirmChannel();
      await ch.close();
      assert.ok(
        lines.some((l) => l.includes('failed over')),
        lines.join('\n'),
      );
      assert.ok(!lines.join('\n').includes('privpw5678'), 'no password in the log lines');
    } finally {
      await conn.close();
      await node.start();
    }
  });

  it('the first connection fails after its rounds, naming every node masked and why', async () => {
    const a = `amqp://guest:secretA123@127.0.0.1:${await freePort()}/%2f`;
    const b = `amqp://guest:secretB123@127.0.0.1:${await freePort()}/%2f`;
    const started = Date.now();
    const err = await connectRecovering(settings(`${a},${b}`), { role: 'test', logger, initialMaxRetries: 1 }).then(
      () => assert.fail('connected to nothing'),
      (e: Error) => e,
    );
    assert.match(err.message, /cannot connect to any of the 2 RabbitMQ nodes/);
    assert.match(err.message, /amqp:\/\/guest:\*\*\*@127\.0\.0\.1:\d+\/%2f: connect ECONNREFUSED/);
    assert.ok(!err.message.includes('secretA123') && !err.message.includes('secretB123'), err.message);
    assert.ok(Date.now() - started < 15_000, 'gives up within its rounds');
  });

  it('a node that refuses the login fails the first connection at once, without trying every round', async () => {
    const started = Date.now();
    const err = await connectRecovering(settings(withSecret(AMQP_URL, 'wrongpw999')), { role: 'test', logger }).then(
      () => assert.fail('logged in with a wrong password'),
      (e: Error) => e,
    );
    assert.match(err.message, /refused the login/);
    assert.ok(!err.message.includes('wrongpw999'), err.message);
    assert.ok(Date.now() - started < 5_000, `failed in ${Date.now() - started} ms`);
  });

  it('a vhost refused by one node is not final (a booting node refuses it too): the next node that has it is used', async () => {
    await node.ctlAsync(['add_vhost', 'only-on-private']);
    await node.ctlAsync(['set_permissions', '-p', 'only-on-private', 'guest', '.*', '.*', '.*']);
    const onShared = AMQP_URL.replace(/\/%2f$/, '/only-on-private');
    const onPrivate = node.url.replace(/\/%2f$/, '/only-on-private');
    const conn = await connectRecovering(settings(`${onShared},${onPrivate}`), { role: 'test', logger, ordered: true });
    try {
      assert.match(conn.node ?? '', new RegExp(`:${node.port}/only-on-private`));
    } finally {
      await conn.close();
    }
    // on every node: a configuration error, reported at once with the fix
    const err = await connectRecovering(settings(onShared), { role: 'test', logger }).then(
      () => assert.fail('opened a vhost that does not exist'),
      (e: Error) => e,
    );
    assert.match(err.message, /refused to open vhost "only-on-private"/);
  });

  it('close() while every node is down returns at once: no backoff or connect attempt holds it, and channel requests are rejected', async () => {
    const dead = `amqp://guest:guest@127.0.0.1:${await freePort()}/%2f`;
    const conn = new AmqpConnection(settings(dead), { role: 'test', logger, initialMaxRetries: Number.POSITIVE_INFINITY });
    const first = conn.waitForConnect().then(
      () => 'connected',
      (e: Error) => e.message,
    );
    const channel = conn.createChannel().then(
      () => 'channel',
      (e: Error) => e.message,
    );
    // a scrape that gives up leaves no waiter behind
    await assert.rejects(conn.createChannelUnless(AbortSignal.timeout(50)), /no RabbitMQ node connected in time/);
    await new Promise((r) => setTimeout(r, 1500)); // a few rounds, into the backoff
    const started = Date.now();
    await conn.close();
    assert.ok(Date.now() - started < 1200, `close took ${Date.now() - started} ms`);
    assert.equal(await first, 'Connection closed');
    assert.equal(await channel, 'Connection closed');
    await assert.rejects(conn.waitForConnect(), /Connection closed/);
  });

  it('status with a node list connects to each node: a node that is down is named (exit 1) while the queue figures come from another', async () => {
    const dead = `amqp://guest:deadpw4321@127.0.0.1:${await freePort()}/%2f`;
    const r = await runCli(['status', '--skip-elasticsearch', '--json'], {
      env: { LOGSHIP_AMQP_URL: `${dead},${AMQP_URL}`, LOGSHIP_QUEUE: `nope-${process.pid}` },
    });
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout) as {
      amqp: { reachable: boolean; nodes: Array<{ url: string; reachable: boolean; error: string | null }> };
      queue: { error: string };
    };
    assert.equal(report.amqp.reachable, true);
    assert.deepEqual(
      report.amqp.nodes.map((n) => n.reachable),
      [false, true],
    );
    assert.match(report.amqp.nodes[0]!.error ?? '', /ECONNREFUSED/);
    assert.match(report.queue.error, /does not exist/, 'the queue was asked of the node that answered');
    assert.ok(!r.stdout.includes('deadpw4321'), 'the password is masked');
  });

  it('spread: each process shuffles the node list, so processes land on different nodes', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 12 && seen.size < 2; i++) {
      const conn = await connectRecovering(settings(`${node.url},${AMQP_URL}`), { role: 'test', logger });
      seen.add(conn.node ?? '');
      await conn.close();
    }
    assert.equal(seen.size, 2, `12 connections all went to ${[...seen]}`);
  });
});
