/**
 * The rows of a bench run: the scale, recording a row (printed as it comes),
 * and the summary (the table, the notes and a JSON file under bench/).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, table, type Row } from './lib.js';

/** BENCH_SCALE multiplies the events of every row (0.1: a quick run) */
export const SCALE = Number(process.env.BENCH_SCALE ?? 1);
export const scaled = (n: number) => Math.max(1000, Math.round(n * SCALE));

export const rows: Row[] = [];

/**
 * BENCH_ROUNDS: how many alternating rounds a ratio row runs (default 5).
 * One run of each side moves with this shared host by about 15 %, more
 * than logship and the simplest indexer differ at +0 ms: a single pair
 * decides by chance, and the median of three moved by up to 0.1 from run
 * to run of the same build (docs/performance.md).
 */
export function roundsWanted(fallback = 5): number {
  const n = Number(process.env.BENCH_ROUNDS ?? fallback);
  if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_ROUNDS must be a whole number of 1 or more (got "${process.env.BENCH_ROUNDS}")`);
  return n;
}

export interface Round {
  base: Row;
  logship: Row;
}

/**
 * A ratio row in alternating rounds: the baseline and logship take turns
 * going first (a host that drifts favours neither), each on fresh input
 * that `baseline` and `logship` prepare themselves. logship's rows get
 * their round's ratio. Returns the round whose ratio is the median (the
 * lower one of an even count) to stand for the row, and every round in
 * the order run, for its note. Each round is reported to `log` as it ends.
 */
export async function alternatingRounds(
  count: number,
  baseline: () => Promise<Row>,
  logship: () => Promise<Row>,
  log: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<{ median: Round; rounds: Round[] }> {
  const done: Round[] = [];
  for (let i = 0; i < count; i++) {
    const logshipFirst = i % 2 === 1;
    const first = await (logshipFirst ? logship() : baseline());
    const second = await (logshipFirst ? baseline() : logship());
    const [base, ours] = logshipFirst ? [second, first] : [first, second];
    ours.ratio = ratioOf(ours, base);
    done.push({ base, logship: ours });
    log(
      `    round ${i + 1} of ${count}${logshipFirst ? ', logship first' : ''}: baseline ${base.eventsPerSecond}, logship ${ours.eventsPerSecond} events/s, ratio ${(ours.ratio ?? 0).toFixed(2)}`,
    );
  }
  const byRatio = [...done].sort((a, b) => (a.logship.ratio ?? 0) - (b.logship.ratio ?? 0));
  return { median: byRatio[Math.floor((byRatio.length - 1) / 2)]!, rounds: done };
}

/**
 * For a row against an absolute target (events/s, peak RSS): the run of
 * median rate among one side's runs (the lower middle one of an even
 * count), with the highest peak RSS of any of them.
 */
export function medianRun(runs: readonly Row[]): Row {
  const byRate = [...runs].sort((a, b) => a.eventsPerSecond - b.eventsPerSecond);
  return { ...byRate[Math.floor((byRate.length - 1) / 2)]!, peakRssMb: Math.max(...runs.map((x) => x.peakRssMb)) };
}

/** the note of a row measured in rounds: every round's events/s and ratio, so that the median can be checked */
export function roundsNote(rounds: Round[]): string {
  const each = rounds.map((r) => `${r.base.eventsPerSecond} / ${r.logship.eventsPerSecond} (${(r.logship.ratio ?? 0).toFixed(2)})`).join(', ');
  return `${rounds.length === 1 ? 'one round' : `median of ${rounds.length} alternating rounds`}, baseline / logship events/s (ratio): ${each}`;
}

export function record(r: Row, target?: { text: string; pass: boolean }, note?: string): Row {
  if (target) {
    r.target = target.text;
    r.pass = target.pass;
  }
  if (note) r.note = note;
  rows.push(r);
  process.stdout.write(`${table([r]).split('\n').pop()}\n`);
  if (note) process.stdout.write(`    note: ${note}\n`);
  return r;
}

/** r's events/s over of's, to two decimals */
export function ratioOf(r: Row, of: Row): number {
  return Math.round((r.eventsPerSecond / of.eventsPerSecond) * 100) / 100;
}

/** the table's head, printed before the first row */
export function printTableHead(): void {
  process.stdout.write(`${table([]).split('\n').slice(0, 2).join('\n')}\n`);
}

/** Prints the table of every row and their notes, and writes them to bench/<fileName>. */
export function finish(fileName: string): void {
  process.stdout.write(`\n${table(rows)}\n`);
  for (const r of rows) if (r.note) process.stdout.write(`${r.benchmark}, ${r.variant}: ${r.note}\n`);
  const file = path.join(ROOT, 'bench', fileName);
  fs.writeFileSync(file, `${JSON.stringify({ at: new Date().toISOString(), scale: SCALE, cpus: os.cpus().length, node: process.version, rows }, null, 2)}\n`);
  process.stdout.write(`results written to ${path.relative(ROOT, file)}\n`);
}
