/**
 * `logship ship` on stdin (and one file): the json codec on a line nested too
 * deep, multiline on stdin, options that do not apply. Real broker (AMQP side
 * only: the events are read back from the queue), the real CLI.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { drainQueue, queueDepth, randomNames, type Names } from '../helpers/amqp.js';
import { runCli, startCli } from '../helpers/cli.js';
import { bootstrap, ship } from '../helpers/pipeline.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

interface Shipped {
  message: string;
  tags: string[];
  event: { id: string };
}

// for every describe block of the file; the AMQP side only, so no Elasticsearch
const pipe = usePipeline({ es: false });

/** a bootstrapped topology, deleted after test t */
async function setup(t: TestContext, prefix: string): Promise<Names> {
  const { n } = pipe.topology(t, prefix);
  await bootstrap(n.env, ['--skip-elasticsearch']);
  return n;
}

async function shippedEvents(n: Names): Promise<Shipped[]> {
  return (await drainQueue(n.queue)).flatMap((m) =>
    m.content
      .toString('utf8')
      .split('\n')
      .map((l) => JSON.parse(l) as Shipped),
  );
}

const deep = `{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`;
const input = `{"message":"before"}\n${deep}\n{"message":"after"}\n`;

describe('ship --codec json: a line nested too deep', () => {
  it('stdin: the line nested 5000 deep is shipped as its raw text tagged _jsonparsefailure; the lines after it are shipped', async (t) => {
    const n = await setup(t, 'deepstdin');
    const r = await ship(n.env, input, ['--codec', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /read 3, published 3, skipped 0, failed 0 .*json failures 1\)/);
    assert.doesNotMatch(r.stderr, /Maximum call stack|reading stdin failed/);
    const events = await shippedEvents(n);
    assert.deepEqual(
      events.map((e) => e.message),
      ['before', deep, 'after'],
    );
    assert.deepEqual(events[1]!.tags, ['_jsonparsefailure', '_jsontoodeep']);
  });

  it('file: the run goes past the line nested 5000 deep (no line stuck, no "not confirmed by the broker")', async (t) => {
    const n = await setup(t, 'deepfile');
    const dir = pipe.tmpDir(t, 'deep');
    const file = path.join(dir, 'app.log');
    fs.writeFileSync(file, input);
    const env = { ...n.env, LOGSHIP_STATE_DIR: path.join(dir, 'state') };
    const r = await runCli(['ship', '--codec', 'json', file], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /read 3, published 3, skipped 0, failed 0 .*json failures 1\)/);
    assert.doesNotMatch(r.stderr, /Maximum call stack|not confirmed by the broker/);
    const again = await runCli(['ship', '--codec', 'json', file], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /read 0, published 0/, 'the checkpoint is past the line');
    assert.equal((await shippedEvents(n)).length, 3);
  });
});

const trace = [
  '2026-11-21 10:00:00 ERROR request failed',
  'java.lang.IllegalStateException: boom',
  '\tat com.example.Service.handle(Service.java:42)',
  'Caused by: java.io.IOException: disk full',
  '\t... 12 more',
];
const JAVA = ['--multiline-pattern', '^\\s+(at|\\.\\.\\.)|^Caused by:|^java\\.', '--multiline-match', 'after'];

describe('ship: multiline on stdin', () => {
  it('--multiline-pattern joins a Java stack trace piped into stdin into one event (2 events, not 6)', async (t) => {
    const n = await setup(t, 'mlstdin');
    const r = await ship(n.env, `${trace.join('\n')}\n2026-11-21 10:00:01 INFO next\n`, JAVA);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /read 2, published 2, skipped 0, failed 0/);
    const events = await shippedEvents(n);
    assert.deepEqual(
      events.map((e) => e.message),
      [trace.join('\n'), '2026-11-21 10:00:01 INFO next'],
    );
    assert.deepEqual(events[0]!.tags, ['multiline']);
    assert.deepEqual(events[1]!.tags, []);
  });

  it('--multiline-timeout sends a pending stack trace on stdin while the pipe stays open', async (t) => {
    const n = await setup(t, 'mltimeout');
    const s = pipe.track(t, startCli(['ship', ...JAVA, '--multiline-timeout', '300ms'], { env: n.env }), 'SIGKILL');
    s.child.stdin!.write(`${trace.join('\n')}\n`);
    await waitFor('the stack trace sent with stdin still open', async () => (await queueDepth(n.queue)).messageCount === 1, 20_000);
    s.child.stdin!.end('2026-11-21 10:00:01 INFO next\n');
    const r = await s.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /read 2, published 2/);
    assert.deepEqual(
      (await shippedEvents(n)).map((e) => e.message),
      [trace.join('\n'), '2026-11-21 10:00:01 INFO next'],
    );
  });
});

describe('ship: options that do not apply', () => {
  it('--start-position end without --follow, and multiline options without a pattern, exit 2 naming the option', async () => {
    const n = randomNames('badopts');
    for (const [args, want] of [
      [['--start-position', 'end'], /--start-position end applies only with --follow/],
      [['--multiline-match', 'before'], /--multiline-match applies only with --multiline-pattern/],
      [['/tmp/x.log', '--scan-interval', '1s'], /--scan-interval applies only with --follow/],
    ] as const) {
      const r = await ship(n.env, 'line\n', [...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, want);
    }
  });
});
