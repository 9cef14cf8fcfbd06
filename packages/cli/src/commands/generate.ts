/**
 * `logship generate`: synthetic log lines to stdout (pipe them into ship), or
 * with --serve the generator's HTTP service (generator/service.ts): POST
 * /generate publishes events through the shipper's session (confirmed) and
 * answers how many were published.
 */
import { ErrorCodes, ExitCodes, LogshipError, createRegistry, handleShutdownSignals, startHttpServer, type Config, type Logger } from '@logship/common';
import { LineGenerator } from '@logship/shipper';
import type { CommandContext } from '../context.js';
import { generatorPage } from '../generator/page.js';
import { GeneratorService } from '../generator/service.js';

export const DEFAULT_GENERATOR_PORT = 9196;

export async function runGenerate(ctx: CommandContext): Promise<number> {
  if (ctx.positionals.length > 0) throw new LogshipError(ErrorCodes.USAGE, `generate takes no arguments (got "${ctx.positionals.join(' ')}")`);
  return ctx.config.serve ? serve(ctx.config, ctx.logger) : toStdout(ctx.config, ctx.logger);
}

async function toStdout(config: Config, logger: Logger): Promise<number> {
  const gen = new LineGenerator(config.format, config.level, config.hostName, Date.now());
  const out = process.stdout;
  let stopped = false;
  out.on('error', () => {
    stopped = true;
  }); // reader went away (EPIPE): stop quietly
  const shutdown = handleShutdownSignals({
    logger,
    timeoutMs: 1000,
    drain: async () => {
      stopped = true;
    },
  });
  const started = Date.now();
  let written = 0;
  try {
    while (!stopped && (config.count === 0 || written < config.count)) {
      const batch = config.rate > 0 ? Math.max(1, Math.floor(config.rate / 20)) : 1000;
      let chunk = '';
      for (let i = 0; i < batch && (config.count === 0 || written < config.count); i++, written++) chunk += `${gen.next()}\n`;
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', r));
      if (config.rate > 0) {
        const due = started + (written / config.rate) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
  } finally {
    shutdown.dispose();
  }
  return ExitCodes.OK;
}

async function serve(config: Config, logger: Logger): Promise<number> {
  const registry = createRegistry();
  const service = new GeneratorService(config, logger, registry);
  await service.open();
  const server = await startHttpServer({
    host: config.httpHost,
    port: config.port ?? DEFAULT_GENERATOR_PORT,
    registry,
    health: () => service.health(),
    routes: [
      { method: 'GET', path: '/', handle: async () => ({ status: 200, type: 'text/html; charset=utf-8', body: generatorPage() }) },
      { method: 'GET', path: '/api/stats', handle: async () => ({ status: 200, type: 'application/json', body: JSON.stringify(service.stats()) }) },
      { method: 'POST', path: '/generate', handle: (_req, body, signal) => service.post(body, signal) },
    ],
  });
  logger.info({ url: server.url }, 'generator serving POST /generate, GET / and /health');
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const shutdown = handleShutdownSignals({ logger, timeoutMs: config.shutdownTimeout, drain: async () => stop() });
  await stopped;
  shutdown.dispose();
  await server.close();
  await service.close();
  return ExitCodes.OK;
}
