/**
 * File identity under rewrites and crashes: a file rewritten in place is a
 * new file (read from 0, new ids, no fragment), and a file's id survives a
 * kill -9 right after a rotation (rename or copytruncate), so the lines the
 * next run ships again are 409s, never copies. Real broker, ES double.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { queueDepth, type Names } from '../helpers/amqp.js';
import type { RunningCli } from '../helpers/cli.js';
import { checkpointedToEnd, drained, lineList, lines } from '../helpers/file-state.js';
import { bootstrap, ship, type IndexerProcess } from '../helpers/pipeline.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

interface Ctx {
  n: Names;
  env: Record<string, string>;
  dir: string;
  stateDir: string;
  indexer: IndexerProcess | null;
}

describe('file identity', () => {
  const pipe = usePipeline();
  const es = pipe.es;

  /** a directory with the state dir in it, a topology, an indexer (withIndexer): all removed after test t */
  async function setup(t: TestContext, prefix: string, withIndexer = true): Promise<Ctx> {
    const dir = pipe.tmpDir(t, prefix);
    const stateDir = path.join(dir, 'state');
    const { n, env } = pipe.topology(t, prefix, { LOGSHIP_STATE_DIR: stateDir });
    await bootstrap(env);
    const indexer = withIndexer ? await pipe.startIndexer(t, env) : null;
    return { n, env, dir, stateDir, indexer };
  }

  /** every expected message indexed exactly once, one document per event.id, nothing else */
  async function expectExactlyOnce(c: Ctx, expected: string[]): Promise<void> {
    const indexer = c.indexer;
    assert.ok(indexer, 'an indexer runs');
    await waitFor(`${expected.length} documents`, async () => (await es.count(c.n.indexWildcard)) >= expected.length, 60_000, 100);
    await waitFor('the queue and the indexer drained', () => drained(c.n.queue, indexer.url), 30_000, 100);
    const docs = await es.all(c.n.indexWildcard);
    const messages = docs.map((d) => String(d.source.message));
    const extra = messages.filter((m) => !expected.includes(m));
    assert.deepEqual(extra.slice(0, 5), [], 'no document that is not a whole line of the files (a fragment)');
    assert.equal(new Set(messages).size, expected.length, 'distinct messages');
    assert.equal(docs.length, expected.length, 'documents (a line indexed twice under two ids shows here)');
    assert.deepEqual([...messages].sort(), [...expected].sort());
  }

  /** `ship --follow` serving /health, stopped after test t */
  async function follow(t: TestContext, c: Ctx, pattern: string): Promise<RunningCli> {
    return (await pipe.startServing(t, ['ship', '--follow', pattern, '--scan-interval', '100ms', '--metrics-port', '0'], c.env)).p;
  }

  it('a followed file overwritten in place (not truncated) with more bytes than were read is read again from 0: every new line once, no fragment', async (t) => {
    const c = await setup(t, 'rewrite');
    const log = path.join(c.dir, 'app.log');
    fs.writeFileSync(log, lines(0, 100, 'old'));
    const s = await follow(t, c, log);
    const wildcard = c.n.indexWildcard;
    await waitFor('the old lines indexed', async () => (await es.count(wildcard)) === 100, 30_000, 50);
    // the size never drops, so only the changed first bytes can tell: write from 0 over the old content
    const fd = fs.openSync(log, 'r+');
    try {
      fs.writeSync(fd, lines(0, 300, 'new'), 0);
    } finally {
      fs.closeSync(fd);
    }
    await expectExactlyOnce(c, [...lineList(0, 100, 'old'), ...lineList(0, 300, 'new')]);
    assert.match(s.stderr(), /file rewritten in place/);
    assert.doesNotMatch(s.stderr(), /file truncated/);
    s.child.kill('SIGTERM');
    assert.equal((await s.exited).code, 0);
  });

  it('a file rewritten in place while the shipper was stopped is read from 0 on restart, even if it was empty when first seen', async (t) => {
    const c = await setup(t, 'rewrite-stopped');
    const log = path.join(c.dir, 'app.log');
    fs.writeFileSync(log, ''); // fingerprinted empty: the fingerprint must grow with the file
    const s = await follow(t, c, log);
    const stateDir = c.stateDir;
    await waitFor('the empty file checkpointed', () => checkpointedToEnd(stateDir, [log]), 20_000, 50);
    fs.appendFileSync(log, lines(0, 100, 'old'));
    const wildcard = c.n.indexWildcard;
    await waitFor('the old lines indexed', async () => (await es.count(wildcard)) === 100, 30_000, 50);
    s.child.kill('SIGTERM');
    assert.equal((await s.exited).code, 0);
    fs.writeFileSync(log, lines(0, 300, 'new'));
    const r = await ship(c.env, '', [log]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /read 300, published 300/, 'the rewritten file is read from its first byte');
    await expectExactlyOnce(c, [...lineList(0, 100, 'old'), ...lineList(0, 300, 'new')]);
  });

  /**
   * Rounds of: (re)start the following shipper on the same state dir, wait
   * until it caught up, rotate, write 300 lines, kill -9 it as soon as the
   * queue shows some of them. The indexer runs only at the end, so the queue
   * depth is the moment of publishing. Every line must end up indexed once.
   * Returns the lines, and the rounds whose kill came before all their lines
   * were checkpointed (the next run reads some again: the case under test).
   */
  async function killLoop(
    t: TestContext,
    c: Ctx,
    pattern: string,
    rotate: (round: number) => void,
    files: () => string[],
  ): Promise<{ expected: string[]; cutShort: number }> {
    const rounds = 3;
    let cutShort = 0;
    const expected: string[] = [];
    const log = path.join(c.dir, 'app.log');
    fs.writeFileSync(log, lines(0, 300, 'r0'));
    expected.push(...lineList(0, 300, 'r0'));
    for (let round = 0; round <= rounds; round++) {
      const s = await follow(t, c, pattern);
      await waitFor(`round ${round}: everything so far checkpointed`, () => checkpointedToEnd(c.stateDir, files()), 30_000, 50);
      if (round === rounds) {
        s.child.kill('SIGTERM');
        assert.equal((await s.exited).code, 0, s.stderr());
        break;
      }
      const before = (await queueDepth(c.n.queue)).messageCount;
      rotate(round + 1);
      fs.appendFileSync(log, lines(0, 300, `r${round + 1}`));
      expected.push(...lineList(0, 300, `r${round + 1}`));
      await waitFor(`round ${round + 1}: some new lines published`, async () => (await queueDepth(c.n.queue)).messageCount > before, 20_000, 10);
      s.child.kill('SIGKILL');
      assert.equal((await s.exited).signal, 'SIGKILL');
      if (!checkpointedToEnd(c.stateDir, files())) cutShort++;
    }
    return { expected, cutShort };
  }

  /** The kills came before the checkpoints caught up, and lines shipped twice were refused as duplicates. */
  function assertKilledEarly(c: Ctx, cutShort: number): void {
    assert.ok(cutShort > 0, 'some kill came before its lines were checkpointed');
    const double = es.double;
    if (double) assert.ok(double.itemsWithStatus(c.n.indexWildcard, 409) > 0, 'lines shipped again after a kill were 409s, not copies');
  }

  it('kill -9 right after a rename rotation, round after round: the new file keeps its id, every line indexed once', async (t) => {
    const c = await setup(t, 'kill-rename', false);
    const log = path.join(c.dir, 'app.log');
    const rotated: string[] = [];
    const { expected, cutShort } = await killLoop(
      t,
      c,
      `${c.dir}/app.log*`,
      (round) => {
        const to = `${log}.${round}`;
        fs.renameSync(log, to);
        rotated.push(to);
        fs.writeFileSync(log, '');
      },
      () => [log, ...rotated],
    );
    c.indexer = await pipe.startIndexer(t, c.env);
    await expectExactlyOnce(c, expected);
    assertKilledEarly(c, cutShort);
  });

  it('kill -9 right after a copytruncate, round after round: the new generation keeps its id, every line indexed once', async (t) => {
    const c = await setup(t, 'kill-copytrunc', false);
    const log = path.join(c.dir, 'app.log');
    const { expected, cutShort } = await killLoop(
      t,
      c,
      log,
      (round) => {
        fs.copyFileSync(log, `${log}.${round}`);
        fs.truncateSync(log, 0);
      },
      () => [log],
    );
    c.indexer = await pipe.startIndexer(t, c.env);
    await expectExactlyOnce(c, expected);
    assertKilledEarly(c, cutShort);
  });
});
