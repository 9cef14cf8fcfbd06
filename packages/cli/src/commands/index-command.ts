/** `logship index`: an indexer worker until SIGTERM/SIGINT, then drain and exit 0. */
import { ErrorCodes, ExitCodes, LogshipError, createRegistry, handleShutdownSignals, startHttpServer, validateIndexPattern } from '@logship/common';
import { Indexer } from '@logship/indexer';
import type { CommandContext } from '../main.js';

export const DEFAULT_INDEXER_METRICS_PORT = 9198;

export async function runIndex({ config, positionals, logger }: CommandContext): Promise<number> {
  if (positionals.length > 0) throw new LogshipError(ErrorCodes.USAGE, `index takes no arguments (got "${positionals.join(' ')}")`);
  const problem = validateIndexPattern(config.index);
  if (problem) throw new LogshipError(ErrorCodes.CONFIG_INVALID, `--index "${config.index}" ${problem}`);

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
