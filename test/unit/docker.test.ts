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
import { loadCommandLine, type CommandName } from '@logship/common';
import { lifecycleProblem } from '@logship/common/elasticsearch';
import { ROOT } from '../helpers/cli.js';
import {
  COMMANDS,
  COMPOSE_TEXT,
  COMPOSE_VARS,
  DOCKER,
  KNOWN_ENV,
  cluster,
  clusterOverride,
  compose,
  envOf,
  interpolate,
  logshipServicesOf,
} from '../helpers/docker-compose.js';
import {
  COMPOSE_CONDITIONS,
  COMPOSE_DEPENDS_ON_KEYS,
  COMPOSE_HEALTHCHECK_KEYS,
  COMPOSE_RESTART,
  COMPOSE_SERVICE_KEYS,
  type ComposeFile,
} from '../helpers/docker-files.js';

const logshipServices = () => logshipServicesOf(compose as unknown as ComposeFile);

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

  it('copies every script the build of npm ci runs, and every file under scripts/ they read (the build stage has no other scripts/)', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const scripts = [...`${pkg.scripts.prepare} ${pkg.scripts.build}`.matchAll(/\bscripts\/[\w.-]+\.mjs\b/g)].map((m) => m[0]);
    assert.ok(scripts.includes('scripts/bundle.mjs'), `the build bundles the command: ${pkg.scripts.build}`);
    const copied = lines
      .filter((x) => /^COPY (?!--from)/.test(x))
      .flatMap((l) =>
        l
          .replace(/^COPY\s+/, '')
          .split(/\s+/)
          .slice(0, -1),
      );
    for (const s of scripts) assert.ok(copied.includes(s), `the Dockerfile copies ${s}, which npm ci runs`);
    // and every file under scripts/ those scripts read (the bundle's stand-ins): a file or a directory copied whole
    const read = scripts.flatMap((s) => [...fs.readFileSync(path.join(ROOT, s), 'utf8').matchAll(/['"](scripts\/[\w./-]+)['"]/g)].map((m) => m[1]!));
    assert.ok(read.includes('scripts/left-out/apache-arrow.cjs'), `the bundle reads its apache-arrow stand-in: ${read.join(', ')}`);
    for (const f of read) {
      assert.ok(
        copied.some((c) => f === c || f.startsWith(`${c.replace(/\/$/, '')}/`)),
        `the Dockerfile copies ${f}, which ${scripts.join(' or ')} reads`,
      );
    }
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
