/** `logship monitor --targets URL,URL --port P`: one endpoint and a dashboard for many workers. */
import { AmqpConnection, ErrorCodes, LogshipError, errorMessage, handleShutdownSignals, startHttpServer } from '@logship/common';
import type { CommandContext } from '../context.js';
import { dashboardPage } from '../monitor/dashboard.js';
import { parseTarget, type Target } from '../monitor/scrape.js';
import { Monitor } from '../monitor/service.js';

export const DEFAULT_MONITOR_PORT = 9197;

export function parseTargets(list: string): Target[] {
  const raw = list
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  if (raw.length === 0) {
    throw new LogshipError(ErrorCodes.USAGE, 'monitor needs --targets', { hint: 'logship monitor --targets http://10.0.0.5:9198,http://10.0.0.6:9198' });
  }
  try {
    const targets = raw.map(parseTarget);
    const seen = new Set<string>();
    for (const t of targets) {
      if (seen.has(t.instance)) throw new Error(`target ${t.instance} is listed twice`);
      seen.add(t.instance);
    }
    return targets;
  } catch (err) {
    throw new LogshipError(ErrorCodes.CONFIG_INVALID, `--targets: ${errorMessage(err)}`);
  }
}

export async function runMonitor({ config, positionals, logger }: CommandContext): Promise<number> {
  if (positionals.length > 0) throw new LogshipError(ErrorCodes.USAGE, `monitor takes no arguments (got "${positionals.join(' ')}")`);
  const targets = parseTargets(config.targets);
  // queue figures are best effort: the dashboard works without the broker, and
  // the connection keeps trying every node until one answers
  const conn = new AmqpConnection(config, { role: 'monitor', logger, initialMaxRetries: Number.POSITIVE_INFINITY });
  conn.waitForConnect().catch((err: unknown) => {
    if (err instanceof LogshipError) logger.warn({ err: err.message, hint: err.hint }, 'RabbitMQ refused the monitor: queue figures unavailable');
  });
  const monitor = new Monitor({
    targets,
    timeoutMs: config.scrapeTimeout,
    intervalMs: config.scrapeInterval,
    historyMs: config.history,
    queue: config.queue,
    deadLetterQueue: config.deadLetterQueue,
    conn,
    logger,
  });
  monitor.start();
  const page = dashboardPage('logship monitor');
  const server = await startHttpServer({
    host: config.httpHost,
    port: config.port ?? DEFAULT_MONITOR_PORT,
    health: () => monitor.healthReport(),
    routes: [
      {
        method: 'GET',
        path: '/metrics',
        handle: async () => ({ status: 200, type: 'text/plain; version=0.0.4; charset=utf-8', body: await monitor.metricsText() }),
      },
      { method: 'GET', path: '/', handle: async () => ({ status: 200, type: 'text/html; charset=utf-8', body: page }) },
      { method: 'GET', path: '/api/state', handle: async () => ({ status: 200, type: 'application/json', body: JSON.stringify(monitor.state()) }) },
    ],
  });
  logger.info({ url: server.url, targets: targets.map((t) => t.instance) }, 'monitor serving /, /metrics and /health');
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const shutdown = handleShutdownSignals({ logger, timeoutMs: 5000, drain: async () => stop() });
  await stopped;
  shutdown.dispose();
  monitor.stop();
  await server.close();
  await conn?.close().catch(() => undefined);
  return 0;
}
