/**
 * docker/: the compose files, Dockerfile, RabbitMQ cluster config and Prometheus/Grafana files,
 * checked against the real config schema, the RabbitMQ config schema and the compose keys.
 * There is no Docker engine here: everything is parsed, nothing is started.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { OPTIONS, envName, loadCommandLine, type CommandName } from '@logship/common';
import { lifecycleProblem } from '@logship/common/elasticsearch';
import { ROOT } from '../helpers/cli.js';
import {
  COMPOSE_CONDITIONS,
  COMPOSE_DEPENDS_ON_KEYS,
  COMPOSE_HEALTHCHECK_KEYS,
  COMPOSE_RESTART,
  COMPOSE_SERVICE_KEYS,
  mergeCompose,
  rabbitSchema,
  readRabbitConf,
  type ComposeFile,
} from '../helpers/docker-files.js';

const DOCKER = path.join(ROOT, 'docker');
const compose = parse(fs.readFileSync(path.join(DOCKER, 'compose.yaml'), 'utf8'), { merge: true }) as {
  name: string;
  services: Record<string, Record<string, unknown> & { environment?: Record<string, string>; command?: string[] }>;
  volumes: Record<string, unknown>;
};
const KNOWN_ENV = new Set(Object.keys(OPTIONS).map(envName));
const COMPOSE_TEXT = fs.readFileSync(path.join(DOCKER, 'compose.yaml'), 'utf8');
/** what docker/.env would hold */
const COMPOSE_VARS = { RABBITMQ_PASSWORD: 'ab12cd34' };

