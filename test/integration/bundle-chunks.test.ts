/**
 * What each command loads from the bundle (scripts/bundle.mjs): the official
 * Elasticsearch client is the largest module there, and a command that does
 * not talk to Elasticsearch never loads it. `logship index` imports it
 * dynamically, while it connects to the broker (indexer.ts), never as a
 * static import that would load before anything else runs.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../helpers/cli.js';

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
