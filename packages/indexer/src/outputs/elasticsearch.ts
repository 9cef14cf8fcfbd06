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
import { RefusedSize } from './refused-size.js';

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

/** over one batch and its parts: whether a part of several events was answered 413, and the largest body taken */
interface Sizes {
  refused: boolean;
  accepted: number;
}

/** how long a 413's body size is remembered: batches that large are split before they are sent */
export const REMEMBER_REFUSAL_MS = 10 * 60_000;

export interface ElasticsearchOutputOptions {
  /** says what to set (--batch-bytes) when a batch is answered 413, at most once per rememberRefusalMs */
  logger?: Logger;
  rememberRefusalMs?: number;
  /** --es-compression: the sizes the output sees are before compression */
  compressed?: boolean;
}

function duration(ms: number): string {
  return ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
}

export class ElasticsearchOutput implements Output {
  readonly name = 'elasticsearch';
  private ok = true;

  /** filter_path, and the --pipeline named on every bulk request */
  private readonly querystring: Record<string, string>;
  private readonly refusedSize: RefusedSize;
  private readonly logger: Logger | undefined;
  private readonly compressed: boolean;
  /** when the last 413 advice was logged */
  private saidAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly client: Client,
    pipeline = '',
    options: ElasticsearchOutputOptions = {},
  ) {
    this.querystring = { filter_path: 'errors,items.*.status,items.*.error', ...(pipeline ? { pipeline } : {}) };
    this.refusedSize = new RefusedSize(options.rememberRefusalMs ?? REMEMBER_REFUSAL_MS);
    this.logger = options.logger;
    this.compressed = options.compressed ?? false;
  }

  get reachable(): boolean {
    return this.ok;
  }

  /** the nodes of --es-node, masked, and whether the client sends them requests (a dead one is skipped) */
  nodes(): EsNodeState[] {
    return esNodeStates(this.client);
  }

  async write(docs: readonly Document[], bytes?: number): Promise<ItemOutcome[]> {
    const sizes: Sizes = { refused: false, accepted: 0 };
    const outcomes = await this.writeSplitting(docs, sizes, bytes);
    if (sizes.refused) this.sayRefused(sizes);
    return outcomes;
  }

  /** One bulk request, or its halves when it is answered 413 (or as large as a body answered 413 a moment ago). */
  private async writeSplitting(docs: readonly Document[], sizes: Sizes, bytes?: number): Promise<ItemOutcome[]> {
    // halves are measured again (only after a 413)
    const body = buildBulkBody(docs, bytes);
    if (docs.length > 1 && this.refusedSize.tooLarge(body.length)) return this.writeHalves(docs, sizes);
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
        const outcomes = await this.writeHalves(docs, sizes);
        // only the size of a batch whose events each fit is remembered: one event too large on its own is its
        // own dead letter whatever --batch-bytes says, and says nothing about the size of a batch
        if (!outcomes.some((o) => o.kind === 'reject' && o.status === 413)) {
          this.refusedSize.refused(body.length);
          sizes.refused = true;
        }
        return outcomes;
      }
      // the whole request failed (connection, timeout, 429/5xx, auth): nothing
      // was written for sure, so every item is retried; nothing is dead-lettered
      this.ok = false;
      const reason = status ? `bulk request failed with HTTP ${status}: ${errorMessage(err)}` : `bulk request failed: ${errorMessage(err)}`;
      return docs.map(() => ({ kind: 'retry' as const, status, reason }));
    }
    this.ok = true;
    sizes.accepted = Math.max(sizes.accepted, body.length);
    return classifyResponse(docs, response);
  }

  private async writeHalves(docs: readonly Document[], sizes: Sizes): Promise<ItemOutcome[]> {
    const half = Math.ceil(docs.length / 2);
    const first = await this.writeSplitting(docs.slice(0, half), sizes);
    const second = await this.writeSplitting(docs.slice(half), sizes);
    return [...first, ...second];
  }

  /**
   * A batch was answered 413: what to set, at most once per `rememberMs` (one
   * line, not one per batch): the smallest size refused so far, by any bulk in
   * flight, and the largest taken by this batch's parts, which is known to fit.
   */
  private sayRefused(sizes: Sizes): void {
    const now = Date.now();
    if (now - this.saidAt < this.refusedSize.rememberMs) return;
    this.saidAt = now;
    const refused = this.refusedSize.bytes;
    const advice = sizes.accepted > 0 ? `set --batch-bytes to ${sizes.accepted} or less (a part of that size was taken)` : `set --batch-bytes below ${refused}`;
    const compressed = this.compressed ? ' (sizes before --es-compression; a proxy limits the compressed body)' : '';
    this.logger?.warn(
      { refusedBytes: refused, acceptedBytes: sizes.accepted || undefined },
      `Elasticsearch, or a proxy in front of it, answered 413 to a bulk request of ${refused} bytes${compressed}: each batch is split until ` +
        `its parts fit, and for ${duration(this.refusedSize.rememberMs)} a batch that large is split before it is sent. To send whole batches, ` +
        `${advice}, or raise the limit (Elasticsearch's http.max_content_length, a proxy's such as nginx's client_max_body_size)`,
    );
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** The output for --output elasticsearch: the client from the --es-* options, logging when a node goes dead or comes back. */
export function createElasticsearchOutput(config: Config, logger: Logger): ElasticsearchOutput {
  const client = createEsClient(config);
  logEsNodeChanges(client, logger);
  return new ElasticsearchOutput(client, config.pipeline, { logger, compressed: config.esCompression });
}