/** Compose's variable interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (_m, name: string, op: string | undefined, arg: string | undefined) => {
    const v = vars[name];
    const unset = op?.startsWith(':') ? v === undefined || v === '' : v === undefined;
    if (!unset) return v ?? '';
    if (op?.endsWith('?')) throw new Error(`required variable ${name} is missing: ${arg}`);
    return op ? (arg ?? '') : '';
  });
}

const COMMANDS: CommandName[] = ['bootstrap', 'ship', 'index', 'status', 'monitor', 'generate', 'dlq'];

function logshipServices() {
  return Object.entries(compose.services).filter(([, s]) => (s.image === 'logship:local' || s.build) && Array.isArray(s.command));
}

describe('docker/compose.yaml', () => {
  it('has the services of a full deployment', () => {
    for (const name of ['rabbitmq', 'elasticsearch', 'bootstrap', 'indexer', 'generator', 'monitor', 'prometheus', 'grafana', 'kibana']) {
      assert.ok(compose.services[name], `service ${name}`);
    }
    assert.match(String(compose.services.rabbitmq!.image), /^rabbitmq:[\d.]+-management$/);
    assert.match(String(compose.services.elasticsearch!.image), /elasticsearch:8\./);
    assert.deepEqual(compose.services.kibana!.profiles, ['kibana']);
  });

  it('RabbitMQ and Elasticsearch have healthchecks; the others wait for a successful bootstrap', () => {
    for (const name of ['rabbitmq', 'elasticsearch']) {
      const hc = compose.services[name]!.healthcheck as { test: string[] };
      assert.ok(Array.isArray(hc.test) && hc.test.length > 1, `${name} healthcheck`);
    }
    const boot = compose.services.bootstrap!;
    assert.deepEqual(boot.command, ['bootstrap']);
    assert.equal(boot.restart, 'no');
    assert.deepEqual(boot.depends_on, { rabbitmq: { condition: 'service_healthy' }, elasticsearch: { condition: 'service_healthy' } });
    for (const name of ['indexer', 'generator', 'monitor']) {
      assert.deepEqual((compose.services[name]!.depends_on as Record<string, unknown>).bootstrap, { condition: 'service_completed_successfully' }, name);
    }
    assert.equal((compose.services.indexer!.deploy as { replicas: number }).replicas, 2);
  });

  it('every LOGSHIP_ variable is a real option, valid for the command it is given to', () => {
    const services = logshipServices();
    assert.ok(services.length >= 4);
    for (const [name, service] of services) {
      const env = service.environment ?? {};
      for (const key of Object.keys(env)) {
        assert.ok(key.startsWith('LOGSHIP_'), `${name}: ${key} is not a logship variable`);
        assert.ok(KNOWN_ENV.has(key), `${name}: ${key} is not an option of the config schema`);
      }
      const [command, ...args] = service.command!;
      assert.ok(COMMANDS.includes(command as CommandName), `${name}: unknown command ${command}`);
      // the same validation the container runs at start: unknown keys or bad values throw
      const stringEnv = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(String(v), COMPOSE_VARS)]));
      assert.doesNotThrow(() => loadCommandLine(command as CommandName, args, stringEnv), `${name}: ${command} ${args.join(' ')}`);
    }
  });

  it('every published port is bound to 127.0.0.1', () => {
    let published = 0;
    for (const [name, service] of Object.entries(compose.services)) {
      for (const p of (service.ports as unknown[] | undefined) ?? []) {
        published++;
        assert.equal(typeof p, 'string', `${name}: use the short "127.0.0.1:host:container" syntax`);
        assert.match(String(p), /^127\.0\.0\.1:\d+:\d+$/, `${name} publishes ${String(p)} on every interface`);
      }
    }
    assert.ok(published >= 8);
  });

  it('no guest login anywhere: the broker creates its own user and the services use the same credentials', () => {
    const yamlOnly = COMPOSE_TEXT.split('\n').filter((l) => !l.trim().startsWith('#'));
    assert.deepEqual(
      yamlOnly.filter((l) => /guest/i.test(l)),
      [],
      'no guest user or URL',
    );
    const broker = compose.services.rabbitmq!.environment!;
    const user = interpolate(String(broker.RABBITMQ_DEFAULT_USER), COMPOSE_VARS);
    const pass = interpolate(String(broker.RABBITMQ_DEFAULT_PASS), COMPOSE_VARS);
    assert.equal(pass, COMPOSE_VARS.RABBITMQ_PASSWORD);
    assert.ok(user !== '' && user !== 'guest');
    const services = logshipServices();
    for (const [name, service] of services) {
      const url = new URL(interpolate(String(service.environment?.LOGSHIP_AMQP_URL), COMPOSE_VARS));
      assert.deepEqual(
        [decodeURIComponent(url.username), decodeURIComponent(url.password), url.host],
        [user, pass, 'rabbitmq:5672'],
        `${name} logs in as the broker's user`,
      );
    }
    // without a password, compose refuses to start instead of falling back to a default
    assert.throws(() => interpolate(String(broker.RABBITMQ_DEFAULT_PASS), {}), /RABBITMQ_PASSWORD is missing: set RABBITMQ_PASSWORD in docker\/.env/);
    assert.throws(() => interpolate(String(services[0]![1].environment?.LOGSHIP_AMQP_URL), {}), /RABBITMQ_PASSWORD is missing/);
    const example = fs.readFileSync(path.join(DOCKER, '.env.example'), 'utf8');
    assert.match(example, /^RABBITMQ_USER=\w+$/m);
    assert.match(example, /^RABBITMQ_PASSWORD=$/m, 'the example leaves the password to be chosen');
    assert.match(fs.readFileSync(path.join(DOCKER, '.gitignore'), 'utf8'), /^\.env$/m);
  });

  it('the monitor scrapes each indexer replica by name, and Prometheus scrapes the monitor', () => {
    const targets = String(compose.services.monitor!.environment!.LOGSHIP_TARGETS).split(',');
    assert.deepEqual(
      targets,
      [1, 2].map((i) => `http://${compose.name}-indexer-${i}:9198`),
    );
    const prom = parse(fs.readFileSync(path.join(DOCKER, 'prometheus', 'prometheus.yml'), 'utf8')) as {
      rule_files: string[];
      scrape_configs: Array<{ job_name: string; honor_labels: boolean; static_configs: Array<{ targets: string[] }> }>;
    };
    assert.deepEqual(prom.rule_files, ['/etc/prometheus/alerts.yml']);
    const job = prom.scrape_configs.find((j) => j.job_name === 'logship')!;
    assert.equal(job.honor_labels, true, 'keep the instance labels the monitor sets');
    assert.deepEqual(job.static_configs[0]!.targets, [`monitor:${compose.services.monitor!.environment!.LOGSHIP_PORT}`]);
    const volumes = compose.services.prometheus!.volumes as string[];
    for (const v of volumes) assert.ok(fs.existsSync(path.resolve(DOCKER, v.split(':')[0]!)), `${v} exists`);
  });

  it('Grafana is provisioned with a dashboard whose queries use real metric names', () => {
    for (const v of compose.services.grafana!.volumes as string[]) assert.ok(fs.existsSync(path.resolve(DOCKER, v.split(':')[0]!)), v);
    const dash = JSON.parse(fs.readFileSync(path.join(DOCKER, 'grafana', 'dashboards', 'logship.json'), 'utf8')) as {
      panels: Array<{ targets: Array<{ expr: string }> }>;
    };
    const known = new Set([
      ...['in', 'indexed', 'duplicate', 'dead_lettered'].map((x) => `logship_indexer_events_${x}_total`),
      'logship_indexer_bulk_duration_seconds_bucket',
      'logship_queue_messages_ready',
      'logship_queue_consumers',
      'logship_dead_letter_messages',
      'logship_process_memory_limit_bytes',
    ]);
    const used = dash.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/logship_[a-z_]+/g) ?? []));
    assert.ok(used.length > 5);
    for (const m of used) assert.ok(known.has(m), `dashboard uses unknown metric ${m}`);
    const ds = parse(fs.readFileSync(path.join(DOCKER, 'grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8')) as {
      datasources: Array<{ url: string }>;
    };
    assert.equal(ds.datasources[0]!.url, 'http://prometheus:9090');
  });
});

const CLUSTER_TEXT = fs.readFileSync(path.join(DOCKER, 'compose.cluster.yaml'), 'utf8');
const clusterOverride = parse(CLUSTER_TEXT, { merge: true }) as ComposeFile;
/** `docker compose -f compose.yaml -f compose.cluster.yaml` */
const cluster = mergeCompose(compose as unknown as ComposeFile, clusterOverride);
const CLUSTER_VARS = { ...COMPOSE_VARS, RABBITMQ_ERLANG_COOKIE: 'c00kie-for-the-test' };
const NODE_CONF = path.join(DOCKER, 'rabbitmq', 'cluster.conf');
const NODE_CONF_MOUNT = './rabbitmq/cluster.conf:/etc/rabbitmq/conf.d/20-cluster.conf:ro';

