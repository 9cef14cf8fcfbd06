/**
 * SIGTERM to `logship ship` while the broker is down: --shutdown-timeout is
 * enforced, a second signal exits at once, and both print the summary line
 * with what was read, published and not delivered. One private broker node
 * (stopped by the test; the machine's broker is never touched) serves two
 * shippers, one per test, each left with events the broker cannot confirm.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { queueDepth, randomNames } from '../helpers/amqp.js';
import { startCli, type CliResult, type RunningCli } from '../helpers/cli.js';
import { bootstrap, metricValue, numberedLines } from '../helpers/pipeline.js';
import { PrivateRabbit, rabbitAvailable } from '../helpers/rabbit-node.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

/** the process's exit, or a failure naming how long it was given (never a test that hangs) */
async function exitWithin(p: RunningCli, ms: number): Promise<CliResult> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running ${ms} ms after the signal:\n${p.stderr()}`)), ms);
  });
  try {
    return await Promise.race([p.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

interface Shipper {
  p: RunningCli;
  url: string;
}

describe('ship: forced shutdown while the broker is down', { skip: !rabbitAvailable() && 'rabbitmq-server not installed' }, () => {
  // the broker side only; the shippers and the private node go in the block's after hook
  const pipe = usePipeline({ es: false });
  const rabbit = new PrivateRabbit();
  const shippers: Record<'timeout' | 'second', Shipper | null> = { timeout: null, second: null };

  async function startShipper(name: string, shutdownTimeout: string): Promise<Shipper> {
    const n = randomNames(name, rabbit.url);
    await bootstrap(n.env, ['--skip-elasticsearch']);
    const p = pipe.track(
      pipe.block,
      startCli(['ship', '--metrics-port', '0', '--shutdown-timeout', shutdownTimeout], { env: { ...n.env, LOGSHIP_LOG_LEVEL: 'info' } }),
      'SIGKILL',
    );
    const url = await waitFor('the shipper to serve /metrics', () => /"url":"(http:\/\/[^"]+)","metrics"/.exec(p.stderr())?.[1], 30_000);
    p.child.stdin!.write(numberedLines(100));
    await waitFor(`${name}: 100 queued`, async () => (await queueDepth(n.queue, rabbit.url)).messageCount === 100, 20_000);
    return { p, url };
  }

  before(async () => {
    pipe.defer(pipe.block, () => rabbit.destroy());
    await rabbit.start();
    shippers.timeout = await startShipper('shuttimeout', '3s');
    shippers.second = await startShipper('shutsecond', '60s');
    await rabbit.stop();
    // 50 more lines each, read while no broker can confirm them
    for (const s of Object.values(shippers)) s!.p.child.stdin!.write(numberedLines(50, 'more'));
    for (const s of Object.values(shippers)) {
      await waitFor('150 lines read', async () => (await metricValue(s!.url, 'logship_shipper_events_read_total')) === 150, 20_000);
    }
  });

  it('--shutdown-timeout is enforced while the broker is down: exit 1 in time, with the summary of what was not delivered', async () => {
    const { p } = shippers.timeout!;
    const started = Date.now();
    p.child.kill('SIGTERM');
    const r = await exitWithin(p, 10_000);
    const took = Date.now() - started;
    assert.equal(r.code, 1, r.stderr);
    assert.ok(took >= 2_500 && took < 8_000, `exited after ${took} ms (--shutdown-timeout 3s)`);
    assert.match(r.stderr, /drain exceeded --shutdown-timeout/);
    assert.match(r.stderr, /logship ship: read 150, published 100, skipped 0, failed 0 .*; 50 events read were not delivered/);
  });

  it('a second signal while the broker is down exits 1 at once, with the summary line', async () => {
    const { p } = shippers.second!;
    p.child.kill('SIGTERM');
    await waitFor('the first signal taken', () => /shutting down: draining/.test(p.stderr()), 10_000, 20);
    const started = Date.now();
    p.child.kill('SIGINT');
    const r = await exitWithin(p, 10_000);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(Date.now() - started < 3_000, 'at once, not after the 60 s timeout');
    assert.match(r.stderr, /second SIGINT/);
    assert.match(r.stderr, /logship ship: read 150, published 100, skipped 0, failed 0 .*; 50 events read were not delivered/);
  });
});
