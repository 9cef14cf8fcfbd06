/** `logship ship [FILE|GLOB ...]`: stdin or files to the exchange, every event confirmed. */
import {
  ErrorCodes,
  ExitCodes,
  LogshipError,
  createRegistry,
  handleShutdownSignals,
  startHttpServer,
  type Config,
  type Health,
  type Logger,
  type Registry,
  type RunningServer,
} from '@logship/common';
import { FileShipper, StreamShipper, formatSummary, openStdin, startProgress, type ShipSession } from '@logship/shipper';
import type { CommandContext } from '../main.js';

export const DEFAULT_FOLLOW_METRICS_PORT = 9199;

interface Runner {
  session: Pick<ShipSession<unknown>, 'summary' | 'failure' | 'blocked' | 'inflight'>;
  run(): Promise<unknown>;
  stop(): void;
}

function fileShipper(config: Config, logger: Logger, registry: Registry, patterns: string[]): FileShipper {
  return new FileShipper({
    config,
    logger,
    registry,
    patterns,
    follow: config.follow,
    startPosition: config.startPosition,
    scanIntervalMs: config.scanInterval,
    multiline: config.multilinePattern
      ? {
          pattern: new RegExp(config.multilinePattern),
          negate: config.multilineNegate,
          match: config.multilineMatch,
          maxLines: config.multilineMaxLines,
          timeoutMs: config.multilineTimeout,
        }
      : null,
  });
}

export async function runShip({ config, positionals, logger }: CommandContext): Promise<number> {
  const files = positionals.filter((p) => p !== '-');
  if (files.length > 0 && files.length !== positionals.length) {
    throw new LogshipError(ErrorCodes.USAGE, 'ship reads either stdin ("-" or no argument) or files, not both');
  }
  if (files.length === 0 && config.follow) {
    throw new LogshipError(ErrorCodes.USAGE, '--follow needs files to tail', { hint: 'logship ship --follow /var/log/app/*.log' });
  }
  const registry = createRegistry();
  const shipper: Runner = files.length > 0 ? fileShipper(config, logger, registry, files) : new StreamShipper({ config, input: openStdin(), logger, registry });

  const port = config.metricsPort ?? (config.follow ? DEFAULT_FOLLOW_METRICS_PORT : null);
  let server: RunningServer | null = null;
  if (port !== null) {
    server = await startHttpServer({ host: config.httpHost, port, registry, health: () => shipHealth(shipper) });
    logger.info({ url: server.url, metrics: `${server.url}/metrics`, health: `${server.url}/health` }, 'serving /metrics and /health');
  }
  const stopProgress = shipper instanceof FileShipper && !config.follow && process.stderr.isTTY ? startProgress(() => shipper.progress, process.stderr) : null;
  const shutdown = handleShutdownSignals({ logger, timeoutMs: config.shutdownTimeout, drain: async () => shipper.stop() });
  try {
    await shipper.run();
    stopProgress?.();
    process.stderr.write(`${formatSummary(shipper.session.summary)}\n`);
    return ExitCodes.OK;
  } catch (err) {
    stopProgress?.();
    process.stderr.write(`${formatSummary(shipper.session.summary)}\n`);
    throw err;
  } finally {
    shutdown.dispose();
    await server?.close();
  }
}

function shipHealth(shipper: Runner): Health {
  const s = shipper.session;
  const failure = s.failure;
  const files = shipper instanceof FileShipper ? { filesActive: shipper.filesActive, inputProblems: Object.fromEntries(shipper.inputProblems) } : {};
  return {
    status: failure ? 'down' : s.blocked ? 'degraded' : 'ok',
    amqp: { blocked: s.blocked, error: failure?.message ?? null },
    inflight: { unconfirmedEvents: s.inflight },
    summary: s.summary,
    ...files,
  };
}
