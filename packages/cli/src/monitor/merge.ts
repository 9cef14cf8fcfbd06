/**
 * Merges the families of every target into one exposition that Prometheus
 * (and `promtool check metrics`) accepts whatever the targets export:
 *  - one family per name, one HELP and TYPE line each;
 *  - a target family that collides with one of the monitor's own (up,
 *    logship_queue_*, logship_cluster_*...) is renamed exported_<name>, as
 *    Prometheus does with labels under honor_labels: false;
 *  - the same name with different types on two targets: counters, gauges and
 *    untyped merge as untyped; anything else keeps the first and leaves the
 *    other out;
 *  - families promtool would reject for their names are left out;
 * and counts what was left out, per instance and reason.
 */
import type { Family, Sample } from './exposition.js';
import { lintClean } from './lint.js';

export type DropReason = 'name_conflict' | 'type_conflict' | 'lint';

export interface MergeInput {
  instance: string;
  families: Family[];
}

export interface MergeResult {
  families: Map<string, Family>;
  dropped: Array<{ instance: string; reason: DropReason; family: string; why: string }>;
}

const SCALAR = new Set(['counter', 'gauge', 'untyped']);

/** The sample names a family owns in the text format (a histogram owns name_bucket, name_sum, name_count). */
export function seriesNames(name: string, type: string): string[] {
  if (type === 'histogram') return [name, `${name}_bucket`, `${name}_sum`, `${name}_count`];
  if (type === 'summary') return [name, `${name}_sum`, `${name}_count`];
  return [name];
}

/**
 * Samples the text format would not read as part of their family (a scalar
 * family's `x_created`, a histogram's stray sample) become families of
 * their own, untyped, so no sample starts an implicit family without HELP.
 */
function splitStray(f: Family): Family[] {
  const own =
    f.type === 'histogram'
      ? new Set([`${f.name}_bucket`, `${f.name}_sum`, `${f.name}_count`])
      : f.type === 'summary'
        ? new Set([f.name, `${f.name}_sum`, `${f.name}_count`])
        : new Set([f.name]);
  const keep: Sample[] = [];
  const stray = new Map<string, Family>();
  for (const s of f.samples) {
    if (own.has(s.name)) {
      keep.push(s);
      continue;
    }
    let g = stray.get(s.name);
    if (!g) {
      g = { name: s.name, help: f.help, type: 'untyped', samples: [] };
      stray.set(s.name, g);
    }
    g.samples.push(s);
  }
  return [{ ...f, samples: keep }, ...stray.values()];
}

function withInstance(s: Sample, instance: string, rename: boolean): Sample {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.labels)) labels[k === 'instance' ? 'exported_instance' : k] = v;
  return { name: rename ? `exported_${s.name}` : s.name, labels: { instance, ...labels }, value: s.value };
}

/**
 * @param reserved sample names of the monitor's own families
 * @param reservedPrefixes name prefixes kept for the monitor's own families
 */
export function mergeTargets(inputs: MergeInput[], reserved: Set<string>, reservedPrefixes: string[]): MergeResult {
  const families = new Map<string, Family>();
  /** sample name -> family name that owns it */
  const owner = new Map<string, string>();
  const dropped: MergeResult['dropped'] = [];
  const isReserved = (f: Family) => seriesNames(f.name, f.type).some((n) => reserved.has(n) || reservedPrefixes.some((p) => n.startsWith(p)));

  for (const { instance, families: fams } of inputs) {
    for (const raw of fams.flatMap(splitStray)) {
      if (raw.samples.length === 0) continue;
      const clean = lintClean(raw);
      if (typeof clean === 'string') {
        dropped.push({ instance, reason: 'lint', family: raw.name, why: clean });
        continue;
      }
      const rename = isReserved(clean);
      const name = rename ? `exported_${clean.name}` : clean.name;
      const names = seriesNames(name, clean.type);
      const existing = families.get(name);
      const retype = existing !== undefined && existing.type !== clean.type;
      if (retype && !(SCALAR.has(existing.type) && SCALAR.has(clean.type))) {
        dropped.push({ instance, reason: 'type_conflict', family: name, why: `${name} is a ${existing.type} on another target, a ${clean.type} here` });
        continue;
      }
      // a sample name another family owns (e.g. a gauge h_count next to a histogram h)
      const taken = names.find((n) => {
        const o = owner.get(n);
        return (o !== undefined && o !== name) || reserved.has(n) || (n !== name && families.has(n));
      });
      if (taken !== undefined) {
        dropped.push({ instance, reason: 'name_conflict', family: name, why: `${taken} is already exported by another family` });
        continue;
      }
      // only a family that is kept changes the type of the merged one
      if (existing && retype) existing.type = 'untyped';
      let m = existing;
      if (!m) {
        m = { name, help: clean.help, type: clean.type, samples: [] };
        families.set(name, m);
      }
      for (const n of names) owner.set(n, name);
      for (const s of clean.samples) m.samples.push(withInstance(s, instance, rename));
    }
  }
  return { families, dropped };
}