function logshipServicesOf(file: ComposeFile) {
  return Object.entries(file.services).filter(([, s]) => (s.image === 'logship:local' || s.build) && Array.isArray(s.command));
}

function envOf(service: { environment?: Record<string, string> }, vars: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), vars)]));
}

function rabbitNodes(file: ComposeFile) {
  return Object.entries(file.services).filter(([, s]) => /^rabbitmq:/.test(String(s.image)));
}

describe('docker/compose.yaml: Elasticsearch options and the Kibana profile', () => {
  it('daily indices (exactly once) with an ILM policy deleting them after RETENTION', () => {
    const env = envOf(compose.services.bootstrap!, COMPOSE_VARS);
    const config = loadCommandLine('bootstrap', [], env).config;
    assert.equal(config.dataStream, '');
    assert.equal(config.ilmPolicy, 'logship');
    assert.equal(config.retention, 30 * 24 * 3600 * 1000);
    assert.equal(lifecycleProblem(config), undefined, 'bootstrap accepts the pair');
    assert.equal(
      loadCommandLine('bootstrap', [], envOf(compose.services.bootstrap!, { ...COMPOSE_VARS, RETENTION: '12h' })).config.retention,
      12 * 3600 * 1000,
    );
    assert.match(fs.readFileSync(path.join(DOCKER, '.env.example'), 'utf8'), /^RETENTION=30d$/m);
  });

  it('RETENTION=0 is refused by bootstrap (the ILM policy is always set), and docker/.env.example says 0 is not allowed', () => {
    const config = loadCommandLine('bootstrap', [], envOf(compose.services.bootstrap!, { ...COMPOSE_VARS, RETENTION: '0' })).config;
    assert.equal(config.ilmPolicy, 'logship');
    assert.match(lifecycleProblem(config) ?? 'accepted', /--ilm-policy with daily indices needs --retention/);
    const example = fs.readFileSync(path.join(DOCKER, '.env.example'), 'utf8');
    const comment = example
      .slice(0, example.indexOf('\nRETENTION='))
      .split('\n')
      .filter((l) => l.startsWith('#'))
      .slice(-3)
      .join(' ');
    assert.match(comment, /0 is not allowed here/);
  });

  it('kibana-setup runs bootstrap --kibana-url against the kibana service once it is healthy, in the kibana profile', () => {
    const setup = compose.services['kibana-setup']!;
    assert.deepEqual(setup.profiles, ['kibana']);
    const [command, ...args] = setup.command!;
    assert.equal(command, 'bootstrap');
    const config = loadCommandLine('bootstrap', args, envOf(setup, COMPOSE_VARS)).config;
    const kibanaUrl = new URL(config.kibanaUrl);
    const kibana = compose.services[kibanaUrl.hostname];
    assert.ok(kibana, `--kibana-url names the service ${kibanaUrl.hostname}`);
    assert.deepEqual(kibana.profiles, ['kibana']);
    const containerPorts = ((kibana.ports as string[] | undefined) ?? []).map((p) => p.split(':').pop());
    assert.ok(containerPorts.includes(kibanaUrl.port), `Kibana listens on ${kibanaUrl.port}`);
    const hc = kibana.healthcheck as { test: string[] };
    assert.match(hc.test.join(' '), new RegExp(`localhost:${kibanaUrl.port}/api/status`));
    assert.deepEqual(setup.depends_on, { bootstrap: { condition: 'service_completed_successfully' }, kibana: { condition: 'service_healthy' } });
    assert.notEqual(setup.restart, 'no', 'Kibana may still be warming up: it is tried again');
  });

  it('every service uses only Compose Specification keys, conditions and restart policies', () => {
    for (const [file, parsed] of [
      ['compose.yaml', compose as unknown as ComposeFile],
      ['compose.cluster.yaml', clusterOverride],
    ] as const) {
      for (const [name, service] of Object.entries(parsed.services)) {
        for (const key of Object.keys(service)) assert.ok(COMPOSE_SERVICE_KEYS.has(key), `${file}: ${name}.${key} is not a Compose key`);
        for (const key of Object.keys((service.healthcheck as object | undefined) ?? {})) {
          assert.ok(COMPOSE_HEALTHCHECK_KEYS.has(key), `${file}: ${name}.healthcheck.${key}`);
        }
        const deps: unknown = service.depends_on ?? {};
        // the short form lists service names; the long form gives each a condition
        const long = Array.isArray(deps) ? [] : Object.entries(deps as Record<string, Record<string, unknown>>);
        for (const dep of Array.isArray(deps) ? deps : [])
          assert.ok(typeof dep === 'string' && dep in parsed.services, `${file}: ${name} depends on ${String(dep)}`);
        for (const [dep, spec] of long) {
          for (const key of Object.keys(spec)) assert.ok(COMPOSE_DEPENDS_ON_KEYS.has(key), `${file}: ${name}.depends_on.${dep}.${key}`);
          assert.ok(COMPOSE_CONDITIONS.has(String(spec.condition)), `${file}: ${name} waits for ${dep} to be ${String(spec.condition)}`);
          assert.ok(dep in cluster.services, `${file}: ${name} depends on an unknown service ${dep}`);
        }
        if (service.restart !== undefined) assert.match(String(service.restart), COMPOSE_RESTART, `${file}: ${name}.restart`);
      }
      for (const key of Object.keys(parsed)) assert.ok(['name', 'services', 'volumes'].includes(key) || key.startsWith('x-'), `${file}: top-level ${key}`);
    }
  });
});

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

