#!/usr/bin/env -S node --max-semi-space-size=8 --no-parallel-scavenge
// The logship command. This file is the node process itself (env -S execs node
// in place, same pid), so signals sent to its pid reach the handlers in dist/.
// A young generation of 8 MB (V8 default 16 MB) keeps the resident memory of
// long shipping and indexing runs about 20 MB lower for a few percent of speed
// (4 MB saved 8 MB more, but the indexer spent about 6 % more CPU in the GC).
// Its collections copy well under 1 MB each: on one thread they cost the
// indexer about a quarter less CPU than spread over helper threads, which on a
// host shared with the broker wait for a core (docs/performance.md).
//
// It runs dist/bundle/main.mjs, the command bundled into a few files
// (scripts/bundle.mjs, made by `npm run build`), which starts about 0.2 s sooner
// than the modules of dist/; without it (a build by `tsc --build` alone),
// dist/main.js.
//
// The tests run the sources instead of dist/: they set LOGSHIP_TEST_FROM_SOURCE=1
// and NODE_OPTIONS="--import tsx --conditions=logship-source" (test/helpers/cli.ts).
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/bundle/main.mjs', import.meta.url);
const entry = process.env.LOGSHIP_TEST_FROM_SOURCE === '1' ? '../src/main.ts' : existsSync(bundle) ? bundle.href : '../dist/main.js';
const { run } = await import(entry);
run(process.argv.slice(2));
