/**
 * `npm run bench`: each benchmark runs its baseline and logship one after the
 * other, on the same broker and the same generated lines, and prints a row:
 * events, seconds, events/s, ratio to baseline, peak RSS. The table goes to
 * stdout and bench/results.json. BENCH_SCALE=0.1 makes a quick run;
 * `npm run bench -- ship-batched latency` runs only those. The rows whose
 * target is a ratio run alternating rounds of the baseline and logship, the
 * median round standing for the row (bench/report.ts); the index 100
 * events/message row runs them too, each side's median rate standing for it.
 * BENCH_ROUNDS=3 runs three instead of five.
 *
 * The rows are in bench/rows/, the steps they share in bench/steps.ts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { ROOT } from './lib.js';
import { SCALE, finish, printTableHead } from './report.js';
import { benchCompression, benchIndexBatched, benchIndexSingle, benchScaling } from './rows/indexing.js';
import { benchLatency, benchMemory } from './rows/memory.js';
import { benchShipBatched, benchShipProperties, benchShipSingle } from './rows/ship.js';
import { TMP } from './steps.js';

const BENCHES: Record<string, () => Promise<void>> = {
  'ship-single': benchShipSingle,
  'ship-batched': benchShipBatched,
  'ship-properties': benchShipProperties,
  'index-single': () => benchIndexSingle(0),
  'index-single-30ms': () => benchIndexSingle(30),
  'index-batched': benchIndexBatched,
  compression: benchCompression,
  memory: benchMemory,
  latency: benchLatency,
  scaling: benchScaling,
};

/** run only when named: measurements for a decision, not part of the table */
const ON_REQUEST = new Set(['ship-properties', 'compression']);
const wanted = process.argv.slice(2);
for (const w of wanted) if (!(w in BENCHES)) throw new Error(`unknown benchmark ${w}; choose from ${Object.keys(BENCHES).join(', ')}`);
// the rows run the built command (dist/ and its bundle, scripts/bundle.mjs): build it from the sources first
execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
process.stdout.write(
  `logship benchmarks (scale ${SCALE}) on ${os.cpus().length} cores, ${Math.round(os.totalmem() / 1024 ** 3)} GiB, node ${process.version}\n`,
);
printTableHead();
try {
  for (const [name, bench] of Object.entries(BENCHES)) {
    if (wanted.length > 0 ? !wanted.includes(name) : ON_REQUEST.has(name)) continue;
    await bench();
  }
} finally {
  fs.rmSync(TMP, { recursive: true, force: true });
}
finish('results.json');
