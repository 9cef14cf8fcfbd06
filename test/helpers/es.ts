/**
 * The Elasticsearch a test talks to: the double by default, or a real cluster
 * when LOGSHIP_TEST_ES_NODE is set (fault tests then skip themselves).
 */
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
