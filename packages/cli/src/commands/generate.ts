/**
 * `logship generate`: synthetic log lines to stdout (pipe them into ship), or
 * with --serve an HTTP service whose POST /generate publishes events through
 * the shipper's publisher (confirmed) and answers how many were published.
 */
import { randomUUID } from 'node:crypto';
import {
  ErrorCodes,
  ExitCodes,
  LogshipError,
  createRegistry,
  errorMessage,
  handleShutdownSignals,
  isObject,
  scrubConfigSecrets,
  startHttpServer,
  type Config,
  type Logger,
} from '@logship/common';
import { EventFactory, LineGenerator, ShipSession, type GenFormat, type GenLevel } from '@logship/shipper';
import type { CommandContext } from '../main.js';
import { generatorPage } from './generate-page.js';

export const DEFAULT_GENERATOR_PORT = 9196;
export const MAX_EVENTS_PER_REQUEST = 100_000;
/**
 * Events accepted and not yet settled, over all requests: a request that
 * would go over it gets 429 (so 20 clients at once cannot queue 2 M events).
 */
export const MAX_EVENTS_IN_PROGRESS = MAX_EVENTS_PER_REQUEST;
const LEVELS: GenLevel[] = ['mixed', 'debug', 'info', 'warn', 'error'];
const FORMATS: GenFormat[] = ['plain', 'json', 'nginx', 'syslog'];

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

interface GenerateRequest {
  count: number;
  level: GenLevel;
  format: GenFormat;
}

/** Validates a POST /generate body; returns the request or the reason for a 400. */
export function parseGenerateBody(body: string, defaults: { level: GenLevel; format: GenFormat }): GenerateRequest | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return 'body must be JSON such as {"count": 500, "level": "info"}';
  }
  if (!isObject(parsed)) return 'body must be a JSON object such as {"count": 500, "level": "info"}';
  const unknown = Object.keys(parsed).filter((k) => !['count', 'level', 'format'].includes(k));
  if (unknown.length > 0) return `unknown field(s): ${unknown.join(', ')}; allowed: count, level, format`;
  const { count, level, format } = parsed;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_EVENTS_PER_REQUEST) {
    return `count must be a whole number from 1 to ${MAX_EVENTS_PER_REQUEST}`;
  }
  if (level !== undefined && !LEVELS.includes(level as GenLevel)) return `level must be one of ${LEVELS.join(', ')}`;
  if (format !== undefined && !FORMATS.includes(format as GenFormat)) return `format must be one of ${FORMATS.join(', ')}`;
  return { count, level: (level as GenLevel | undefined) ?? defaults.level, format: (format as GenFormat | undefined) ?? defaults.format };
}

async function serve(config: Config, logger: Logger): Promise<number> {
  const registry = createRegistry();
  const pending = new Map<number, { left: number; published: number; failed: number; done: () => void }>();
  const session = new ShipSession<number>({
    config,
    logger,
    registry,
    onSettled: (req, outcome) => {
      const p = pending.get(req);
      if (!p) return;
      if (outcome === 'confirmed') p.published++;
      else p.failed++;
      if (--p.left === 0) p.done();
    },
  });
  await session.open();
  const runId = randomUUID();
  const factories = {
    plain: new EventFactory({ hostName: config.hostName, inputType: 'generator', codec: 'plain', scope: runId }),
    json: new EventFactory({ hostName: config.hostName, inputType: 'generator', codec: 'json', scope: runId }),
  };
  let seq = 0;
  let nextRequest = 0;
  let totalPublished = 0;
  let inProgress = 0;

  /** Generates req.count events, or fewer if the client goes away (what was submitted is still settled and counted). */
  const generate = async (req: GenerateRequest, signal: AbortSignal) => {
    const id = nextRequest++;
    const gen = new LineGenerator(req.format, req.level, config.hostName, Date.now() + id);
    const result = { left: req.count, published: 0, failed: 0, generated: 0, done: (): void => undefined };
    const settled = new Promise<void>((resolve) => (result.done = resolve));
    pending.set(id, result);
    inProgress += req.count;
    try {
      while (result.generated < req.count && !signal.aborted) {
        const text = gen.next();
        const event = factories[req.format === 'json' ? 'json' : 'plain'].make(text, seq++, false);
        session.countRead();
        result.generated++;
        await session.submit(event, id);
      }
      // the events never generated will never settle
      result.left -= req.count - result.generated;
      if (result.left === 0) result.done();
      await session.flush();
      await settled;
    } finally {
      pending.delete(id);
      inProgress -= req.count;
    }
    totalPublished += result.published;
    if (signal.aborted) logger.info({ requested: req.count, generated: result.generated, published: result.published }, 'client went away: generation stopped');
    return result;
  };

  const server = await startHttpServer({
    host: config.httpHost,
    port: config.port ?? DEFAULT_GENERATOR_PORT,
    registry,
    health: () => {
      const failure = session.failure;
      return {
        status: failure ? 'down' : session.blocked ? 'degraded' : 'ok',
        amqp: { error: failure ? scrubConfigSecrets(failure.message, config) : null, blocked: session.blocked },
        published: totalPublished,
      };
    },
    routes: [
      { method: 'GET', path: '/', handle: async () => ({ status: 200, type: 'text/html; charset=utf-8', body: generatorPage() }) },
      {
        method: 'GET',
        path: '/api/stats',
        handle: async () => ({
          status: 200,
          type: 'application/json',
          body: JSON.stringify({ published: totalPublished, inflight: session.inflight, inProgress, summary: session.summary }),
        }),
      },
      {
        method: 'POST',
        path: '/generate',
        handle: async (_req, body, signal) => {
          const parsed = parseGenerateBody(body, { level: config.level, format: config.format });
          if (typeof parsed === 'string') return { status: 400, type: 'application/json', body: JSON.stringify({ error: parsed }) };
          if (session.failure) {
            // the detail is in the log (and on /health); a browser gets no internal error text
            return { status: 503, type: 'application/json', body: JSON.stringify({ error: 'RabbitMQ is not available: see the generator log' }) };
          }
          if (inProgress + parsed.count > MAX_EVENTS_IN_PROGRESS) {
            // about the time the events in progress take at a few tens of thousands per second
            const retryAfter = String(Math.max(1, Math.ceil(inProgress / 50_000)));
            return {
              status: 429,
              type: 'application/json',
              headers: { 'retry-after': retryAfter },
              body: JSON.stringify({
                error: `busy: ${inProgress} event(s) in progress, at most ${MAX_EVENTS_IN_PROGRESS} at once; retry after ${retryAfter} s`,
                inProgress,
                limit: MAX_EVENTS_IN_PROGRESS,
              }),
            };
          }
          try {
            const r = await generate(parsed, signal);
            const status = r.failed > 0 ? 502 : 200;
            return { status, type: 'application/json', body: JSON.stringify({ requested: parsed.count, published: r.published, failed: r.failed }) };
          } catch (err) {
            logger.error({ err: scrubConfigSecrets(errorMessage(err), config) }, 'POST /generate failed');
            return { status: 503, type: 'application/json', body: JSON.stringify({ error: 'generation failed: see the generator log' }) };
          }
        },
      },
    ],
  });
  logger.info({ url: server.url }, 'generator serving POST /generate, GET / and /health');
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const shutdown = handleShutdownSignals({ logger, timeoutMs: config.shutdownTimeout, drain: async () => stop() });
  await stopped;
  shutdown.dispose();
  await server.close();
  await session.flush();
  await session.close();
  return ExitCodes.OK;
}
