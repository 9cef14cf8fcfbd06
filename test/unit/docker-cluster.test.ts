/**
 * docker/compose.cluster.yaml on top of docker/compose.yaml, and the RabbitMQ
 * cluster config, checked against the real config schema and RabbitMQ's own
 * (rabbit.schema of the installed server). Nothing is started.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadCommandLine, type CommandName } from '@logship/common';
import { CLUSTER_TEXT, CLUSTER_VARS, COMPOSE_VARS, DOCKER, KNOWN_ENV, cluster, envOf, logshipServicesOf, rabbitNodes } from '../helpers/docker-compose.js';
import { rabbitSchema, readRabbitConf } from '../helpers/docker-files.js';

const NODE_CONF = path.join(DOCKER, 'rabbitmq', 'cluster.conf');
const NODE_CONF_MOUNT = './rabbitmq/cluster.conf:/etc/rabbitmq/conf.d/20-cluster.conf:ro';

describe('docker/compose.cluster.yaml (docker compose -f compose.yaml -f compose.cluster.yaml)', () => {
  it('three RabbitMQ nodes: one image, one Erlang cookie, the cluster config, their own data; nodes 2 and 3 join node 1', () => {
    const nodes = rabbitNodes(cluster);
    assert.deepEqual(
      nodes.map(([name]) => name),
      ['rabbitmq', 'rabbitmq-2', 'rabbitmq-3'],
    );
    assert.equal(new Set(nodes.map(([, s]) => s.image)).size, 1, 'one RabbitMQ version');
    const dataVolumes = new Set<string>();
    for (const [name, node] of nodes) {
      const env = envOf(node, CLUSTER_VARS);
      assert.equal(env.RABBITMQ_ERLANG_COOKIE, CLUSTER_VARS.RABBITMQ_ERLANG_COOKIE, `${name} shares the cookie`);
      assert.equal(env.RABBITMQ_DEFAULT_PASS, COMPOSE_VARS.RABBITMQ_PASSWORD);
      assert.equal(node.hostname, name, 'the node name is rabbit@<hostname>: the service name, which the others resolve');
      assert.ok(node.volumes!.includes(NODE_CONF_MOUNT), `${name} mounts the cluster config`);
      const data = node.volumes!.find((v) => v.endsWith(':/var/lib/rabbitmq'));
      assert.ok(data, `${name} keeps its data in a volume`);
      dataVolumes.add(data.split(':')[0]!);
      assert.ok((node.healthcheck as { test: string[] }).test.includes('ping'), `${name} healthcheck`);
      if (name !== 'rabbitmq') assert.deepEqual(node.depends_on, { rabbitmq: { condition: 'service_started' } }, `${name} starts after the first node`);
    }
    assert.equal(dataVolumes.size, 3);
    for (const v of dataVolumes) assert.ok(v in (cluster.volumes ?? {}), `volume ${v} is declared`);
    assert.throws(() => envOf(nodes[1]![1], COMPOSE_VARS), /RABBITMQ_ERLANG_COOKIE is missing: set RABBITMQ_ERLANG_COOKIE in docker\/\.env/);
    assert.match(fs.readFileSync(path.join(DOCKER, '.env.example'), 'utf8'), /^RABBITMQ_ERLANG_COOKIE=$/m, 'the example leaves the cookie to be chosen');
  });

  const schema = rabbitSchema();
  it('after a crash or a reboot the nodes come back by themselves: restart unless-stopped, and nodes 2 and 3 do not wait for node 1 to be healthy (it waits for its peers)', () => {
    for (const [name, node] of rabbitNodes(cluster)) {
      assert.equal(node.restart, 'unless-stopped', `${name}: the Docker daemon starts it again`);
      for (const [dep, cond] of Object.entries((node.depends_on as Record<string, { condition: string }> | undefined) ?? {})) {
        if (dep.startsWith('rabbitmq')) assert.notEqual(cond.condition, 'service_healthy', `${name} must not wait for ${dep} to be healthy`);
      }
    }
  });

  it('the cluster config: classic config peer discovery of every node by its name, with real rabbitmq.conf keys', {
    skip: !schema && 'RabbitMQ (rabbit.schema) not installed',
  }, () => {
    const conf = readRabbitConf(NODE_CONF);
    for (const { key, value, line } of conf) {
      const mapping = schema!.mappings.find((m) => m.pattern.test(key));
      assert.ok(mapping, `cluster.conf:${line}: ${key} is not a key of ${schema!.file}`);
      if (mapping.values) assert.ok(mapping.values.includes(value), `cluster.conf:${line}: ${key} = ${value}, not one of ${mapping.values.join(', ')}`);
    }
    const get = (key: string) => conf.filter((c) => c.key === key).map((c) => c.value);
    assert.deepEqual(get('cluster_formation.peer_discovery_backend'), ['classic_config']);
    assert.ok(schema!.backends.includes('classic_config'), 'a peer discovery backend RabbitMQ knows');
    const listed = conf.filter((c) => c.key.startsWith('cluster_formation.classic_config.nodes.')).map((c) => c.value);
    assert.deepEqual(
      listed,
      rabbitNodes(cluster).map(([, s]) => `rabbit@${String(s.hostname)}`),
    );
    assert.deepEqual(get('cluster_partition_handling'), ['pause_minority']);
  });

  it('every logship service gets the three nodes with the broker user, and the queues are quorum queues', () => {
    const nodes = rabbitNodes(cluster).map(([name]) => name);
    const services = logshipServicesOf(cluster);
    assert.deepEqual(services.map(([name]) => name).sort(), ['bootstrap', 'generator', 'indexer', 'kibana-setup', 'monitor']);
    for (const [name, service] of services) {
      const env = envOf(service, CLUSTER_VARS);
      for (const key of Object.keys(env)) assert.ok(KNOWN_ENV.has(key), `${name}: ${key} is not an option of the config schema`);
      const [command, ...args] = service.command!;
      const config = loadCommandLine(command as CommandName, args, env).config;
      const urls = config.amqpUrl.split(',').map((u) => new URL(u));
      assert.deepEqual(
        urls.map((u) => u.host),
        nodes.map((n) => `${n}:5672`),
        `${name} lists every node`,
      );
      for (const u of urls) assert.deepEqual([decodeURIComponent(u.username), decodeURIComponent(u.password)], ['logship', COMPOSE_VARS.RABBITMQ_PASSWORD]);
      assert.equal(config.queueType, 'quorum', `${name}: LOGSHIP_QUEUE_TYPE`);
      assert.equal(config.esNode, 'http://elasticsearch:9200', `${name} keeps the base settings`);
    }
    assert.deepEqual(cluster.services.bootstrap!.depends_on, {
      rabbitmq: { condition: 'service_healthy' },
      elasticsearch: { condition: 'service_healthy' },
      'rabbitmq-2': { condition: 'service_healthy' },
      'rabbitmq-3': { condition: 'service_healthy' },
    });
    assert.deepEqual(cluster.services.bootstrap!.command, ['bootstrap']);
    assert.deepEqual(cluster.services['kibana-setup']!.profiles, ['kibana'], 'still only with --profile kibana');
  });

  it('publishes ports on 127.0.0.1 only (the first node only), and no guest login', () => {
    for (const [name, service] of Object.entries(cluster.services)) {
      for (const p of (service.ports as unknown[] | undefined) ?? []) assert.match(String(p), /^127\.0\.0\.1:\d+:\d+$/, `${name} publishes ${String(p)}`);
    }
    assert.equal(rabbitNodes(cluster).filter(([, s]) => s.ports).length, 1);
    assert.deepEqual(
      CLUSTER_TEXT.split('\n').filter((l) => !l.trim().startsWith('#') && /guest/i.test(l)),
      [],
    );
  });
});
