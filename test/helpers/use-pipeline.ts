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
 *
 * What the tests of a block share (a topology and an indexer started in its
 * before hook) takes the scope `pipe.block` instead of a test: it is cleaned
 * up the same way in the block's after hook, before its Elasticsearch closes.
 * `usePipeline({ es: false })` starts no Elasticsearch (tests of the broker
 * side only, or with Elasticsearch doubles of their own): `pipe.es` is then
 * not available and the topology's env names no Elasticsearch; a test that
 * needs one of its own takes `pipe.startEs(t)`. Called at the top of a file
 * instead of in a describe, the fixture serves every block of the file.
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

/** The scope of what the tests of a describe block share: cleaned up in the block's after hook. */
export interface BlockScope {
  readonly block: true;
}

/** A test (cleaned up after it) or the describe block (cleaned up after its last test). */
export type Scope = TestContext | BlockScope;

export interface PipelineOptions {
  /** start the Elasticsearch of the block (default true) */
  es?: boolean;
}

export interface TestTopology {
  n: Names;
  /** n.env with LOGSHIP_ES_NODE of the fixture's Elasticsearch (if it has one), and the extra variables given */
  env: Record<string, string>;
}

export interface Pipeline {
  /** the Elasticsearch of the describe block: started in its before hook, closed in its after hook */
  readonly es: EsTarget;
  /** the scope of what the block's tests share, for its before hook */
  readonly block: BlockScope;
  /** An Elasticsearch of test t alone (a fresh double, or LOGSHIP_TEST_ES_NODE), closed after it. */
  startEs(t: Scope): Promise<EsTarget>;
  /** Random names for test t, deleted from the broker (amqpUrl) after it. */
  topology(t: Scope, prefix: string, extraEnv?: Record<string, string>, amqpUrl?: string): TestTopology;
  /** `logship index` (helpers/pipeline.ts), stopped after test t. */
  startIndexer(t: Scope, env: Record<string, string>, extra?: string[]): Promise<IndexerProcess>;
  /** A command that serves HTTP (helpers/pipeline.ts), stopped after test t. */
  startServing(t: Scope, args: string[], env: Record<string, string>): Promise<{ p: RunningCli; url: string }>;
  /** Stops p after test t (with `signal`, then SIGKILL if it has not exited 30 s later); returns p. */
  track<P extends RunningCli>(t: Scope, p: P, signal?: NodeJS.Signals): P;
  /** A temporary directory, removed after test t. */
  tmpDir(t: Scope, prefix: string): string;
  /** Runs fn after test t, before the clean-up registered earlier. */
  defer(t: Scope, fn: () => unknown): void;
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

/** Runs and empties a clean-up stack, last registered first; throws the first failure once all ran. */
async function unwind(stack: Array<() => unknown>): Promise<void> {
  let failure: unknown;
  for (let f = stack.pop(); f; f = stack.pop()) {
    try {
      await f();
    } catch (err) {
      failure ??= err;
    }
  }
  if (failure !== undefined) throw failure;
}

export function usePipeline(options: PipelineOptions = {}): Pipeline {
  const withEs = options.es ?? true;
  let es: EsTarget | undefined;
  const block: BlockScope = { block: true };
  const blockStack: Array<() => unknown> = [];
  const stacks = new WeakMap<TestContext, Array<() => unknown>>();
  before(async () => {
    if (withEs) es = await startEs();
  });
  after(async () => {
    try {
      await unwind(blockStack);
    } finally {
      await es?.close();
    }
  });

  const defer = (t: Scope, fn: () => unknown): void => {
    if (t === block) {
      blockStack.push(fn);
      return;
    }
    const test = t as TestContext;
    let stack = stacks.get(test);
    if (!stack) {
      const own: Array<() => unknown> = [];
      stack = own;
      stacks.set(test, own);
      test.after(() => unwind(own));
    }
    stack.push(fn);
  };

  const started = (): EsTarget => {
    if (!withEs) throw new Error('usePipeline({ es: false }) starts no Elasticsearch');
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
    block,
    async startEs(t) {
      const own = await startEs();
      defer(t, () => own.close());
      return own;
    },
    topology(t, prefix, extraEnv = {}, amqpUrl = AMQP_URL) {
      const n = randomNames(prefix, amqpUrl);
      defer(t, () => deleteTopology(n, amqpUrl));
      return { n, env: { ...n.env, ...(withEs ? { LOGSHIP_ES_NODE: target.url } : {}), ...extraEnv } };
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
