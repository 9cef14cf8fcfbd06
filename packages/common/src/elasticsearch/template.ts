/** The index template declared by `logship bootstrap` (mappings of DESIGN.md). */
import type { Client } from '@elastic/elasticsearch';
import { ErrorCodes, LogshipError, errorMessage } from '../errors.js';
import { createIndexNamer } from '../index-name.js';
import { maskUrl, scrubSecrets } from '../logger.js';

export const TEMPLATE_MAPPINGS = {
  dynamic: true,
  properties: {
    '@timestamp': { type: 'date' },
    message: { type: 'text' },
    event: { properties: { id: { type: 'keyword' } } },
    host: { properties: { name: { type: 'keyword' } } },
    tags: { type: 'keyword' },
    log: { properties: { file: { properties: { path: { type: 'keyword' } } }, offset: { type: 'long' } } },
    input: { properties: { type: { type: 'keyword' } } },
    agent: { properties: { type: { type: 'keyword' }, version: { type: 'keyword' } } },
  },
} as const;

export function templateBody(indexPattern: string) {
  return {
    index_patterns: [createIndexNamer(indexPattern).wildcard],
    priority: 200,
    template: { mappings: TEMPLATE_MAPPINGS },
    _meta: { managed_by: 'logship', description: 'logship event mappings' },
  };
}

function unreachable(node: string, err: unknown): LogshipError {
  return new LogshipError(ErrorCodes.ES_UNAVAILABLE, `Elasticsearch at ${maskUrl(node)} did not answer: ${scrubSecrets(errorMessage(err), [node])}`, {
    hint: 'check --es-node (LOGSHIP_ES_NODE) and credentials, or pass --skip-elasticsearch to declare only the AMQP side',
    cause: err,
  });
}

export async function putTemplate(client: Client, name: string, indexPattern: string, node: string): Promise<void> {
  try {
    await client.indices.putIndexTemplate({ name, ...templateBody(indexPattern) } as never);
  } catch (err) {
    const status = (err as { meta?: { statusCode?: number } }).meta?.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      throw new LogshipError(ErrorCodes.ES_TEMPLATE, `Elasticsearch refused index template "${name}" (HTTP ${status}): ${errorMessage(err)}`, {
        hint: 'the user needs the manage_index_templates cluster privilege; or create the template yourself and use --skip-elasticsearch',
        cause: err,
      });
    }
    throw unreachable(node, err);
  }
}

export async function templateExists(client: Client, name: string, node: string): Promise<boolean> {
  try {
    return await client.indices.existsIndexTemplate({ name });
  } catch (err) {
    throw unreachable(node, err);
  }
}
