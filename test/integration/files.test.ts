/** Files: checkpoints, kill -9, rotation, globs, multiline, inode reuse. Real broker, ES double. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { queueDepth, randomNames, type Names } from '../helpers/amqp.js';
import { startCli } from '../helpers/cli.js';
import { drained, servedUrl, shipHealth } from '../helpers/file-state.js';
import { bootstrap, metricValue, ship, startIndexer, stopProcess, type IndexerProcess } from '../helpers/pipeline.js';
import { PrivateRabbit, rabbitAvailable } from '../helpers/rabbit-node.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

function lines(from: number, to: number, tag = 'line'): string {
  let out = '';
  for (let i = from; i < to; i++) out += `${tag} ${i} the quick brown fox jumps over the lazy dog\n`;
  return out;
}

interface Ctx {
  n: Names;
  env: Record<string, string>;
  dir: string;
  indexer: IndexerProcess;
  /** the broker of this test when not the machine's */
  amqpUrl?: string;
}

describe('files', () => {
  const pipe = usePipeline();
  const es = pipe.es;

  /** a topology, a directory with the state directory in it, an indexer: all removed after test t */
  async function setup(t: TestContext, prefix: string): Promise<Ctx> {
    const dir = pipe.tmpDir(t, prefix);
    const { n, env } = pipe.topology(t, prefix, { LOGSHIP_STATE_DIR: path.join(dir, 'state') });
    await bootstrap(env);
    const indexer = await pipe.startIndexer(t, env);
    return { n, env, dir, indexer };
  }

  /** every expected message indexed exactly once, one document per event.id */
  async function expectExactlyOnce(c: Ctx, expected: string[], timeoutMs = 60_000): Promise<void> {
    await waitFor(`${expected.length} documents`, async () => (await es.count(c.n.indexWildcard)) >= expected.length, timeoutMs, 250);
    // nothing left in the queue or in the indexer: no late copy can still arrive
    await waitFor('the queue and the indexer drained', () => drained(c.n.queue, c.indexer.url, c.amqpUrl), 30_000, 100);
    const docs = await es.all(c.n.indexWildcard);
    const messages = docs.map((d) => String(d.source.message));
    assert.equal(docs.length, expected.length, 'document count');
    assert.equal(new Set(docs.map((d) => d.id)).size, expected.length, 'unique ids');
    assert.deepEqual([...messages].sort(), [...expected].sort());
  }

  it('a 50k-line file, kill -9 of the shipper mid-file, second run: every line indexed exactly once', async (t) => {
    const c = await setup(t, 'kill9');
    const file = path.join(c.dir, 'big.log');
    const total = 50_000;
    fs.writeFileSync(file, lines(0, total));
    const first = pipe.track(t, startCli(['ship', file, '--max-inflight', '50'], { env: c.env }), 'SIGKILL');
    const stateFile = path.join(c.dir, 'state', 'checkpoints.json');
    const checkpointed = () =>
      fs.existsSync(stateFile) ? ((JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { files: Array<{ offset: number }> }).files[0]?.offset ?? 0) : 0;
    await waitFor('the shipper to be mid-file with a checkpoint', async () => checkpointed() > 0 && (await es.count(c.n.indexWildcard)) > 5_000, 60_000, 20);
    first.child.kill('SIGKILL');
    const killed = await first.exited;
    assert.equal(killed.signal, 'SIGKILL');
    const partial = await es.count(c.n.indexWildcard);
    assert.ok(partial < total, `killed mid-file (${partial} indexed)`);
    assert.ok(checkpointed() > 0 && checkpointed() < fs.statSync(file).size, 'checkpoint mid-file');

    const second = await ship(c.env, '', [file]);
    assert.equal(second.code, 0, second.stderr);
    await expectExactlyOnce(c, lines(0, total).trimEnd().split('\n'));
    for (const d of (await es.all(c.n.indexWildcard)).slice(0, 100)) {
      const log = d.source.log as { file: { path: string }; offset: number };
      assert.equal(log.file.path, file);
      assert.equal(
        fs
          .readFileSync(file)
          .subarray(log.offset, log.offset + 5)
          .toString(),
        'line ',
        'log.offset is the byte offset of the line',
      );
    }
  });

  it('rename rotation while following: the old file is finished, the new one read, exactly once', async (t) => {
    const c = await setup(t, 'rename');
    const log = path.join(c.dir, 'app.log');
    fs.writeFileSync(log, lines(0, 1000));
    const s = pipe.track(t, startCli(['ship', '--follow', `${c.dir}/app.log*`, '--scan-interval', '200ms', '--metrics-port', '0'], { env: c.env }), 'SIGKILL');
    await waitFor('1000 indexed', async () => (await es.count(c.n.indexWildcard)) === 1000, 30_000);
    fs.appendFileSync(log, lines(1000, 1100));
    fs.renameSync(log, `${log}.1`);
    fs.appendFileSync(`${log}.1`, lines(1100, 1150)); // the writer still has the old file open
    fs.writeFileSync(log, lines(1150, 1650));
    await expectExactlyOnce(c, lines(0, 1650).trimEnd().split('\n'));
    s.child.kill('SIGTERM');
    assert.equal((await s.exited).code, 0);
  });

  it('copytruncate rotation while following: the file is read again from 0, exactly once', async (t) => {
    const c = await setup(t, 'copytrunc');
    const log = path.join(c.dir, 'app.log');
    fs.writeFileSync(log, lines(0, 1000, 'before'));
    const s = pipe.track(
      t,
      startCli(['ship', '--follow', log, '--scan-interval', '200ms', '--metrics-port', '0'], { env: { ...c.env, LOGSHIP_LOG_LEVEL: 'info' } }),
      'SIGKILL',
    );
    await waitFor('1000 indexed', async () => (await es.count(c.n.indexWildcard)) === 1000, 30_000);
    fs.copyFileSync(log, path.join(c.dir, 'app.log.copy'));
    fs.truncateSync(log, 0);
    // the truncation seen on the empty file, before anything new is written
    await waitFor('the truncation noticed', () => /file truncated \(copytruncate\)/.test(s.stderr()), 10_000, 20);
    fs.appendFileSync(log, lines(0, 300, 'after'));
    await expectExactlyOnce(c, [...lines(0, 1000, 'before').trimEnd().split('\n'), ...lines(0, 300, 'after').trimEnd().split('\n')]);
    s.child.kill('SIGTERM');
    assert.equal((await s.exited).code, 0);
  });

  it('a glob picks up a file created after start; a deleted file is released', async (t) => {
    const c = await setup(t, 'glob');
    fs.writeFileSync(path.join(c.dir, 'a.log'), lines(0, 10, 'a'));
    const s = pipe.track(
      t,
      startCli(['ship', '--follow', `${c.dir}/*.log`, '--scan-interval', '200ms', '--metrics-port', '0'], { env: { ...c.env, LOGSHIP_LOG_LEVEL: 'info' } }),
      'SIGKILL',
    );
    const url = await waitFor('metrics url', () => /"url":"(http:\/\/[^"]+)","metrics"/.exec(s.stderr())?.[1], 20_000);
    await waitFor('a.log indexed', async () => (await es.count(c.n.indexWildcard)) === 10, 30_000);
    fs.writeFileSync(path.join(c.dir, 'b.log'), lines(0, 20, 'b'));
    await waitFor('b.log indexed', async () => (await es.count(c.n.indexWildcard)) === 30, 30_000);
    const health = async () => (await (await fetch(`${url}/health`)).json()) as { status: string; filesActive: number };
    assert.equal((await health()).filesActive, 2);
    fs.rmSync(path.join(c.dir, 'a.log'));
    await waitFor('a.log released', async () => (await health()).filesActive === 1, 10_000);
    assert.match(s.stderr(), /a\.log","end":"deleted","msg":"file finished and released"/);
    assert.equal(await metricValue(url, 'logship_shipper_events_published_total'), 30);
    s.child.kill('SIGTERM');
    assert.equal((await s.exited).code, 0);
    await expectExactlyOnce(c, [...lines(0, 10, 'a').trimEnd().split('\n'), ...lines(0, 20, 'b').trimEnd().split('\n')]);
  });

  it('Java stack traces become one event each with --multiline-pattern and --multiline-match after', async (t) => {
    const c = await setup(t, 'multiline');
    const trace = (i: number) =>
      [
        `2026-11-21 10:00:0${i % 10} ERROR request ${i} failed`,
        'java.lang.IllegalStateException: boom',
        '\tat com.example.Service.handle(Service.java:42)',
        '\tat com.example.Router.route(Router.java:7)',
        'Caused by: java.io.IOException: disk full',
        '\tat com.example.Disk.write(Disk.java:3)',
        '\t... 12 more',
      ].join('\n');
    const content = [0, 1, 2].map((i) => `${trace(i)}\n2026-11-21 10:00:0${i} INFO after ${i}`).join('\n') + '\n';
    const file = path.join(c.dir, 'java.log');
    fs.writeFileSync(file, content);
    const r = await ship(c.env, '', [file, '--multiline-pattern', '^\\s+(at|\\.\\.\\.)|^Caused by:', '--multiline-match', 'after']);
    assert.equal(r.code, 0, r.stderr);
    await waitFor('docs', async () => (await es.count(c.n.indexWildcard)) === 9, 30_000);
    const docs = await es.all(c.n.indexWildcard);
    const traces = docs.filter((d) => String(d.source.message).startsWith('java.lang.IllegalStateException'));
    assert.equal(traces.length, 3);
    assert.equal(String(traces[0]!.source.message).split('\n').length, 6);
    assert.match(String(traces[0]!.source.message), /Caused by: java.io.IOException: disk full\n\tat com.example.Disk.write\(Disk.java:3\)\n\t... 12 more$/);
    const offset = (traces[0]!.source.log as { offset: number }).offset;
    assert.equal(content.slice(offset, offset + 9), 'java.lang', 'the joined event keeps the offset of its first line');
  });

  it('inode reuse: a deleted file replaced by another with the same inode is read from 0', async (t) => {
    const c = await setup(t, 'inode');
    const file = path.join(c.dir, 'reuse.log');
    fs.writeFileSync(file, lines(0, 200, 'old'));
    assert.equal((await ship(c.env, '', [file])).code, 0);
    const oldIno = fs.statSync(file).ino;
    fs.rmSync(file);
    // ext4 and tmpfs hand a freed inode to the next file; retry a few times elsewhere
    let reused = false;
    for (let i = 0; i < 20 && !reused; i++) {
      fs.writeFileSync(file, lines(0, 50, 'new'));
      reused = fs.statSync(file).ino === oldIno;
      if (!reused) fs.renameSync(file, path.join(c.dir, `spare-${i}.log`));
    }
    if (!reused) {
      // the last try was renamed away: write the new file once more
      fs.writeFileSync(file, lines(0, 50, 'new'));
      // the filesystem did not reuse it: make the checkpoint claim this inode, as reuse would
      const stateFile = path.join(c.dir, 'state', 'checkpoints.json');
      const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { files: Array<{ ino: number; dev: number }> };
      const st = fs.statSync(file);
      state.files[0]!.ino = st.ino;
      state.files[0]!.dev = st.dev;
      fs.writeFileSync(stateFile, JSON.stringify(state));
    }
    const r = await ship(c.env, '', [file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /read 50, published 50/, 'the new file is read from its first byte');
    await expectExactlyOnce(c, [...lines(0, 200, 'old').trimEnd().split('\n'), ...lines(0, 50, 'new').trimEnd().split('\n')]);
  });

  it('a partial last line is shipped at EOF without --follow, and waits for its newline with --follow', async (t) => {
    const c = await setup(t, 'partial');
    const file = path.join(c.dir, 'p.log');
    fs.writeFileSync(file, 'complete\npart');
    const s = pipe.track(t, startCli(['ship', '--follow', file, '--metrics-port', '0'], { env: { ...c.env, LOGSHIP_LOG_LEVEL: 'info' } }), 'SIGKILL');
    const url = await waitFor('the shipper to serve /health', () => servedUrl(s.stderr()), 20_000);
    await waitFor('the complete line', async () => (await es.count(c.n.indexWildcard)) === 1, 20_000);
    // every byte was read, the partial line included, and it is no event
    await waitFor('all 13 bytes read', async () => (await shipHealth(url)).bytesRead === 13, 10_000, 20);
    assert.equal((await shipHealth(url)).summary.read, 1, 'the partial line waits');
    await waitFor('the queue and the indexer drained', () => drained(c.n.queue, c.indexer.url), 10_000);
    assert.equal(await es.count(c.n.indexWildcard), 1, 'the partial line waits');
    fs.appendFileSync(file, 'ial line\n');
    await waitFor('the joined line', async () => (await es.count(c.n.indexWildcard)) === 2, 20_000);
    s.child.kill('SIGTERM');
    assert.equal((await s.exited).code, 0);
    const other = path.join(c.dir, 'q.log');
    fs.writeFileSync(other, 'no newline at the end');
    assert.equal((await ship(c.env, '', [other])).code, 0);
    await expectExactlyOnce(c, ['complete', 'partial line', 'no newline at the end']);
  });

  it('clear errors: unreadable file, glob matching nothing, state dir not writable; other files keep going', async (t) => {
    const c = await setup(t, 'errors');
    const good = path.join(c.dir, 'good.log');
    fs.writeFileSync(good, lines(0, 5, 'good'));
    const dirAsFile = path.join(c.dir, 'adir');
    fs.mkdirSync(dirAsFile);
    const r = await ship(c.env, '', [good, path.join(c.dir, 'missing.log'), `${c.dir}/*.nomatch`, dirAsFile]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /read 5, published 5/);
    assert.match(r.stderr, /cannot read .*missing\.log: no such file/);
    assert.match(r.stderr, /glob .*\*\.nomatch matches no file/);
    assert.match(r.stderr, /adir: is a directory/);
    const blocker = path.join(c.dir, 'not-a-dir');
    fs.writeFileSync(blocker, '');
    const s = await ship({ ...c.env, LOGSHIP_STATE_DIR: path.join(blocker, 'state') }, '', [good]);
    assert.equal(s.code, 2);
    assert.match(s.stderr, /state directory .*not-a-dir\/state is not writable/);
    await expectExactlyOnce(c, lines(0, 5, 'good').trimEnd().split('\n'));
  });

  it('bounded memory: a file is streamed, not read into memory', async (t) => {
    const c = await setup(t, 'memory');
    const file = path.join(c.dir, 'large.log');
    const fd = fs.openSync(file, 'w');
    const block = lines(0, 2000, 'm'); // ~110 KB
    for (let i = 0; i < 600; i++) fs.writeSync(fd, block); // ~66 MB, 1.2M lines
    fs.closeSync(fd);
    await stopProcess(c.indexer); // keep the events in the queue to count them
    const s = pipe.track(t, startCli(['ship', file, '--events-per-message', '100'], { env: c.env, timeoutMs: 240_000 }), 'SIGKILL');
    let peak = 0;
    const timer = setInterval(() => {
      try {
        const status = fs.readFileSync(`/proc/${s.child.pid}/status`, 'utf8');
        peak = Math.max(peak, Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024);
      } catch {
        /* exited */
      }
    }, 100);
    const r = await s.exited;
    clearInterval(timer);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /read 1200000, published 1200000/);
    assert.ok(
      peak > 0 && peak < 200 * 1024 * 1024,
      `peak RSS ${Math.round(peak / 1048576)} MiB for a ${Math.round(fs.statSync(file).size / 1048576)} MiB file`,
    );
    // full messages of 100 events, plus a few partial ones sent by --flush-interval while input waited
    const messages = (await queueDepth(c.n.queue)).messageCount;
    assert.ok(messages >= 12_000 && messages < 12_200, `${messages} messages`);
    // one checkpoint mark per message (mergeMeta) still ends at the last line confirmed: the whole file
    const state = JSON.parse(fs.readFileSync(path.join(c.env.LOGSHIP_STATE_DIR!, 'checkpoints.json'), 'utf8')) as { files: Array<{ offset: number }> };
    assert.deepEqual(
      state.files.map((f) => f.offset),
      [fs.statSync(file).size],
    );
  });

  it('checkpoint never ahead of confirms: with the broker stopped no checkpoint advances; after it returns, all arrive once', {
    skip: !rabbitAvailable() && 'rabbitmq-server not installed',
  }, async (t) => {
    const rabbit = new PrivateRabbit();
    await rabbit.start();
    const n = randomNames('ckpt', rabbit.url);
    const dir = pipe.tmpDir(t, 'ckpt');
    const env = { ...n.env, LOGSHIP_ES_NODE: es.url, LOGSHIP_STATE_DIR: path.join(dir, 'state') };
    const file = path.join(dir, 'app.log');
    const stateFile = path.join(dir, 'state', 'checkpoints.json');
    const checkpoint = () =>
      fs.existsSync(stateFile) ? ((JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { files: Array<{ offset: number }> }).files[0]?.offset ?? 0) : 0;
    let s: ReturnType<typeof startCli> | null = null;
    let indexer: IndexerProcess | null = null;
    try {
      await bootstrap(env);
      fs.writeFileSync(file, lines(0, 100));
      s = startCli(['ship', '--follow', file, '--metrics-port', '0'], { env: { ...env, LOGSHIP_LOG_LEVEL: 'info' } });
      const shipper = s;
      const url = await waitFor('the shipper to serve /health', () => servedUrl(shipper.stderr()), 20_000);
      const firstSize = fs.statSync(file).size;
      await waitFor('the first checkpoint', () => checkpoint() === firstSize, 20_000);
      await rabbit.stop();
      fs.appendFileSync(file, lines(100, 200));
      await waitFor('the new lines read', async () => (await shipHealth(url)).summary.read === 200, 20_000, 50);
      // two looks of the checkpoint saver after the lines were read and published
      const readAt = new Date().toISOString();
      await waitFor('two checkpoint ticks', async () => ((await shipHealth(url)).checkpoints.checkedAt ?? '') > readAt, 5_000, 50);
      const firstTick = (await shipHealth(url)).checkpoints.checkedAt ?? '';
      await waitFor('two checkpoint ticks', async () => ((await shipHealth(url)).checkpoints.checkedAt ?? '') > firstTick, 5_000, 50);
      assert.equal(checkpoint(), firstSize, 'no checkpoint advances while the broker cannot confirm');
      await rabbit.start();
      await waitFor('the checkpoint after recovery', () => checkpoint() === fs.statSync(file).size, 60_000, 200);
      indexer = await startIndexer(env);
      const c: Ctx = { n, env, dir, indexer, amqpUrl: rabbit.url };
      await expectExactlyOnce(c, lines(0, 200).trimEnd().split('\n'));
      s.child.kill('SIGTERM');
      assert.equal((await s.exited).code, 0);
    } finally {
      s?.child.kill('SIGKILL');
      if (indexer) await stopProcess(indexer);
      await rabbit.destroy();
    }
  });
});
