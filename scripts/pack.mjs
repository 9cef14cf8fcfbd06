#!/usr/bin/env node
// Packs the `logship` command into ONE installable tarball, logship-cli-<version>.tgz:
// @logship/cli with @logship/common, @logship/shipper and @logship/indexer bundled in it
// (bundleDependencies), the third-party dependencies declared so that npm installs them
// from the registry next to the bundle:
//
//   node scripts/pack.mjs [--out DIR] [--no-build]     (or: npm run pack:cli)
//   npm install -g ./logship-cli-0.1.0.tgz
//
// Why a script and not `npm pack --workspace packages/cli`: in the work tree the three
// packages are workspace symlinks hoisted to the root node_modules, and npm does not bundle
// links (the tarball would hold the cli alone and fail to install). So the package is
// assembled in a temporary directory, with real copies of the three packages in its
// node_modules, and packed from there. The work tree is never changed: tests that run
// concurrently keep resolving @logship/* to the workspace sources.
//
// Versions live in one place: the third-party dependencies of the packed cli are the union of
// the bundled packages' own (a name required with two different ranges is an error; see
// bundledManifest for why they move to the cli), and every package must have the root
// package's version.
//
// Prints the tarball's absolute path on stdout. Exit 0 ok, 1 failure, 2 bad usage.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUNDLED = ['common', 'shipper', 'indexer'];

class PackError extends Error {}

function parseArgs(argv) {
  const opts = { out: process.cwd(), build: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--no-build') opts.build = false;
    else if (a === '--out' && argv[i + 1]) opts.out = path.resolve(argv[++i]);
    else if (a.startsWith('--out=')) opts.out = path.resolve(a.slice('--out='.length));
    else {
      process.stderr.write(`pack: unknown argument "${a}"\nusage: node scripts/pack.mjs [--out DIR] [--no-build]\n`);
      process.exit(2);
    }
  }
  return opts;
}