describe('docker/Dockerfile', () => {
  const text = fs.readFileSync(path.join(DOCKER, 'Dockerfile'), 'utf8');
  const lines = text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));

  it('is multi-stage, runs as a non-root user and starts the logship CLI', () => {
    const froms = lines.filter((l) => /^FROM /.test(l));
    assert.equal(froms.length, 2);
    assert.match(froms[0]!, /^FROM node:20[\w.-]* AS build$/);
    assert.match(text, /COPY --from=build/);
    const user = lines.filter((l) => /^USER /.test(l)).pop();
    assert.ok(user && !/root|^USER 0/.test(user), `non-root user: ${user}`);
    assert.match(text, /npm ci/);
    // the image installs the same tarball users install (test/integration/install.test.ts)
    assert.match(text, /node scripts\/pack\.mjs --no-build --out \/pkg/);
    assert.match(text, /npm install -g \/tmp\/pkg\/logship-cli-\*\.tgz/);
    assert.match(text, /^ENTRYPOINT \["logship"\]$/m);
    assert.ok(fs.existsSync(path.join(ROOT, 'scripts', 'pack.mjs')));
  });

  it('sets only real LOGSHIP_ options', () => {
    const env = [...text.matchAll(/\b(LOGSHIP_[A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!] as const);
    assert.ok(env.length >= 1);
    for (const [k] of env) assert.ok(KNOWN_ENV.has(k), `${k} is not an option`);
    assert.doesNotThrow(() => loadCommandLine('index', [], Object.fromEntries(env)));
  });

  it('copies only files that exist', () => {
    for (const l of lines.filter((x) => /^COPY (?!--from)/.test(x))) {
      for (const src of l
        .replace(/^COPY\s+/, '')
        .split(/\s+/)
        .slice(0, -1))
        assert.ok(fs.existsSync(path.join(ROOT, src)), `COPY source ${src}`);
    }
  });
});
