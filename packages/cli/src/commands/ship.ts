/** `logship ship`: stdin to the exchange, every event confirmed. */
import {
  ErrorCodes,
  ExitCodes,
  LogshipError,
  createRegistry,
  handleShutdownSignals,
  startHttpServer,
  type RunningServer,
} from '@logship/common';
import { StreamShipper, formatSummary } from '@logship/shipper';
import type { CommandContext } from '../main.js';

export async function runShip({ config, positionals, logger }: CommandContext): Promise<number> {
  const files = positionals.filter((p) => p !== '-');
  if (files.length > 0) {
    throw new LogshipError(ErrorCodes.USAGE, `this build of logship ship reads stdin only; cannot read ${files.join(', ')}`, {
      hint: `pipe the file instead: logship ship < ${files[0]}`,
    });
  }
  const registry = createRegistry();
  const shipper = new StreamShipper({ config, input: process.stdin, logger, registry });
  let server: RunningServer | null = null;
  if (config.metricsPort !== null) {
    server = await startHttpServer({
      host: config.httpHost,
      port: config.metricsPort,
      registry,
      health: () => ({ status: 'ok', inflight: shipper.summary.read - shipper.summary.published - shipper.summary.skipped }),
    });
    logger.info({ url: server.url }, 'serving /metrics and /health');
  }
  const shutdown = handleShutdownSignals({
    logger,
    timeoutMs: config.shutdownTimeout,
    drain: async () => {
      shipper.stop();
    },
  });
  try {
    const summary = await shipper.run();
    process.stderr.write(`${formatSummary(summary)}\n`);
    return ExitCodes.OK;
  } catch (err) {
    process.stderr.write(`${formatSummary(shipper.summary)}\n`);
    throw err;
  } finally {
    shutdown.dispose();
    await server?.close();
  }
}
