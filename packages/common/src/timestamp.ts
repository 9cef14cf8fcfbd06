/**
 * The strict `@timestamp` rule of the json codec (README, "--codec json"):
 * ISO-8601 with a real calendar date, or an epoch number. `new Date(x)` is not
 * used: it turns "12" into 2001-12-01, 2026-02-30 into March 2, epoch seconds
 * into 1970, and reads a time without zone in the machine's local zone.
 */

/** Epoch numbers below this (in magnitude) are seconds, others milliseconds: 1e11 s is the year 5138, 1e11 ms is 1973. */
export const EPOCH_SECONDS_BELOW = 1e11;

// YYYY-MM-DD, then optionally THH:MM[:SS[.fraction]] and a zone (Z, +HH, +HH:MM, +HHMM); T or one space
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** ms since the epoch of a UTC date and time (Date.UTC maps years below 100 to 19xx: not used) */
function utcMs(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number {
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, ms);
  return date.getTime();
}

/** ISO form of ms since the epoch, or undefined outside the years 0000-9999 (what an index name and Elasticsearch take). */
function isoOf(ms: number): string | undefined {
  if (!Number.isFinite(ms)) return undefined;
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return undefined;
  const iso = d.toISOString();
  return iso.length === 24 && iso[0] !== '+' && iso[0] !== '-' ? iso : undefined;
}

/** An ISO-8601 string as UTC ISO with milliseconds; undefined when it is not a real date and time. A time without zone is UTC. */
export function parseIsoTimestamp(text: string): string | undefined {
  const m = ISO.exec(text);
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const h = m[4] === undefined ? 0 : Number(m[4]);
  const mi = m[5] === undefined ? 0 : Number(m[5]);
  const s = m[6] === undefined ? 0 : Number(m[6]);
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) return undefined;
  let offsetMin = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z' && zone !== 'z') {
    const digits = zone.slice(1).replace(':', '');
    const zh = Number(digits.slice(0, 2));
    const zm = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
    if (zh > 23 || zm > 59) return undefined;
    offsetMin = (zone[0] === '-' ? -1 : 1) * (zh * 60 + zm);
  }
  return isoOf(utcMs(y, mo, d, h, mi, s, ms) - offsetMin * 60_000);
}

/** An epoch number (seconds below 1e11 in magnitude, milliseconds above) as UTC ISO; undefined out of range. */
export function parseEpochTimestamp(n: number): string | undefined {
  if (!Number.isFinite(n)) return undefined;
  return isoOf(Math.abs(n) < EPOCH_SECONDS_BELOW ? Math.round(n * 1000) : Math.round(n));
}

/**
 * A `@timestamp` value of a JSON line as UTC ISO with milliseconds, or
 * undefined when it is not one: strings must be ISO-8601 with a real calendar
 * date (numeric strings are not epochs), numbers are epoch seconds or ms.
 */
export function parseEventTimestamp(value: unknown): string | undefined {
  if (typeof value === 'string') return parseIsoTimestamp(value);
  if (typeof value === 'number') return parseEpochTimestamp(value);
  return undefined;
}
