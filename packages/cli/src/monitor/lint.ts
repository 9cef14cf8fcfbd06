/**
 * The checks `promtool check metrics` makes on each family (Prometheus'
 * promlint), so the monitor can re-expose what its targets export and still
 * pass them: what can be fixed without losing data is fixed (a HELP text, a
 * TYPE that contradicts the name becomes untyped), the rest is reported so the
 * family can be left out.
 */
import type { Family } from './exposition.js';

const BASE_UNITS: Record<string, string> = {
  amperes: 'amperes',
  bytes: 'bytes',
  celsius: 'celsius',
  grams: 'grams',
  joules: 'joules',
  kelvin: 'kelvin',
  meters: 'meters',
  metres: 'metres',
  seconds: 'seconds',
  volts: 'volts',
  minutes: 'seconds',
  hours: 'seconds',
  days: 'seconds',
  weeks: 'seconds',
  kelvins: 'kelvin',
  fahrenheit: 'celsius',
  rankine: 'celsius',
  inches: 'meters',
  yards: 'meters',
  miles: 'meters',
  bits: 'bytes',
  calories: 'joules',
  pounds: 'grams',
  ounces: 'grams',
};
const UNIT_PREFIXES = [
  '',
  'pico',
  'nano',
  'micro',
  'milli',
  'centi',
  'deci',
  'deca',
  'hecto',
  'kilo',
  'kibi',
  'mega',
  'mibi',
  'giga',
  'gibi',
  'tera',
  'tebi',
  'peta',
  'pebi',
];
const UNIT_ABBREVIATIONS = ['s', 'ms', 'us', 'ns', 'sec', 'b', 'kb', 'mb', 'gb', 'tb', 'pb', 'm', 'h', 'd'];
const TYPE_NAMES = ['counter', 'gauge', 'summary', 'histogram', 'gauge_histogram'];
const CAMEL = /[a-z][A-Z]/;

function hasWord(lowerName: string, word: string): boolean {
  return lowerName.includes(`_${word}_`) || lowerName.endsWith(`_${word}`);
}

/** A problem of the name itself (renaming would change the series users query): the family is left out. */
function nameProblem(f: Family): string | null {
  const n = f.name;
  const lower = n.toLowerCase();
  if (n.includes(':')) return 'metric names should not contain ":"';
  if (CAMEL.test(n)) return 'metric names should be snake_case';
  for (const s of f.samples) for (const l of Object.keys(s.labels)) if (CAMEL.test(l)) return `label name "${l}" should be snake_case`;
  for (const word of n.split('_')) {
    for (const [unit, base] of Object.entries(BASE_UNITS)) {
      if (unit !== base && UNIT_PREFIXES.some((p) => word === p + unit)) return `use base unit "${base}" instead of "${word}"`;
      if (unit === base && UNIT_PREFIXES.some((p) => p !== '' && word === p + unit)) return `use base unit "${base}" instead of "${word}"`;
    }
  }
  for (const a of UNIT_ABBREVIATIONS) if (hasWord(lower, a)) return 'metric names should not contain abbreviated units';
  for (const t of TYPE_NAMES) if (hasWord(lower, t)) return `metric name should not include type "${t}"`;
  return null;
}

/**
 * The family as promtool accepts it, or the reason it cannot be (then it is
 * left out). Never changes names, labels or values.
 */
export function lintClean(f: Family): Family | string {
  const problem = nameProblem(f);
  if (problem) return `${f.name}: ${problem}`;
  let type = f.type;
  const n = f.name;
  const labels = new Set(f.samples.flatMap((s) => Object.keys(s.labels)));
  const scalar = type === 'counter' || type === 'gauge' || type === 'untyped';
  if (type === 'counter' && !n.endsWith('_total')) type = 'untyped';
  if (type === 'gauge' && n.endsWith('_total')) type = 'untyped';
  // suffixes and labels reserved to histograms and summaries: the rules do not apply to untyped
  if (scalar && (/_(bucket|count|sum)$/.test(n) || labels.has('le') || labels.has('quantile'))) type = 'untyped';
  if (type === 'histogram' && (n.endsWith('_total') || labels.has('quantile'))) return `${n}: a histogram named like a counter or with a "quantile" label`;
  if (type === 'summary' && (n.endsWith('_total') || n.endsWith('_bucket') || labels.has('le')))
    return `${n}: a summary named like a counter or with an "le" label`;
  if (type !== 'counter' && type !== 'gauge' && type !== 'untyped' && type !== 'histogram' && type !== 'summary') type = 'untyped';
  const help = f.help.trim() === '' ? `${n} (re-exposed from a target that gave no HELP)` : f.help;
  return type === f.type && help === f.help ? f : { ...f, type, help };
}
