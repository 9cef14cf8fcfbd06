#!/usr/bin/env -S node --max-semi-space-size=4
// The logship command. This file is the node process itself (env -S execs node
// in place, same pid), so signals sent to its pid reach the handlers in dist/.
// A young generation of 4 MB (V8 default 16 MB) keeps the resident memory of
// long shipping and indexing runs about 25 MB lower for a few percent of speed.
//
// The tests run the sources instead of dist/: they set LOGSHIP_TEST_FROM_SOURCE=1
// and NODE_OPTIONS="--import tsx --conditions=logship-source" (test/helpers/cli.ts).
const entry = process.env.LOGSHIP_TEST_FROM_SOURCE === '1' ? '../src/main.ts' : '../dist/main.js';
const { run } = await import(entry);
run(process.argv.slice(2));
