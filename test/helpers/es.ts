/**
 * The Elasticsearch a test talks to: the double by default, or a real cluster
 * when LOGSHIP_TEST_ES_NODE is set (fault tests then skip themselves).
 */
import { after, before } from 'node:test';
import { Client } from '@elastic/elasticsearch';
import { EsDouble } from './es-double.js';

export interface EsTarget {
  url: string;
  /** present only with the double: fault switches and request records */
  double: EsDouble | undefined;
  refresh(pattern: string): Promise<void>;
  count(pattern: string): Promise<number>;
  /** every document source of the pattern, with its _id */
  all(pattern: string): Promise<Array<{ id: string; source: Record<string, unknown> }>>;
  close(): Promise<void>;
}

export const REAL_ES = process.env.LOGSHIP_TEST_ES_NODE;

export async function startEs(): Promise<EsTarget> {
  let double: EsDouble | undefined;
  let url: string;
  if (REAL_ES) url = REAL_ES;
  else {
    double = new EsDouble();
    url = await double.start();
  }
  const client = new Client({ node: url, maxRetries: 0 });
  const target: EsTarget = {
    url,
    double,
    async refresh(pattern) {
      await client.indices.refresh({ index: pattern, ignore_unavailable: true, allow_no_indices: true });
    },
    async count(pattern) {
      await target.refresh(pattern);
      const r = await client.count({ index: pattern, ignore_unavailable: true, allow_no_indices: true });
      return r.count;
    },
    async all(pattern) {
      await target.refresh(pattern);
      const out: Array<{ id: string; source: Record<string, unknown> }> = [];
      if (double) return double.docs(pattern).map((d) => ({ id: d.id, source: d.source }));
      let after: unknown[] | undefined;
      for (;;) {
        const r = await client.search<Record<string, unknown>>({
          index: pattern,
          size: 5000,
          sort: ['_doc'],
          ...(after ? { search_after: after as never } : {}),
        });
        const hits = r.hits.hits;
        for (const h of hits) out.push({ id: h._id!, source: h._source! });
        if (hits.length < 5000) return out;
        after = hits[hits.length - 1]!.sort;
      }
    },
    async close() {
      await client.close();
      await double?.stop();
    },
  };
  return target;
}

/**
 * The double as a stand-in for a cluster on other machines (benchmarks):
 * ids are checked, sources neither parsed nor kept, no bulk records.
 */
export async function startLeanDouble(port = 0): Promise<EsDouble> {
  const double = new EsDouble();
  double.keepSources = false;
  double.parseSources = false;
  double.keepBulkRecords = false;
  await double.start(port);
  return double;
}

/**
 * An Elasticsearch double and the official client on it (no retries) for a
 * describe block: started in its before hook, closed in its after hook. The
 * client may be taken at once (`const { es, client } = useEsDouble()`): it
 * forwards to the one made in the before hook.
 */
export function useEsDouble(): { es: EsDouble; client: Client } {
  const es = new EsDouble();
  let real: Client | undefined;
  before(async () => {
    real = new Client({ node: await es.start(), maxRetries: 0 });
  });
  after(async () => {
    await real?.close();
    await es.stop();
  });
  const started = (): Client => {
    if (!real) throw new Error('useEsDouble: the client is made in the before hook of the describe block: use it inside tests');
    return real;
  };
  const client = new Proxy({} as Client, {
    get(_, key) {
      const value: unknown = Reflect.get(started(), key);
      return typeof value === 'function' ? value.bind(started()) : value;
    },
  });
  return { es, client };
}
