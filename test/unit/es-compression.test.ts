/** --es-compression: request bodies to Elasticsearch are gzipped, and only with it. */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { describe, it } from 'node:test';
import { loadCommandLine } from '@logship/common';
import { createEsClient } from '@logship/common/elasticsearch';

async function bulkThrough(esCompression: boolean): Promise<{ encoding: string | undefined; body: string }> {
  let seen: { encoding: string | undefined; body: string } | undefined;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const encoding = req.headers['content-encoding'];
      seen = { encoding, body: (encoding === 'gzip' ? zlib.gunzipSync(raw) : raw).toString() };
      const text = JSON.stringify({ took: 1, errors: false, items: [{ create: { _index: 'i', _id: 'a', status: 201 } }] });
      res.writeHead(200, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
      res.end(text);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = createEsClient({
    esNode: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    esUsername: '',
    esPassword: '',
    esApiKey: '',
    esTimeout: 5000,
    esCompression,
  });
  try {
    await client.bulk({ operations: [{ create: { _index: 'i', _id: 'a' } }, { message: 'x'.repeat(2000) }] });
  } finally {
    await client.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  assert.ok(seen);
  return seen;
}

describe('--es-compression', () => {
  it('with --es-compression the _bulk body is sent gzipped and arrives intact', async () => {
    const got = await bulkThrough(true);
    assert.equal(got.encoding, 'gzip');
    assert.match(got.body, /^\{"create":\{"_index":"i","_id":"a"\}\}\n\{"message":"x{2000}"\}\n$/);
  });

  it('without it the body is sent as is', async () => {
    const got = await bulkThrough(false);
    assert.equal(got.encoding, undefined);
  });

  it('is a boolean option of index, bootstrap and status, off by default', () => {
    assert.equal(loadCommandLine('index', [], {}).config.esCompression, false);
    assert.equal(loadCommandLine('index', ['--es-compression'], {}).config.esCompression, true);
    assert.equal(loadCommandLine('status', [], { LOGSHIP_ES_COMPRESSION: 'yes' }).config.esCompression, true);
  });
});
