/**
 * Writes batches to Elasticsearch with the official client's _bulk. The
 * indexer imports this module (and with it the client) dynamically, while it
 * connects to the broker: see loadElasticsearch and createOutput in ../indexer.ts.
 */
import { errorMessage, type Config, type Logger } from '@logship/common';
import { createEsClient, esNodeStates, esStatusOf, logEsNodeChanges, type Client, type EsNodeState } from '@logship/common/elasticsearch';
import type { Document } from '../decode/decode.js';
import { buildBulkBody, classifyResponse } from './bulk.js';
import type { ItemOutcome, Output } from './output.js';

type BulkResponse = { errors?: boolean; items?: Array<Record<string, { status?: number }>> };

/**
 * What a single event answered 413 is dead-lettered with: Elasticsearch
 * refuses any request body over http.max_content_length (100mb by default)
 * with an empty 413, so this event can never be written as it is.
 */
function tooLargeOutcome(bodyBytes: number): ItemOutcome {
  return {
    kind: 'reject',
    status: 413,
    type: 'request_entity_too_large',
    reason: `the bulk request for this one event is ${bodyBytes} bytes, more than Elasticsearch accepts (http.max_content_length, 100mb by default): 413 Request Entity Too Large`,
  };
}

export class ElasticsearchOutput implements Output {
  readonly name = 'elasticsearch';
  private ok = true;

  /** filter_path, and the --pipeline named on every bulk request */
  private readonly querystring: Record<string, string>;

  constructor(
    private readonly client: Client,
    pipeline = '',
  ) {
    this.querystring = { filter_path: 'errors,items.*.status,items.*.error', ...(pipeline ? { pipeline } : {}) };
  }

  get reachable(): boolean {
    return this.ok;
  }

  /** the nodes of --es-node, masked, and whether the client sends them requests (a dead one is skipped) */
  nodes(): EsNodeState[] {
    return esNodeStates(this.client);
  }

  async write(docs: readonly Document[]): Promise<ItemOutcome[]> {
    const body = buildBulkBody(docs);
    let response: BulkResponse;
    try {
      response = (await this.client.transport.request(
        {
          method: 'POST',
          path: '/_bulk',
          bulkBody: body,
          querystring: this.querystring,
        },
        // a bulk with a document Elasticsearch names itself (no _id) is never resent by the client: a
        // copy would not be a 409. Only logship's own retry (after an answer it can read) remains.
        docs.some((d) => d.id === undefined) ? { meta: false, maxRetries: 0 } : { meta: false },
      )) as BulkResponse;
    } catch (err) {
      const status = esStatusOf(err);
      if (status === 413) {
        // Elasticsearch answered: the body is over http.max_content_length. Never
        // retried as it is: split a batch until each part fits, and dead-letter
        // an event that is too large on its own
        this.ok = true;
        if (docs.length === 1) return [tooLargeOutcome(body.length)];
        const half = Math.ceil(docs.length / 2);
        const first = await this.write(docs.slice(0, half));
        const second = await this.write(docs.slice(half));
        return [...first, ...second];
      }
      // the whole request failed (connection, timeout, 429/5xx, auth): nothing
      // was written for sure, so every item is retried; nothing is dead-lettered
      this.ok = false;
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

/** The output for --output elasticsearch: the client from the --es-* options, logging when a node goes dead or comes back. */
export function createElasticsearchOutput(config: Config, logger: Logger): ElasticsearchOutput {
  const client = createEsClient(config);
  logEsNodeChanges(client, logger);
  return new ElasticsearchOutput(client, config.pipeline);
}
