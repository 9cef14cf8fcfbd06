/** Parsing of human sizes ("5mb") and durations ("1s", "250ms"). */

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1024,
  k: 1024,
  mb: 1024 ** 2,
  m: 1024 ** 2,
  gb: 1024 ** 3,
  g: 1024 ** 3,
};

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  // days, for retention (30d); m stays minutes, as in Elasticsearch
  d: 86_400_000,
};

/** basic.qos prefetch-count is a 16-bit field: no consumer can hold more deliveries unacked */
export const MAX_PREFETCH = 65_535;

/** Bytes from "5mb", "512kb", "1048576" or a number. Returns NaN when invalid. */
export function parseBytes(value: unknown): number {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : Number.NaN;
  if (typeof value !== 'string') return Number.NaN;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  if (!m) return Number.NaN;
  const unit = SIZE_UNITS[(m[2] ?? '').toLowerCase()];
  if (unit === undefined) return Number.NaN;
  return Math.floor(Number(m[1]) * unit);
}

/** Milliseconds from "1s", "250ms", "5m" (minutes), "1h", "30d" or a number of milliseconds. NaN when invalid. */
export function parseDuration(value: unknown): number {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : Number.NaN;
  if (typeof value !== 'string') return Number.NaN;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  if (!m) return Number.NaN;
  const unitName = (m[2] ?? '').toLowerCase();
  const unit = unitName === '' ? 1 : DURATION_UNITS[unitName];
  if (unit === undefined) return Number.NaN;
  return Math.round(Number(m[1]) * unit);
}

const RETENTION_UNITS: Record<string, number> = { h: 3_600_000, d: 86_400_000 };
/** The shortest --retention: a policy deleting sooner would delete indices still being written. */
export const MIN_RETENTION_MS = 3_600_000;

/**
 * Milliseconds of a --retention: "30d", "12h" or "0" (keep). A unit is required:
 * a bare 30 read as milliseconds would delete every index at once. NaN when
 * invalid or shorter than MIN_RETENTION_MS.
 */
export function parseRetention(value: unknown): number {
  if (value === 0 || (typeof value === 'string' && /^\s*0\s*$/.test(value))) return 0;
  if (typeof value !== 'string') return Number.NaN;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i.exec(value);
  const unit = m ? RETENTION_UNITS[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || unit === undefined) return Number.NaN;
  const ms = Math.round(Number(m[1]) * unit);
  return ms >= MIN_RETENTION_MS ? ms : Number.NaN;
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** An Elasticsearch duration string (30d, 12h, 90s, 250ms): the largest unit that divides the milliseconds exactly. */
export function formatEsDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.round(ms)}ms`;
}
