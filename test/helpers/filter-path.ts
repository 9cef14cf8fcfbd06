/** Elasticsearch's filter_path response filtering, for the double. */

/** A compiled filter_path: which keys to keep, level by level. */
export interface PathNode {
  /** everything below is kept */
  all: boolean;
  names: Map<string, PathNode>;
  star: PathNode | null;
  /** union of a name's node and the star node, made on first use */
  merged: Map<string, PathNode>;
}

const newNode = (): PathNode => ({ all: false, names: new Map(), star: null, merged: new Map() });

/** Compiles filter_path's comma-separated dotted paths (names or `*`). */
export function compileFilterPath(filter: string): PathNode {
  const root = newNode();
  for (const path of filter.split(',')) {
    let node = root;
    for (const part of path.trim().split('.')) {
      if (part === '*') node = node.star ??= newNode();
      else {
        let next = node.names.get(part);
        if (!next) {
          next = newNode();
          node.names.set(part, next);
        }
        node = next;
      }
    }
    node.all = true;
  }
  return root;
}

function union(a: PathNode, b: PathNode): PathNode {
  const u = newNode();
  u.all = a.all || b.all;
  for (const [k, n] of a.names) u.names.set(k, n);
  for (const [k, n] of b.names) u.names.set(k, u.names.has(k) ? union(u.names.get(k)!, n) : n);
  u.star = a.star && b.star ? union(a.star, b.star) : (a.star ?? b.star ?? null);
  return u;
}

/**
 * Elasticsearch's filter_path on a response: arrays are walked through, what
 * matches no path is left out (undefined; an empty response is `{}`). `**`
 * and exclusions (`-path`) are not needed here.
 */
export function filterPath(value: unknown, node: PathNode): unknown {
  if (node.all) return value;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const v of value) {
      const f = filterPath(v, node);
      if (f !== undefined) out.push(f);
    }
    return out.length > 0 ? out : undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  let out: Record<string, unknown> | undefined;
  for (const k of Object.keys(value)) {
    const named = node.names.get(k);
    let next: PathNode | undefined = named ?? node.star ?? undefined;
    if (named && node.star) {
      next = node.merged.get(k);
      if (!next) {
        next = union(named, node.star);
        node.merged.set(k, next);
      }
    }
    if (!next) continue;
    const f = filterPath((value as Record<string, unknown>)[k], next);
    if (f === undefined) continue;
    out ??= {};
    out[k] = f;
  }
  return out;
}
