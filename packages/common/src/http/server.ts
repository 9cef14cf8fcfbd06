/**
 * A small HTTP server for /metrics and /health (and other JSON endpoints).
 * Request bodies are capped; a bad request gets a 4xx, never a crash.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { errorMessage } from '../errors.js';

export type HealthStatus = 'ok' | 'degraded' | 'down';
export interface Health {
  status: HealthStatus;
  [key: string]: unknown;
}

export interface RouteResponse {
  status: number;
  type?: string;
  body: string;
  /** extra response headers, e.g. retry-after */
  headers?: Record<string, string>;
}

export interface Route {
  method: 'GET' | 'POST';
  path: string;
  /** `signal` aborts when the client goes away before the answer is sent: stop working for it */
  handle(req: http.IncomingMessage, body: string, signal: AbortSignal): Promise<RouteResponse>;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  registry?: Registry;
  health?: () => Health | Promise<Health>;
  routes?: Route[];
  maxBodyBytes?: number;
}

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

function readBody(req: http.IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        // stop buffering; the 413 goes out with connection: close
        req.removeAllListeners('data');
        req.resume();
        resolve(undefined);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startHttpServer(options: HttpServerOptions): Promise<RunningServer> {
  const limit = options.maxBodyBytes ?? 16 * 1024;
  const routes: Route[] = [...(options.routes ?? [])];
  if (options.registry) {
    const registry = options.registry;
    routes.push({
      method: 'GET',
      path: '/metrics',
      handle: async () => ({ status: 200, type: registry.contentType, body: await registry.metrics() }),
    });
  }
  if (options.health) {
    const health = options.health;
    routes.push({
      method: 'GET',
      path: '/health',
      handle: async () => {
        const h = await health();
        return { status: h.status === 'down' ? 503 : 200, type: 'application/json', body: JSON.stringify(h) };
      },
    });
  }

  const server = http.createServer((req, res) => {
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8', headers: Record<string, string> = {}) => {
      if (res.headersSent || res.destroyed) return;
      res.writeHead(status, { ...headers, 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      res.setHeader('connection', 'close');
      send(413, `request body over ${limit} bytes\n`);
      req.resume();
      return;
    }
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      send(400, 'bad request URL\n');
      return;
    }
    const candidates = routes.filter((r) => r.path === pathname);
    if (candidates.length === 0) {
      send(404, 'not found\n');
      return;
    }
    const route = candidates.find((r) => r.method === req.method || (r.method === 'GET' && req.method === 'HEAD'));
    if (!route) {
      res.setHeader('allow', candidates.map((r) => r.method).join(', '));
      send(405, 'method not allowed\n');
      return;
    }
    readBody(req, limit)
      .then(async (body) => {
        if (body === undefined) {
          res.setHeader('connection', 'close');
          return send(413, `request body over ${limit} bytes\n`);
        }
        const out = await route.handle(req, body, gone.signal);
        send(out.status, out.body, out.type, out.headers);
      })
      .catch((err: unknown) => send(500, `internal error: ${errorMessage(err)}\n`));
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    port,
    url: `http://${hostForUrl}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
