/**
 * ship's own faults: a state directory on a full disk (at start: exit 2;
 * mid-run: shipping goes on, checkpoint writes retried, /health degraded
 * with the reason, ok again once a write succeeds) and inputs that cannot be
 * read while following (/health degraded, exit 1 naming them at SIGTERM).
 * Real broker, ES double; the full disk is a 64 KiB tmpfs (needs root).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { Names } from '../helpers/amqp.js';
import type { RunningCli } from '../helpers/cli.js';
import { checkpointedToEnd, checkpoints, drained, lineList, lines, shipHealth, shipHealthWhen } from '../helpers/file-state.js';
import { bootstrap, ship, type IndexerProcess } from '../helpers/pipeline.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

interface Ctx {
  n: Names;
  env: Record<string, string>;
  dir: string;
  stateDir: string;
  indexer: IndexerProcess;
}

/** Fills a filesystem to its last byte; returns the filler file. */
function fill(dir: string): string {
  const filler = path.join(dir, 'filler');
  const fd = fs.openSync(filler, 'a');
  try {
    const block = Buffer.alloc(4096, 1);
    for (;;) fs.writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    fs.closeSync(fd);
  }
  return filler;
}

describe('ship: state directory and unreadable inputs', () => {
  const pipe = usePipeline();
  const es = pipe.es;

  /**
   * A directory with the state dir in it, a topology, an indexer: all removed
   * after test t. With `tmpfs`, the state dir is a 64 KiB tmpfs (unmounted
   * after the test); returns null (test skipped) where mounting is not allowed.
   */
  async function setup(t: TestContext, prefix: string, tmpfs: boolean): Promise<Ctx | null> {
    const dir = pipe.tmpDir(t, prefix);
    const stateDir = path.join(dir, 'state');
    fs.mkdirSync(stateDir);
    if (tmpfs) {
      const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', stateDir], { encoding: 'utf8' });
      if (m.status !== 0) {
        t.skip(`a full disk needs a small tmpfs, and mount failed: ${(m.stderr || m.error?.message || '').trim()}`);
        return null;
      }
      pipe.defer(t, () => spawnSync('umount', [stateDir]));
    }
    const { n, env } = pipe.topology(t, prefix, { LOGSHIP_STATE_DIR: stateDir });
    await bootstrap(env);
    const indexer = await pipe.startIndexer(t, env);
    return { n, env, dir, stateDir, indexer };
  }

  async function expectExactlyOnce(c: Ctx, expected: string[]): Promise<void> {
    await waitFor(`${expected.length} documents`, async () => (await es.count(c.n.indexWildcard)) >= expected.length, 30_000, 100);
    const indexer = c.indexer;
    assert.ok(indexer, 'an indexer runs');
    await waitFor('the queue and the indexer drained', () => drained(c.n.queue, indexer.url), 30_000, 100);
    const docs = await es.all(c.n.indexWildcard);
    assert.equal(docs.length, expected.length, 'documents');
    assert.deepEqual(docs.map((d) => String(d.source.message)).sort(), [...expected].sort());
  }

  /** `ship --follow` serving /health, stopped after test t */
  function follow(t: TestContext, c: Ctx, args: string[]): Promise<{ p: RunningCli; url: string }> {
    return pipe.startServing(t, ['ship', '--follow', ...args, '--scan-interval', '100ms', '--metrics-port', '0'], c.env);
  }

  it('files whose checkpoints have not moved for over a week resume at their offsets: nothing shipped again, no entry forgotten', async (t) => {
    const c = await setup(t, 'state-old', false);
    if (!c) return;
    const app = path.join(c.dir, 'app.log');
    const quiet = path.join(c.dir, 'quiet.log');
    fs.writeFileSync(app, lines(0, 100, 'app'));
    fs.writeFileSync(quiet, lines(0, 20, 'quiet'));
    const first = await ship(c.env, '', [app, quiet]);
    assert.equal(first.code, 0, first.stderr);
    const ids = checkpoints(c.stateDir)
      .map((e) => e.fileId)
      .sort();
    assert.equal(ids.length, 2);
    // the shipper was stopped for 8 days (or both files were quiet that long)
    const stateFile = path.join(c.stateDir, 'checkpoints.json');
    const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { files: Array<{ updatedAt: string }> };
    for (const e of state.files) e.updatedAt = new Date(Date.now() - 8 * 24 * 3600_000).toISOString();
    fs.writeFileSync(stateFile, JSON.stringify(state));
    fs.appendFileSync(app, lines(100, 150, 'app'));
    const second = await ship(c.env, '', [app, quiet]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /read 50, published 50/, 'only the new lines of app.log; quiet.log not again');
    assert.deepEqual(
      checkpoints(c.stateDir)
        .map((e) => e.fileId)
        .sort(),
      ids,
      'the same file ids, both kept',
    );
    assert.ok(checkpointedToEnd(c.stateDir, [app, quiet]));
    await expectExactlyOnce(c, [...lineList(0, 150, 'app'), ...lineList(0, 20, 'quiet')]);
  });

  it('a state directory on a full disk stops the run at start with exit 2 and the reason, with or without --follow', async (t) => {
    const c = await setup(t, 'state-full', true);
    if (!c) return;
    const log = path.join(c.dir, 'app.log');
    fs.writeFileSync(log, lines(0, 10));
    fill(c.stateDir);
    const r = await ship(c.env, '', [log]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /state directory .*state (cannot be locked|cannot be written): .*(ENOSPC|no space left)/i);
    const f = await ship(c.env, '', ['--follow', log, '--metrics-port', '0']);
    assert.equal(f.code, 2, f.stderr);
    assert.match(f.stderr, /state directory .*(ENOSPC|no space left)/i);
    assert.equal(await es.count(c.n.indexWildcard), 0, 'nothing shipped');
  });

  it('a state directory that fills up mid-run: shipping goes on, /health degraded with the reason, checkpoints written again once there is room', async (t) => {
    const c = await setup(t, 'state-fills', true);
    if (!c) return;
    const log = path.join(c.dir, 'app.log');
    fs.writeFileSync(log, lines(0, 100));
    const { p: s, url } = await follow(t, c, [log]);
    const { stateDir, n } = c;
    await waitFor('the first checkpoint', () => checkpointedToEnd(stateDir, [log]), 20_000, 50);
    assert.equal((await shipHealth(url)).status, 'ok');
    const filler = fill(c.stateDir);
    fs.appendFileSync(log, lines(100, 200));
    await waitFor('the new lines indexed while checkpoints cannot be written', async () => (await es.count(n.indexWildcard)) === 200, 30_000, 50);
    const degraded = await shipHealthWhen(url, '/health degraded', (h) => h.status === 'degraded');
    assert.equal(degraded.checkpoints.ok, false);
    assert.match(degraded.checkpoints.error ?? '', /cannot write checkpoints in .*state: .*(ENOSPC|no space left)/i);
    assert.ok(degraded.checkpoints.since);
    assert.equal(degraded.summary.published, 200, 'shipping went on');
    assert.match(s.stderr(), /cannot write checkpoints; shipping goes on, retrying every second/);
    fs.rmSync(filler);
    await waitFor('the checkpoint at the end of the file', () => checkpointedToEnd(stateDir, [log]), 10_000, 50);
    const healed = await shipHealthWhen(url, '/health ok again', (h) => h.status === 'ok');
    assert.equal(healed.checkpoints.error, null);
    s.child.kill('SIGTERM');
    assert.equal((await s.exited).code, 0, s.stderr());
    await expectExactlyOnce(c, lineList(0, 200));
  });

  it('inputs that cannot be read with --follow: /health degraded naming them, exit 1 at SIGTERM naming those still unreadable', async (t) => {
    const c = await setup(t, 'follow-unreadable', false);
    if (!c) return;
    const good = path.join(c.dir, 'good.log');
    fs.writeFileSync(good, lines(0, 5, 'good'));
    const adir = path.join(c.dir, 'adir');
    fs.mkdirSync(adir);
    // unreadable even for root: a symlink that points to itself
    const loop = path.join(c.dir, 'loop.log');
    fs.symlinkSync(loop, loop);
    const { p: s, url } = await follow(t, c, [good, adir, loop]);
    const { n } = c;
    const degraded = await shipHealthWhen(
      url,
      '/health degraded with both problems',
      (h) => h.status === 'degraded' && Object.keys(h.inputProblems).length === 2,
      20_000,
    );
    const problems = Object.values(degraded.inputProblems).join('\n');
    assert.match(problems, /adir: is a directory/);
    assert.match(problems, /loop\.log: .*(ELOOP|too many symbolic links)/i);
    await waitFor('good.log indexed', async () => (await es.count(n.indexWildcard)) === 5, 20_000, 50);
    // a problem that goes away is no longer reported
    fs.rmSync(loop);
    fs.writeFileSync(loop, lines(0, 3, 'loop'));
    await waitFor('loop.log readable again', async () => Object.keys((await shipHealth(url)).inputProblems).length === 1, 10_000, 50);
    await waitFor('loop.log indexed', async () => (await es.count(n.indexWildcard)) === 8, 20_000, 50);
    assert.equal((await shipHealth(url)).status, 'degraded', 'the directory is still a problem');
    s.child.kill('SIGTERM');
    const r = await s.exited;
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /1 input\(s\) could not be read: cannot read .*adir: is a directory/);
    await expectExactlyOnce(c, [...lineList(0, 5, 'good'), ...lineList(0, 3, 'loop')]);
  });
});
