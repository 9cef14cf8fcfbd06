/** `logship index`: an indexer worker until SIGTERM/SIGINT, then drain and exit 0. */
import {
  ErrorCodes,
  ExitCodes,
  LogshipError,
  MAX_PREFETCH,
  createRegistry,
  dataStreamIndexProblem,
  handleShutdownSignals,
  startHttpServer,
  type Config,
} from '@logship/common';
import { Indexer } from '@logship/indexer';
import type { CommandContext } from '../context.js';

export const DEFAULT_INDEXER_METRICS_PORT = 9198;

/**
 * A batch only holds events of unacknowledged deliveries, at most --prefetch of
 * them: with one event per message a --batch-size above --prefetch never fills,
 * and every batch waits --flush-interval. A warning, not a refusal: shippers
 * sending several events per message (--events-per-message) do fill it.
 */
export function batchAdvice(config: Pick<Config, 'batchSize' | 'prefetch' | 'flushInterval'>): string | undefined {
  if (config.batchSize <= config.prefetch) return undefined;
  const perMessage = Math.ceil(config.batchSize / config.prefetch);
  return (
    `--batch-size ${config.batchSize} is larger than --prefetch ${config.prefetch}: with one event per message a batch never fills, ` +
    `so each waits --flush-interval (${config.flushInterval} ms) and the indexer writes at most ${config.prefetch} events per interval; ` +
    `set --prefetch ${Math.min(config.batchSize, MAX_PREFETCH)} or more (or --batch-size ${config.prefetch} or less), ` +
    `unless shippers send ${perMessage} or more events per message (--events-per-message)`
  );
}

export async function runIndex({ config, positionals, logger }: CommandContext): Promise<number> {
  if (positionals.length > 0) throw new LogshipError(ErrorCodes.USAGE, `index takes no arguments (got "${positionals.join(' ')}")`);
  // --index was validated with the configuration (exit 2 before connecting); field references cannot name a data stream
  const fieldsInStream = dataStreamIndexProblem(config);
  if (fieldsInStream) throw new LogshipError(ErrorCodes.CONFIG_INVALID, fieldsInStream);
  const advice = batchAdvice(config);
  if (advice) logger.warn({ batchSize: config.batchSize, prefetch: config.prefetch, flushInterval: config.flushInterval }, advice);

  const registry = createRegistry();
  const indexer = new Indexer({ config, logger, registry });
  let finished!: () => void;
  const stopped = new Promise<void>((r) => (finished = r));
  const shutdown = handleShutdownSignals({
    logger,
    timeoutMs: config.shutdownTimeout,
    drain: async () => {
      await indexer.drain();
      finished();
    },
  });
  try {
    await indexer.start();
  } catch (err) {
    shutdown.dispose();
    await indexer.close().catch(() => undefined);
    throw err;
  }
  const server = await startHttpServer({
    host: config.httpHost,
    port: config.metricsPort ?? DEFAULT_INDEXER_METRICS_PORT,
    registry,
    health: () => indexer.health(),
  }).catch(async (err: unknown) => {
    await indexer.close();
    throw new LogshipError(
      ErrorCodes.CONFIG_INVALID,
      `cannot serve /metrics on ${config.httpHost}:${config.metricsPort ?? DEFAULT_INDEXER_METRICS_PORT}: ${String(err)}`,
      {
        hint: 'pick another --metrics-port (0 = any free port)',
      },
    );
  });
  logger.info({ url: server.url, metrics: `${server.url}/metrics`, health: `${server.url}/health` }, 'serving /metrics and /health');
  await stopped;
  shutdown.dispose();
  await server.close();
  logger.info('indexer stopped: every delivery settled');
  return ExitCodes.OK;
}
