/**
 * Install as users do: the one tarball scripts/pack.mjs makes (the cli with the three workspace
 * packages bundled) installs alone with `npm install -g` into an empty prefix, and the installed
 * `logship` works against the real broker. Unlike every other integration test this one runs
 * the built dist/ (the pack builds it first), from the installed copy, with a clean environment:
 * no LOGSHIP_TEST_FROM_SOURCE, no tsx, no path back into the work tree.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { queueDepth } from '../helpers/amqp.js';
import { ROOT } from '../helpers/cli.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Started {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<Result>;
}

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: string, cwd = os.tmpdir()): Started {
  const child = spawn(cmd, args, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin!.on('error', () => undefined);
  if (input !== undefined) child.stdin!.end(input);
  const exited = new Promise<Result>((resolve) => {
    child.on('error', (err) => resolve({ code: null, signal: null, stdout, stderr: `${stderr}\n${err.message}` }));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, input = '', cwd?: string): Promise<Result> {
  const p = start(cmd, args, env, input, cwd);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const r = await p.exited;
  clearTimeout(timer);
  if (r.signal === 'SIGKILL') r.stderr += `\n[test] killed after ${timeoutMs} ms`;
  return r;
}

/** npm and the pack script: this environment without the test runner's node options */
function toolEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LOGSHIP_') && k !== 'NODE_OPTIONS' && k !== 'NODE_TEST_CONTEXT') env[k] = v;
  return env;
}

/** what a user's shell would have: a PATH with node on it, HOME, and the logship settings */
function userEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: [path.dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(path.delimiter) };
  for (const k of ['HOME', 'TMPDIR', 'LANG']) if (process.env[k] !== undefined) env[k] = process.env[k];
  return { ...env, ...extra };
}

/** every file of the installed logship packages (the cli and its bundle), not of third-party ones */
function logshipFiles(cliDir: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (r === 'node_modules') {
        for (const b of fs.readdirSync(path.join(dir, 'node_modules/@logship'))) walk(path.join(dir, 'node_modules/@logship', b), `node_modules/@logship/${b}`);
        continue;
      }
      if (e.isDirectory()) walk(path.join(dir, e.name), r);
      else out.push(r);
    }
  };
  walk(cliDir, '');
  return out;
}

const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string; dependencies?: Record<string, string> };

