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
