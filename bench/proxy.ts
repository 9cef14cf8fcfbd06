/** An HTTP proxy that counts request bytes as sent, in front of the Elasticsearch double (the compression row). */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';

export interface InflatingProxy {
  url: string;
  /** request body bytes received, as sent by the client (compressed or not) */
  bytes: number;
  stop(): Promise<void>;
}

/**
 * An HTTP proxy in front of the double: counts the request bytes as sent and
 * inflates `content-encoding: gzip` bodies, which the double does not read.
 */
export async function startInflatingProxy(target: string): Promise<InflatingProxy> {
  const to = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const proxy: InflatingProxy = { url: '', bytes: 0, stop: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      proxy.bytes += c.length;
      chunks.push(c);
    });
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
      const headers = { ...req.headers, host: to.host, 'content-length': String(body.length) };
      delete headers['content-encoding'];
      const out = http.request({ hostname: to.hostname, port: to.port, path: req.url, method: req.method, headers, agent }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      out.on('error', () => res.destroy());
      out.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address() as AddressInfo;
  proxy.url = `http://127.0.0.1:${address.port}`;
  proxy.stop = () =>
    new Promise<void>((r) => {
      agent.destroy();
      server.closeAllConnections();
      server.close(() => r());
    });
  return proxy;
}
