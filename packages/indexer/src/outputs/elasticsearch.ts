/** Writes batches to Elasticsearch with the official client's _bulk. */
import { errorMessage } from '@logship/common';
import { esStatusOf, type Client } from '@logship/common/elasticsearch';
import type { Document } from '../decode.js';
import { buildBulkBody, classifyResponse } from './bulk.js';
import type { ItemOutcome, Output } from './output.js';

export class ElasticsearchOutput implements Output {
  readonly name = 'elasticsearch';
  private ok = true;

  constructor(private readonly client: Client) {}

  get reachable(): boolean {
    return this.ok;
  }

  async write(docs: readonly Document[]): Promise<ItemOutcome[]> {
    let response: { errors?: boolean; items?: Array<Record<string, { status?: number }>> };
    try {
      response = (await this.client.transport.request(
        {
          method: 'POST',
          path: '/_bulk',
          bulkBody: buildBulkBody(docs),
          querystring: { filter_path: 'errors,items.*.status,items.*.error' },
        },
        { meta: false },
      )) as typeof response;
    } catch (err) {
      // the whole request failed (connection, timeout, 429/5xx, auth): nothing
      // was written for sure, so every item is retried; nothing is dead-lettered
      this.ok = false;
      const status = esStatusOf(err);
      const reason = status ? `bulk request failed with HTTP ${status}: ${errorMessage(err)}` : `bulk request failed: ${errorMessage(err)}`;
      return docs.map(() => ({ kind: 'retry' as const, status, reason }));
    }
    this.ok = true;
    return classifyResponse(docs, response);
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
