/**
 * --index from event fields through the real CLI and broker: bootstrap
 * declares a template covering every expansion (and --check verifies it),
 * `logship ship --codec json`, plain lines and foreign publishers' JSON land
 * in the index of their service.name; hostile values land in a sanitised
 * index or the fallback, and nothing is lost or dead-lettered.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import amqp from 'amqplib';
import { AMQP_URL, queueDepth, type Names } from '../helpers/amqp.js';
import { runCli } from '../helpers/cli.js';
import { invalidIndexName } from '../helpers/es-double.js';
import { wildcardToRegex } from '../helpers/es-query.js';
import { bootstrap, ship } from '../helpers/pipeline.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

const DAY = '2026.03.04';
const TS = '2026-03-04T05:06:07.000Z';

describe('--index named from event fields', () => {
  const pipe = usePipeline();
  const es = pipe.es;
  let n: Names;
  let prefix: string;
  let env: Record<string, string>;
  before(() => {
    const topology = pipe.topology(pipe.block, 'byfield');
    n = topology.n;
    prefix = n.index.replace('%{+yyyy.MM.dd}', ''); // "byfield-<hex>-logs-"
    env = { ...topology.env, LOGSHIP_INDEX: `${prefix}%{[service][name]:other}-%{+yyyy.MM.dd}` };
  });

  it('bootstrap declares a template covering every expansion, and --check verifies it', async () => {
    const r = await bootstrap(env);
    assert.match(r.stdout, new RegExp(`index template "[^"]+" \\(indices ${prefix}\\*-\\*\\)`));
    const check = await runCli(['bootstrap', '--check'], { env });
    assert.equal(check.code, 0, `${check.stdout}\n${check.stderr}`);
    assert.match(check.stdout, /ok {7}Elasticsearch index template/);
  });

  it('events with different field values land in different indices; hostile values in a sanitised index or the fallback; nothing lost', async (t) => {
    const services: Array<[unknown, string]> = [
      ['web', 'web'],
      ['Billing API', 'billing_api'],
      ['../../_all', 'all'],
      ['*', 'other'],
      ['A,B#C', 'a_b_c'],
      ['-rf /', 'rf_'],
      ['日本', 'other'],
      ['x'.repeat(10_000), 'x'.repeat(100)],
      [{ name: 'nested' }, 'other'],
      [['a', 'b'], 'other'],
      [null, 'other'],
      [42, '42'],
      ['__proto__', 'proto__'],
      ['constructor', 'constructor'],
    ];
    // the shipper's json codec: one line per value, plus one without the field and a plain line
    const lines = services.map(([name], i) => JSON.stringify({ '@timestamp': TS, message: `shipped ${i}`, service: { name } }));
    lines.push(JSON.stringify({ '@timestamp': TS, message: 'shipped without service' }));
    const shipped = await ship(env, `${lines.join('\n')}\n`, ['--codec', 'json']);
    assert.equal(shipped.code, 0, shipped.stderr);
    const plain = await ship(env, 'a plain line\n');
    assert.equal(plain.code, 0, plain.stderr);
    // a foreign publisher: single JSON messages (dotted key, hostile value) and an NDJSON body
    const foreign = [
      { '@timestamp': TS, message: 'foreign dotted', 'service.name': 'web' },
      { '@timestamp': TS, message: 'foreign hostile', service: { name: 'Auth/../*,_all' } },
    ];
    const conn = await amqp.connect(AMQP_URL);
    try {
      const ch = await conn.createConfirmChannel();
      for (const [i, f] of foreign.entries()) {
        ch.publish(n.exchange, n.routingKey, Buffer.from(JSON.stringify(f)), {
          persistent: true,
          contentType: 'application/octet-stream',
          messageId: `f-${i}`,
        });
      }
      const nd = [
        { '@timestamp': TS, message: 'nd 1', event: { id: 'nd-1' }, service: { name: 'Billing API' } },
        { '@timestamp': TS, message: 'nd 2', event: { id: 'nd-2' }, service: { name: '..' } },
      ];
      ch.publish(n.exchange, n.routingKey, Buffer.from(nd.map((x) => JSON.stringify(x)).join('\n')), {
        persistent: true,
        contentType: 'application/x-ndjson',
        messageId: 'nd',
      });
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }

    await pipe.startIndexer(t, env, ['--flush-interval', '100ms']);
    const total = lines.length + 1 + foreign.length + 2;
    await waitFor(`${total} documents`, async () => (await es.count(`${prefix}*`)) >= total, 30_000, 200);

    const expected = new Map<string, number>();
    const add = (value: string, k = 1) => expected.set(`${prefix}${value}-${DAY}`, (expected.get(`${prefix}${value}-${DAY}`) ?? 0) + k);
    for (const [, value] of services) add(value);
    add('other'); // the line without service.name
    add('web'); // the foreign dotted key
    add('auth__all'); // Auth/../*,_all: the run /../*, becomes one _, then _all
    add('billing_api'); // NDJSON line 1
    add('other'); // NDJSON line 2: ".."
    for (const [index, count] of expected) assert.equal(await es.count(index), count, index);
    // the plain line has no @timestamp of its own: the fallback index of the day it was indexed
    const plainDocs = (await es.all(`${prefix}other-*`)).filter((d) => d.source.message === 'a plain line');
    assert.equal(plainDocs.length, 1);
    const template = `${prefix}*-*`;
    if (es.double) {
      const names = [...es.double.indices.keys()].filter((x) => x.startsWith(prefix));
      for (const name of names) {
        assert.equal(invalidIndexName(name), undefined, name);
        assert.match(name, wildcardToRegex(template), `${name} outside ${template}`);
      }
      assert.deepEqual(new Set(names.filter((x) => x.endsWith(DAY))), new Set(expected.keys()));
      const others = names.filter((x) => !x.endsWith(DAY));
      assert.equal(others.length, 1, `only the plain line (stamped now) is on another day: ${others.join(', ')}`);
      assert.match(others[0]!, new RegExp(`^${prefix}other-\\d{4}\\.\\d\\d\\.\\d\\d$`));
    }
    const all = await es.all(`${prefix}*`);
    assert.equal(all.length, total, 'every event indexed once');
    assert.equal(new Set(all.map((d) => d.id)).size, total, 'distinct ids: nothing duplicated');
    await waitFor('the queue to be drained', async () => (await queueDepth(n.queue)).messageCount === 0, 10_000);
    assert.equal((await queueDepth(n.deadLetterQueue)).messageCount, 0, 'nothing dead-lettered');
  });
});
