/** The metrics/health HTTP server: bounded bodies, 4xx for bad requests, never a crash. */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createRegistry, startHttpServer, type RunningServer } from '@logship/common';

function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let out = '';
    s.on('data', (d) => (out += d.toString()));
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
    setTimeout(() => s.destroy(), 1000);
  });
}

describe('HTTP endpoints', () => {
  let server: RunningServer;
  before(async () => {
    server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      registry: createRegistry(),
      health: () => ({ status: 'ok' }),
      maxBodyBytes: 1024,
      routes: [{ method: 'POST', path: '/echo', handle: async (_req, body) => ({ status: 200, body }) }],
    });
  });
  after(async () => server.close());

  it('binds to the given host and serves /metrics and /health', async () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const m = await fetch(`${server.url}/metrics`);
    assert.equal(m.status, 200);
    assert.match(await m.text(), /process_cpu_user_seconds_total/);
    assert.deepEqual(await (await fetch(`${server.url}/health`)).json(), { status: 'ok' });
  });

  it('rejects a request body over the limit with 413', async () => {
    const big = 'x'.repeat(4096);
    const r = await fetch(`${server.url}/echo`, { method: 'POST', body: big });
    assert.equal(r.status, 413);
    const ok = await fetch(`${server.url}/echo`, { method: 'POST', body: 'small' });
    assert.equal(await ok.text(), 'small');
  });

  it('answers unknown paths 404, wrong methods 405 and garbage 400, and keeps serving', async () => {
    assert.equal((await fetch(`${server.url}/nope`)).status, 404);
    assert.equal((await fetch(`${server.url}/metrics`, { method: 'DELETE' })).status, 405);
    const garbage = await rawRequest(server.port, 'NOT HTTP AT ALL\r\n\r\n');
    assert.match(garbage, /^HTTP\/1\.1 400/);
    const chunked = await rawRequest(
      server.port,
      `POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${'1000\r\n' + 'y'.repeat(4096) + '\r\n'}0\r\n\r\n`,
    );
    assert.match(chunked, /^HTTP\/1\.1 413/);
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
  });
});

describe('HTTP routes: extra headers and clients that go away', () => {
  it('a route sets extra headers, and its signal aborts when the client goes away before the answer', async () => {
    let aborted: (() => void) | undefined;
    const abortSeen = new Promise<void>((r) => (aborted = r));
    let entered: (() => void) | undefined;
    const handling = new Promise<void>((r) => (entered = r));
    const server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      routes: [
        { method: 'POST', path: '/busy', handle: async () => ({ status: 429, body: '{}', type: 'application/json', headers: { 'retry-after': '3' } }) },
        {
          method: 'POST',
          path: '/slow',
          handle: (_req, _body, signal) =>
            new Promise((resolve) => {
              entered?.();
              signal.addEventListener('abort', () => {
                aborted?.();
                resolve({ status: 200, body: 'too late' });
              });
            }),
        },
      ],
    });
    try {
      const busy = await fetch(`${server.url}/busy`, { method: 'POST', body: '' });
      assert.equal(busy.status, 429);
      assert.equal(busy.headers.get('retry-after'), '3');
      assert.equal(busy.headers.get('content-type'), 'application/json');
      const ac = new AbortController();
      const slow = fetch(`${server.url}/slow`, { method: 'POST', body: 'x', signal: ac.signal }).catch((err: unknown) => err);
      await handling; // the server holds the request: now go away
      ac.abort();
      assert.ok((await slow) instanceof Error);
      await abortSeen;
      assert.equal((await fetch(`${server.url}/busy`, { method: 'POST', body: '' })).status, 429, 'still serving');
    } finally {
      await server.close();
    }
  });
});
