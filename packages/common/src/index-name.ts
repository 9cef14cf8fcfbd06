/**
 * Index names from a pattern such as "logs-%{+yyyy.MM.dd}", expanded from an
 * event's @timestamp in UTC. The expansion can only produce digits, so event
 * data never steers a document outside the configured pattern.
 */

const TOKEN = /%\{\+([^}]*)\}/g;

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

function formatDate(format: string, d: Date): string {
  return format.replace(/yyyy|yy|MM|dd|HH/g, (tok) => {
    switch (tok) {
      case 'yyyy':
        return pad(d.getUTCFullYear(), 4);
      case 'yy':
        return pad(d.getUTCFullYear() % 100);
      case 'MM':
        return pad(d.getUTCMonth() + 1);
      case 'dd':
        return pad(d.getUTCDate());
      default:
        return pad(d.getUTCHours());
    }
  });
}

export interface IndexNamer {
  /** the index for an event whose @timestamp is given in epoch milliseconds (NaN: now) */
  nameFor(timestampMs: number): string;
  /** a wildcard matching every index of the pattern, for templates and counts */
  readonly wildcard: string;
  readonly dynamic: boolean;
}

export function createIndexNamer(pattern: string): IndexNamer {
  const dynamic = TOKEN.test(pattern);
  TOKEN.lastIndex = 0;
  const wildcard = pattern.replace(TOKEN, '*').toLowerCase();
  if (!dynamic) {
    const fixed = pattern.toLowerCase();
    return { nameFor: () => fixed, wildcard, dynamic };
  }
  // one-day cache: events of a run mostly share a day
  let cachedDay = Number.NaN;
  let cachedName = '';
  const hourly = /%\{\+[^}]*HH/.test(pattern);
  return {
    wildcard,
    dynamic,
    nameFor(timestampMs: number) {
      const t = Number.isFinite(timestampMs) ? timestampMs : Date.now();
      const bucket = Math.floor(t / (hourly ? 3_600_000 : 86_400_000));
      if (bucket !== cachedDay) {
        const d = new Date(t);
        cachedName = pattern.replace(TOKEN, (_m, fmt: string) => formatDate(fmt, d)).toLowerCase();
        cachedDay = bucket;
      }
      return cachedName;
    },
  };
}

/** Elasticsearch index name rules, checked on the configured pattern. */
export function validateIndexPattern(pattern: string): string | undefined {
  const sample = createIndexNamer(pattern).nameFor(Date.UTC(2026, 0, 1));
  if (sample.length === 0) return 'is empty';
  if (/[\\/*?"<>| ,#:]/.test(sample)) return 'contains a character Elasticsearch forbids (\\ / * ? " < > | space , # :)';
  if (/^[-_+.]/.test(sample)) return 'starts with - _ + or .';
  if (Buffer.byteLength(sample) > 255) return 'is longer than 255 bytes';
  return undefined;
}