const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw new PackError(`could not run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new PackError(`${cmd} ${args.join(' ')} failed (exit ${r.status}) in ${cwd}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** the packed cli's manifest: bundleDependencies and the union of the bundled packages' dependencies */
export function packedManifest(rootPkg, cli, libs) {
  const problems = [];
  for (const p of [cli, ...libs]) {
    if (p.version !== rootPkg.version) problems.push(`${p.name} has version ${p.version}, the repository ${rootPkg.version}: keep all versions equal`);
  }
  const bundled = libs.map((p) => p.name);
  const deps = {};
  const from = {};
  for (const p of [cli, ...libs]) {
    for (const [name, range] of Object.entries(p.dependencies ?? {})) {
      if (bundled.includes(name)) {
        if (range !== rootPkg.version) problems.push(`${p.name} depends on ${name}@${range}, not on the version ${rootPkg.version} it is bundled with`);
        continue;
      }
      if (deps[name] !== undefined && deps[name] !== range) {
        problems.push(`${name} is required as ${deps[name]} by ${from[name]} and as ${range} by ${p.name}: use one range`);
        continue;
      }
      deps[name] = range;
      from[name] = p.name;
    }
  }
  for (const name of bundled) if (!cli.dependencies?.[name]) problems.push(`${cli.name} does not depend on ${name}`);
  if (problems.length > 0) throw new PackError(`cannot pack:\n  ${problems.join('\n  ')}`);
  const { scripts: _s, devDependencies: _d, ...rest } = cli;
  const sorted = Object.fromEntries(Object.entries(deps).sort(([a], [b]) => a.localeCompare(b)));
  return {
    ...rest,
    license: cli.license ?? rootPkg.license,
    dependencies: { ...Object.fromEntries(bundled.map((n) => [n, rootPkg.version])), ...sorted },
    bundleDependencies: bundled,
  };
}

/**
 * A bundled package's manifest, without its third-party dependencies (the packed cli declares
 * them). npm counts every dependency of a bundled package as part of the bundle (arborist's
 * Node#getBundler), even one the bundler itself declares, so it would expect pino & co. inside
 * the tarball, fetch nothing and leave their directories empty. Declared by the cli alone, they
 * install from the registry into the cli's node_modules, where the bundled packages find them.
 */
export function bundledManifest(lib, libs) {
  const names = libs.map((p) => p.name);
  const dependencies = Object.fromEntries(Object.entries(lib.dependencies ?? {}).filter(([name]) => names.includes(name)));
  const { scripts: _s, devDependencies: _d, ...rest } = lib;
  return { ...rest, dependencies };
}

/**
 * Copies dist/, leaving out files whose source is gone: tsc --build never deletes the output
 * of a renamed or removed source file, and such stale code must not ship. `built` names the
 * folders of dist/ that come from another step (the cli's bundle, scripts/bundle.mjs), copied whole.
 */
function copyDist(pkgDir, dest, built = []) {
  const src = path.join(pkgDir, 'src');
  const dist = path.join(pkgDir, 'dist');
  if (!fs.existsSync(dist)) throw new PackError(`${dist} does not exist: build first (npm run build)`);
  for (const entry of fs.readdirSync(dist, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const rel = path.relative(dist, file);
    const base = rel.replace(/(\.d)?\.(js|ts)(\.map)?$/, '');
    if (!built.some((dir) => rel.startsWith(`${dir}${path.sep}`)) && !fs.existsSync(path.join(src, `${base}.ts`))) continue;
    fs.mkdirSync(path.join(dest, 'dist', path.dirname(rel)), { recursive: true });
    fs.copyFileSync(file, path.join(dest, 'dist', rel));
  }
}

function pack(opts) {
  if (opts.build) {
    run(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '--build'], root);
    run(process.execPath, [path.join(root, 'scripts/bundle.mjs')], root);
  }
  const rootPkg = readJson(path.join(root, 'package.json'));
  const cliDir = path.join(root, 'packages/cli');
  const cli = readJson(path.join(cliDir, 'package.json'));
  const libs = BUNDLED.map((n) => readJson(path.join(root, 'packages', n, 'package.json')));
  const manifest = packedManifest(rootPkg, cli, libs);

  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'logship-pack-'));
  try {
    const dir = path.join(stage, 'cli');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    fs.cpSync(path.join(cliDir, 'bin'), path.join(dir, 'bin'), { recursive: true });
    // the bundle carries the third-party code too; the installed dependencies serve dist/main.js
    copyDist(cliDir, dir, ['bundle']);
    for (const f of ['README.md', 'LICENSE']) if (fs.existsSync(path.join(root, f))) fs.copyFileSync(path.join(root, f), path.join(dir, f));
    for (const [i, n] of BUNDLED.entries()) {
      const dest = path.join(dir, 'node_modules', libs[i].name);
      fs.mkdirSync(dest, { recursive: true });
      fs.writeFileSync(path.join(dest, 'package.json'), `${JSON.stringify(bundledManifest(libs[i], libs), null, 2)}\n`);
      copyDist(path.join(root, 'packages', n), dest);
    }
    fs.mkdirSync(opts.out, { recursive: true });
    // each package's own "files" field picks what goes in (dist without source maps, no src)
    const out = run('npm', ['pack', '--json', '--loglevel=error', '--pack-destination', opts.out], dir);
    const [result] = JSON.parse(out.slice(out.indexOf('[')));
    const files = result.files.map((f) => f.path);
    const missing = libs.map((p) => p.name).filter((n) => !result.bundled.includes(n));
    const unwanted = files.filter((f) => /(^|\/)(src|test)\/|\.tsbuildinfo$|\.test\.|\.map$/.test(f));
    if (missing.length > 0) throw new PackError(`the tarball does not bundle ${missing.join(', ')}`);
    if (unwanted.length > 0) throw new PackError(`the tarball holds files it must not: ${unwanted.join(', ')}`);
    return path.join(opts.out, result.filename);
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(`${pack(parseArgs(process.argv.slice(2)))}\n`);
  } catch (err) {
    process.stderr.write(`${err instanceof PackError ? err.message : (err?.stack ?? String(err))}\n`);
    process.exit(1);
  }
}
