#!/usr/bin/env node
// Runs the test files with node's own test runner, always on the code in the
// work tree, never on an old build in dist/:
//   - in-process imports of @logship/* resolve to packages/*/src through the
//     "logship-source" export condition (TypeScript through tsx);
//   - the `logship` binary that integration tests spawn runs packages/cli/src
//     the same way (test/helpers/cli.ts sets LOGSHIP_TEST_FROM_SOURCE=1).
// Types are checked by `npm run typecheck`, which `npm test` runs first.
//
// Usage: node scripts/run-tests.mjs [unit|integration] [name-filter]
//        node scripts/run-tests.mjs test/unit/decode.test.ts [more files]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const suites = ['unit', 'integration'];
const argv = process.argv.slice(2);
const files = [];
let needsBroker = false;
if (argv.length > 0 && argv.every((a) => a.endsWith('.ts'))) {
  for (const f of argv) {
    if (!fs.existsSync(path.resolve(root, f))) {
      console.error(`no such test file: ${f}`);
      process.exit(1);
    }
    files.push(f);
    if (f.includes('integration')) needsBroker = true;
  }
} else {
  const [only, filter] = argv;
  if (only && !suites.includes(only)) {
    console.error(`unknown suite "${only}": use ${suites.join(' or ')}, or name test files`);
    process.exit(1);
  }
  const chosen = only ? [only] : suites;
  needsBroker = chosen.includes('integration');
  for (const suite of chosen) {
    const dir = path.join(root, 'test', suite);
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir).sort()) {
      if (f.endsWith('.test.ts') && (!filter || f.includes(filter))) files.push(path.join('test', suite, f));
    }
  }
}
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

// integration tests need the machine's RabbitMQ: say so plainly when it is down
if (needsBroker) {
  const url = new URL(process.env.LOGSHIP_TEST_AMQP_URL ?? 'amqp://127.0.0.1:5672');
  const up = await new Promise((resolve) => {
    const s = net.connect(Number(url.port || 5672), url.hostname);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (!up) {
    console.error(`RabbitMQ is not reachable at ${url.hostname}:${url.port || 5672}; start it (rabbitmq-server -detached) or set LOGSHIP_TEST_AMQP_URL`);
    process.exit(1);
  }
}
fs.mkdirSync(path.join(root, 'test-output'), { recursive: true });
const args = [
  '--conditions=logship-source',
  '--import',
  'tsx',
  '--test',
  '--test-reporter=spec',
  // integration tests share one broker and two cores: run files two at a time
  `--test-concurrency=${process.env.LOGSHIP_TEST_CONCURRENCY ?? 2}`,
  '--test-timeout=300000',
  ...files,
];
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
