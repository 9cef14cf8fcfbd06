/** Index patterns, the seeded fault dice and the small query language of the Elasticsearch double. */
import type { StoredDoc } from './es-double.js';

export function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

export function wildcardToRegex(pattern: string): RegExp {
  const parts = pattern.split(',').map((p) =>
    p
      .trim()
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*'),
  );
  return new RegExp(`^(?:${parts.join('|')})$`);
}

function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

export function matches(doc: StoredDoc, query: unknown): boolean {
  if (!query || typeof query !== 'object') return true;
  const q = query as Record<string, Record<string, unknown>>;
  if (q.match_all) return true;
  if (q.term) {
    const [field, raw] = Object.entries(q.term)[0] ?? [];
    const value = raw && typeof raw === 'object' && 'value' in raw ? (raw as { value: unknown }).value : raw;
    const got = getPath(doc.source, field!);
    return Array.isArray(got) ? got.includes(value) : got === value;
  }
  if (q.ids) return ((q.ids as { values: string[] }).values ?? []).includes(doc.id);
  return true;
}
