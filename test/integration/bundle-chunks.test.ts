/**
 * What each command loads from the bundle (scripts/bundle.mjs): the official
 * Elasticsearch client is the largest module there, and a command that does
 * not talk to Elasticsearch never loads it. `logship index` imports it
 * dynamically, while it connects to the broker (indexer.ts), never as a
 * static import that would load before anything else runs. The bundle holds
 * a stand-in for apache-arrow, which the client reads only in ES|QL helpers
 * logship never calls; the bundled indexer still writes through the client.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import { queueDepth } from '../helpers/amqp.js';
import { ROOT, runCli, type RunningCli } from '../helpers/cli.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

const BUNDLE = path.join(ROOT, 'packages/cli/dist/bundle');

function read(chunk: string): string {
  return fs.readFileSync(path.join(BUNDLE, chunk), 'utf8');
}

/** the chunks a chunk imports statically (`import ... from "./x.mjs"`, `import "./x.mjs"`) and dynamically (`import("./x.mjs")`) */
function importsOf(chunk: string): { static: string[]; dynamic: string[] } {
  const text = read(chunk);
  return {
    static: [...text.matchAll(/(?:from|import)\s*"\.\/([\w-]+\.mjs)"/g)].map((m) => m[1]!),
    dynamic: [...text.matchAll(/import\("\.\/([\w-]+\.mjs)"\)/g)].map((m) => m[1]!),
  };
}

/** every chunk loaded with `chunk` before its code runs (static imports only), or also later (dynamic imports too) */
function closure(chunk: string, withDynamic: boolean): Set<string> {
  const seen = new Set<string>();
  const todo = [chunk];
  while (todo.length > 0) {
    const c = todo.pop()!;
    if (seen.has(c)) continue;
    seen.add(c);
    const i = importsOf(c);
    todo.push(...i.static, ...(withDynamic ? i.dynamic : []));
  }
  return seen;
}

/** the chunk each command's runner lives in, from main.mjs (`index: async () => (await import("./chunk-X.mjs")).runIndex`) */
function commandChunks(): Map<string, string> {
  const main = read('main.mjs');
  return new Map([...main.matchAll(/(\w+): async \(\) => \(await import\("\.\/([\w-]+\.mjs)"\)\)/g)].map((m) => [m[1]!, m[2]!]));
}

describe('the bundle loads the Elasticsearch client only where it is used', () => {
  it('index imports the client dynamically only; ship, generate, monitor and dlq never load it; bootstrap and status load it at once', () => {
    assert.ok(fs.existsSync(path.join(BUNDLE, 'main.mjs')), `${BUNDLE}/main.mjs is missing: run npm run build`);
    const client = fs.readdirSync(BUNDLE).filter((f) => read(f).includes('node_modules/@elastic/elasticsearch/index.js'));
    assert.equal(client.length, 1, `one chunk holds the client: ${client.join(', ')}`);
    const es = client[0]!;
    const commands = commandChunks();
    assert.deepEqual([...commands.keys()].sort(), ['bootstrap', 'dlq', 'generate', 'index', 'monitor', 'ship', 'status']);
    const chunkOf = (command: string) => commands.get(command)!;

    assert.ok(!closure(chunkOf('index'), false).has(es), 'index loads the client before it connects to the broker');
    assert.ok(closure(chunkOf('index'), true).has(es), 'index can load the client');
    for (const command of ['ship', 'generate', 'monitor']) {
      assert.ok(!closure(chunkOf(command), true).has(es), `${command} can load the Elasticsearch client`);
    }
    // dlq shares the indexer's chunk, and with it the dynamic import that only the index command runs
    assert.ok(!closure(chunkOf('dlq'), false).has(es), 'dlq loads the Elasticsearch client');
    for (const command of ['bootstrap', 'status']) {
      assert.ok(closure(chunkOf(command), false).has(es), `${command} declares and checks Elasticsearch at once`);
    }
  });
});

