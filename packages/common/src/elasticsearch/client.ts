/** The official Elasticsearch client, configured from logship options. */
import { Client, errors } from '@elastic/elasticsearch';
import type { Config } from '../config/schema.js';
import { readTls } from '../tls.js';

export { Client, errors as esErrors };

export type EsSettings = Pick<Config, 'esNode' | 'esUsername' | 'esPassword' | 'esApiKey' | 'esTimeout'> &
  Partial<Pick<Config, 'esCa' | 'esCert' | 'esKey' | 'esCompression'>>;

export function createEsClient(s: EsSettings): Client {
  const auth = s.esApiKey ? { apiKey: s.esApiKey } : s.esUsername ? { username: s.esUsername, password: s.esPassword } : undefined;
  const tls = readTls('es', { ca: s.esCa ?? '', cert: s.esCert ?? '', key: s.esKey ?? '' });
  return new Client({
    node: s.esNode,
    ...(auth ? { auth } : {}),
    ...(tls ? { tls } : {}),
    requestTimeout: s.esTimeout,
    // logship retries itself, item by item (bulk outcome table)
    maxRetries: 0,
    // gzip request bodies (--es-compression); the default is chosen by measurement (docs/performance.md)
    compression: s.esCompression ?? false,
    name: 'logship',
  });
}

/** HTTP status of a client error, if it has one. */
export function esStatusOf(err: unknown): number | undefined {
  if (err instanceof errors.ResponseError) return err.statusCode ?? undefined;
  return undefined;
}
