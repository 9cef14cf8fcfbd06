#!/usr/bin/env node
// Bundles the built command (packages/cli/dist/main.js and everything it imports, the
// third-party packages included) into packages/cli/dist/bundle/: main.mjs and a few chunks,
// one per command and one per part they share, so a command still loads only what it runs
// (`ship` never loads the Elasticsearch client). bin/logship.js runs it when it is there.
// Run by `npm run build` after `tsc --build`.
//
// Why: Node resolves, reads and compiles every module file at start. logship index loads
// more than 600 of them (the official Elasticsearch client alone takes about 200 ms) and
// took about 530 ms from spawn to its first document stored; from the bundle it takes about
// 310 ms (docs/performance.md). Every command starts sooner the same way.
//
// What the bundle must keep: each package reads its own package.json for its version
// (createRequire(import.meta.url)('../package.json')); from the bundle that path would name
// the cli's package.json, so the plugin below writes each package's version in at build time.
// Everything else is plain ES modules and CommonJS that esbuild bundles as they are.
//
//   node scripts/bundle.mjs        (exit 0 ok, 1 failure)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGE_JSON = "createRequire(import.meta.url)('../package.json')";

/** Replaces each package's read of its own package.json with the file's content. */
const ownPackageJson = {
  name: 'own-package-json',
  setup(b) {
    b.onLoad({ filter: /[\\/]packages[\\/][a-z]+[\\/]dist[\\/].*\.js$/ }, (args) => {
      const text = fs.readFileSync(args.path, 'utf8');
      if (!text.includes(PACKAGE_JSON)) return undefined;
      const manifest = path.join(path.dirname(args.path), '..', 'package.json');
      const { version } = JSON.parse(fs.readFileSync(manifest, 'utf8'));
      return { contents: text.replaceAll(PACKAGE_JSON, JSON.stringify({ version })), loader: 'js' };
    });
  },
};

/**
 * The official client requires apache-arrow (0.7 MB of the client's chunk) for its ES|QL
 * helpers that answer in Arrow (toArrowTable, toArrowReader) and reads it only when one of
 * them runs. logship never calls them: the bundle holds scripts/left-out/apache-arrow.cjs
 * instead, which throws, naming what is missing, if anything reads it. The indexer compiles
 * and runs 0.7 MB less at start (docs/performance.md).
 */
const leaveOutArrow = {
  name: 'leave-out-apache-arrow',
  setup(b) {
    b.onResolve({ filter: /^apache-arrow(\/|$)/ }, () => ({ path: path.join(root, 'scripts/left-out/apache-arrow.cjs') }));
  },
};

const entry = path.join(root, 'packages/cli/dist/main.js');
const outdir = path.join(root, 'packages/cli/dist/bundle');
try {
  if (!fs.existsSync(entry)) throw new Error(`${entry} does not exist: run tsc --build first`);
  // chunk names change with their content: no chunk of an earlier build may stay behind
  fs.rmSync(outdir, { recursive: true, force: true });
  await build({
    entryPoints: [entry],
    outdir,
    // each command stays a chunk of its own, loaded when it runs (main.ts imports them lazily):
    // `ship` never loads the Elasticsearch client, and memory stays what the modules used
    splitting: true,
    chunkNames: 'chunk-[hash]',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // CommonJS packages inside an ES module bundle call require() for Node's own modules
    banner: { js: "import { createRequire as __logshipRequire } from 'node:module'; const require = __logshipRequire(import.meta.url);" },
    plugins: [ownPackageJson, leaveOutArrow],
    logLevel: 'warning',
  });
  // a read of '../package.json' left in the bundle would name the cli's manifest for every package
  for (const file of fs.readdirSync(outdir)) {
    if (/['"]\.\.\/package\.json['"]/.test(fs.readFileSync(path.join(outdir, file), 'utf8'))) {
      throw new Error(`${file} still reads '../package.json': write it as ${PACKAGE_JSON} so the plugin can replace it`);
    }
  }
} catch (err) {
  process.stderr.write(`bundle: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