describe('the bundle leaves apache-arrow out', () => {
  it('no chunk holds apache-arrow or its flatbuffers; the client chunk holds the stand-in instead', () => {
    const chunks = fs.readdirSync(BUNDLE).filter((f) => f.endsWith('.mjs'));
    const holding = chunks.filter((f) => /node_modules\/(apache-arrow|flatbuffers)\//.test(read(f)));
    assert.deepEqual(holding, [], 'apache-arrow is bundled');
    const client = chunks.filter((f) => read(f).includes('node_modules/@elastic/elasticsearch/index.js'));
    assert.equal(client.length, 1);
    assert.match(read(client[0]!), /scripts\/left-out\/apache-arrow\.cjs/);
  });

  it('the stand-in throws, naming the helpers that are missing, when anything of it is read; probes for interop stay quiet', () => {
    const arrow = createRequire(import.meta.url)(path.join(ROOT, 'scripts/left-out/apache-arrow.cjs')) as Record<string | symbol, unknown>;
    assert.throws(() => arrow.tableFromIPC, /apache-arrow is not in the logship bundle: .*ES\|QL Arrow helpers \(toArrowTable, toArrowReader\)/);
    assert.throws(() => arrow.AsyncRecordBatchStreamReader, /apache-arrow is not in the logship bundle/);
    assert.equal(arrow.__esModule, undefined);
    assert.equal(arrow.then, undefined);
    assert.equal(arrow[Symbol.toStringTag], undefined);
  });
});

describe('the bundled indexer writes through the bundled client', () => {
  const pipe = usePipeline();

  it('bootstrap and index run from the bundle (no sources, no tsx) talk to Elasticsearch through the bundled client: what was shipped is stored and acked', async (t) => {
    const { n, env } = pipe.topology(t, 'bundled');
    // the command as users run it: bin/logship.js runs dist/bundle/main.mjs when it is there (dist/main.js otherwise)
    assert.ok(fs.existsSync(path.join(BUNDLE, 'main.mjs')), `${BUNDLE}/main.mjs is missing: run npm run build`);
    const clean: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LOGSHIP_') && k !== 'NODE_OPTIONS') clean[k] = v;
    const bundled = (args: string[]) =>
      spawn(path.join(ROOT, 'packages/cli/bin/logship.js'), args, { env: { ...clean, ...env, LOGSHIP_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });

    // bootstrap declares the broker's topology and Elasticsearch's index template through the client
    const boot = bundled(['bootstrap']);
    let bootOut = '';
    boot.stdout.setEncoding('utf8').on('data', (d: string) => (bootOut += d));
    boot.stderr.setEncoding('utf8').on('data', (d: string) => (bootOut += d));
    const bootCode = await new Promise<number | null>((resolve) => boot.on('close', resolve));
    assert.equal(bootCode, 0, bootOut);
    assert.doesNotMatch(bootOut, /apache-arrow/);
    const lines = ['bundled one', 'bundled two', 'bundled three'];
    const ship = await runCli(['ship'], { env, input: `${lines.join('\n')}\n` });
    assert.equal(ship.code, 0, ship.stderr);

    const child = bundled(['index', '--metrics-port', '0']);
    child.stdout.resume();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<{ code: number | null }>((resolve) => child.on('close', (code) => resolve({ code })));
    const indexer: RunningCli = { child, stdout: () => '', stderr: () => stderr, exited: exited.then((r) => ({ ...r, signal: null, stdout: '', stderr })) };
    pipe.track(t, indexer);

    // an indexer that exits (or is killed) before it stored them fails the test at once
    const died = exited.then(({ code }) => {
      throw new Error(`the bundled index exited ${code ?? child.signalCode} before storing the events:\n${stderr}`);
    });
    died.catch(() => undefined); // it also exits at the end of a passing test
    const docs = await Promise.race([
      waitFor(
        'the bundled indexer to store the 3 events',
        async () => {
          const all = await pipe.es.all(n.indexWildcard);
          return all.length === 3 ? all : undefined;
        },
        30_000,
      ),
      died,
    ]);
    assert.deepEqual(docs.map((d) => d.source.message).sort(), [...lines].sort());
    await waitFor('the queue to be empty (acked after the bulk)', async () => (await queueDepth(n.queue)).messageCount === 0);
    assert.doesNotMatch(stderr, /apache-arrow/);
    child.kill('SIGTERM');
    assert.equal((await exited).code, 0, stderr);
  });
});
