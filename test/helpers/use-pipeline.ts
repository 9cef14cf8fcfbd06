/**
 * The fixture of the pipeline's integration tests: one Elasticsearch per
 * describe (the double, or LOGSHIP_TEST_ES_NODE), and per test its random
 * topology, the processes it started and its temporary directories, all
 * cleaned up after the test, whether it passed or failed.
 *
 *   describe('x', () => {
 *     const pipe = usePipeline();
 *     const es = pipe.es;
 *     it('y', async (t) => {
 *       const { n, env } = pipe.topology(t, 'y');
 *       await bootstrap(env);
 *       const p = await pipe.startIndexer(t, env);
 *       ...
 *
 * Clean-up runs in t.after, last registered first: the processes of a test
 * are stopped (SIGTERM, and SIGKILL if one has not exited 30 s later) before
 * its topology is deleted.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, type TestContext } from 'node:test';
import { AMQP_URL, deleteTopology, randomNames, type Names } from './amqp.js';
import type { RunningCli } from './cli.js';
import { startEs, type EsTarget } from './es.js';
import { startIndexer, startServing, type IndexerProcess } from './pipeline.js';

const KILL_AFTER_MS = 30_000;

export interface TestTopology {
  n: Names;
  /** n.env with LOGSHIP_ES_NODE of the fixture's Elasticsearch, and the extra variables given */
  env: Record<string, string>;
}

export interface Pipeline {
  /** the Elasticsearch of the describe block: started in its before hook, closed in its after hook */
  readonly es: EsTarget;
  /** Random names for test t, deleted from the broker (amqpUrl) after it. */
  topology(t: TestContext, prefix: string, extraEnv?: Record<string, string>, amqpUrl?: string): TestTopology;
  /** `logship index` (helpers/pipeline.ts), stopped after test t. */
  startIndexer(t: TestContext, env: Record<string, string>, extra?: string[]): Promise<IndexerProcess>;
  /** A command that serves HTTP (helpers/pipeline.ts), stopped after test t. */
  startServing(t: TestContext, args: string[], env: Record<string, string>): Promise<{ p: RunningCli; url: string }>;
  /** Stops p after test t (with `signal`, then SIGKILL if it has not exited 30 s later); returns p. */
  track<P extends RunningCli>(t: TestContext, p: P, signal?: NodeJS.Signals): P;
  /** A temporary directory, removed after test t. */
  tmpDir(t: TestContext, prefix: string): string;
  /** Runs fn after test t, before the clean-up registered earlier. */
  defer(t: TestContext, fn: () => unknown): void;
}

async function stop(p: RunningCli, signal: NodeJS.Signals): Promise<void> {
  const running = () => p.child.exitCode === null && p.child.signalCode === null;
  if (!running()) return;
  p.child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      if (running()) p.child.kill('SIGKILL');
      resolve();
    }, KILL_AFTER_MS);
  });
  await Promise.race([p.exited, killed]);
  clearTimeout(timer);
  await p.exited;
}

export function usePipeline(): Pipeline {
  let es: EsTarget | undefined;
  const stacks = new WeakMap<TestContext, Array<() => unknown>>();
  before(async () => {
    es = await startEs();
  });
  after(async () => es?.close());

  const defer = (t: TestContext, fn: () => unknown): void => {
    let stack = stacks.get(t);
    if (!stack) {
      const own: Array<() => unknown> = [];
      stack = own;
      stacks.set(t, own);
      t.after(async () => {
        let failure: unknown;
        for (let f = own.pop(); f; f = own.pop()) {
          try {
            await f();
          } catch (err) {
            failure ??= err;
          }
        }
        if (failure !== undefined) throw failure;
      });
    }
    stack.push(fn);
  };

  const started = (): EsTarget => {
    if (!es) throw new Error('usePipeline: Elasticsearch starts in the before hook of the describe block: use it inside tests');
    return es;
  };
  // usable as soon as the describe block is defined (const es = pipe.es), and forwarding to the one started
  const target: EsTarget = {
    get url() {
      return started().url;
    },
    get double() {
      return started().double;
    },
    refresh: (pattern) => started().refresh(pattern),
    count: (pattern) => started().count(pattern),
    all: (pattern) => started().all(pattern),
    close: () => started().close(),
  };

  const pipeline: Pipeline = {
    es: target,
    topology(t, prefix, extraEnv = {}, amqpUrl = AMQP_URL) {
      const n = randomNames(prefix, amqpUrl);
      defer(t, () => deleteTopology(n, amqpUrl));
      return { n, env: { ...n.env, LOGSHIP_ES_NODE: target.url, ...extraEnv } };
    },
    async startIndexer(t, env, extra = []) {
      return pipeline.track(t, await startIndexer(env, extra));
    },
    async startServing(t, args, env) {
      const s = await startServing(args, env);
      pipeline.track(t, s.p);
      return s;
    },
    track(t, p, signal = 'SIGTERM') {
      defer(t, () => stop(p, signal));
      return p;
    },
    tmpDir(t, prefix) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `logship-${prefix}-`));
      defer(t, () => fs.rmSync(dir, { recursive: true, force: true }));
      return dir;
    },
    defer,
  };
  return pipeline;
}