describe('install', () => {
  // the installed indexer writes to a file: no Elasticsearch
  const pipe = usePipeline({ es: false });

  it('the packed tarball installs alone with npm install -g into an empty prefix; the installed logship runs --help, --version, bootstrap, ship and index', {
    timeout: 300_000,
  }, async (t) => {
    const ping = await run('npm', ['ping', '--fetch-retries=0', '--fetch-timeout=15000', '--loglevel=error'], toolEnv(), 30_000);
    if (ping.code !== 0) {
      const why = ping.stderr.split('\n').find((l) => /error/i.test(l)) ?? ping.stderr.trim();
      t.skip(`the npm registry is unreachable, so the tarball's third-party dependencies cannot install (npm ping: ${why})`);
      return;
    }
    const tmp = pipe.tmpDir(t, 'install');
    const prefix = path.join(tmp, 'prefix');
    fs.mkdirSync(prefix);
    const { n } = pipe.topology(t, 'install');
    // pack (it builds dist/ from the current sources first)
    const pack = await run(process.execPath, [path.join(ROOT, 'scripts/pack.mjs'), '--out', path.join(tmp, 'out')], toolEnv(), 120_000, '', ROOT);
    assert.equal(pack.code, 0, `pack failed:\n${pack.stdout}${pack.stderr}`);
    const tarball = pack.stdout.trim().split('\n').pop()!;
    assert.equal(path.basename(tarball), `logship-cli-${readJson(path.join(ROOT, 'package.json')).version}.tgz`);

    const install = await run(
      'npm',
      ['install', '-g', tarball, '--prefix', prefix, '--no-audit', '--no-fund', '--loglevel=error'],
      toolEnv(),
      240_000,
      '',
      tmp,
    );
    assert.equal(install.code, 0, `npm install -g failed:\n${install.stdout}${install.stderr}`);

    // the installed tree: the bundle as real directories, no sources, no tests, no build state
    const cliDir = path.join(prefix, 'lib/node_modules/@logship/cli');
    for (const b of ['common', 'shipper', 'indexer']) {
      const dir = path.join(cliDir, 'node_modules/@logship', b);
      assert.ok(fs.lstatSync(dir).isDirectory(), `@logship/${b} is bundled as a directory, not a link`);
      assert.ok(fs.existsSync(path.join(dir, 'dist/index.js')), `@logship/${b} has its dist/`);
    }
    const files = logshipFiles(cliDir);
    const unwanted = files.filter((f) => /(^|\/)(src|test)\/|\.test\.|\.tsbuildinfo$|\.map$|(?<!\.d)\.ts$/.test(f));
    assert.deepEqual(unwanted, [], 'no sources, tests, source maps or build state are installed');
    assert.ok(files.includes('bin/logship.js') && files.includes('dist/main.js'));
    // the command bundled (scripts/bundle.mjs): bin/logship.js runs it, so the runs below use it
    assert.ok(files.includes('dist/bundle/main.mjs'), 'the bundle is installed');
    assert.ok(files.filter((f) => f.startsWith('dist/bundle/chunk-')).length >= 2, 'with its chunks');

    // the third-party dependencies the cli declares are the packages' own, and they installed
    const installed = readJson(path.join(cliDir, 'package.json')).dependencies ?? {};
    for (const b of ['common', 'shipper', 'indexer']) {
      for (const [name, range] of Object.entries(readJson(path.join(ROOT, 'packages', b, 'package.json')).dependencies ?? {})) {
        assert.equal(installed[name], range, `the installed cli declares ${name} as @logship/${b} does`);
        if (!name.startsWith('@logship/')) assert.ok(fs.existsSync(path.join(cliDir, 'node_modules', name, 'package.json')), `${name} is installed`);
      }
    }

    const bin = path.join(prefix, 'bin/logship');
    const env = userEnv({ ...n.env, LOGSHIP_LOG_LEVEL: 'info' });
    const help = await run(bin, ['--help'], env, 30_000);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Usage: logship <command>/);
    const version = await run(bin, ['--version'], env, 30_000);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), `logship ${readJson(path.join(ROOT, 'packages/cli/package.json')).version}`);

    const boot = await run(bin, ['bootstrap', '--skip-elasticsearch'], env, 60_000);
    assert.equal(boot.code, 0, boot.stderr);
    assert.match(boot.stdout, new RegExp(`declared queue "${n.queue}"`));

    const lines = ['installed one', 'installed two', 'installed three'];
    const ship = await run(bin, ['ship'], env, 60_000, `${lines.join('\n')}\n`);
    assert.equal(ship.code, 0, ship.stderr);
    assert.match(ship.stderr, /read 3, published 3/);

    const out = path.join(tmp, 'events.ndjson');
    const indexer = pipe.track(t, start(bin, ['index', '--output', `file:${out}`, '--metrics-port', '0'], env), 'SIGKILL');
    const written = await waitFor(
      'the installed indexer to write the 3 events to the file',
      () => {
        if (indexer.child.exitCode !== null) throw new Error(`index exited ${indexer.child.exitCode}:\n${indexer.stderr()}`);
        const text = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
        const events = text
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { message: string });
        return events.length === 3 ? events : undefined;
      },
      60_000,
    );
    assert.deepEqual(written.map((e) => e.message).sort(), [...lines].sort());
    await waitFor('the queue to be empty (acked after writing)', async () => (await queueDepth(n.queue)).messageCount === 0);
    indexer.child.kill('SIGTERM');
    const stopped = await indexer.exited;
    assert.equal(stopped.code, 0, `index exits 0 on SIGTERM:\n${stopped.stderr}`);
  });
});
