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
import { FileShipper, StreamShipper, checkShipOptions, formatSummary, openStdin, shipMultiline, startProgress, type ShipSession } from '@logship/shipper';
import type { CommandContext } from '../context.js';

export const DEFAULT_FOLLOW_METRICS_PORT = 9199;

interface Runner {
  session: Pick<ShipSession<unknown>, 'summary' | 'failure' | 'blocked' | 'inflight' | 'amqpNode' | 'unconfirmedForMs'>;
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
    multiline: shipMultiline(config),
  });
}

export async function runShip({ config, positionals, logger }: CommandContext): Promise<number> {
  const files = positionals.filter((p) => p !== '-');
  if (files.length > 0 && files.length !== positionals.length) {
    throw new LogshipError(ErrorCodes.USAGE, 'ship reads either stdin ("-" or no argument) or files, not both');
  }
  // an option that does not apply to this run is refused (exit 2), never ignored
  checkShipOptions(config, { files: files.length > 0 });
  const registry = createRegistry();
  const shipper: Runner =
    files.length > 0
      ? fileShipper(config, logger, registry, files)
      : new StreamShipper({ config, input: openStdin(), logger, registry, multiline: shipMultiline(config) });

  const port = config.metricsPort ?? (config.follow ? DEFAULT_FOLLOW_METRICS_PORT : null);
  let server: RunningServer | null = null;
  if (port !== null) {
    server = await startHttpServer({ host: config.httpHost, port, registry, health: () => shipHealth(shipper) });
    logger.info({ url: server.url, metrics: `${server.url}/metrics`, health: `${server.url}/health` }, 'serving /metrics and /health');
  }
  const stopProgress = shipper instanceof FileShipper && !config.follow && process.stderr.isTTY ? startProgress(() => shipper.progress, process.stderr) : null;
  let running: Promise<unknown> | null = null;
  const shutdown = handleShutdownSignals({
    logger,
    timeoutMs: config.shutdownTimeout,
    // the drain lasts until the run has settled what it read: --shutdown-timeout bounds that wait
    drain: async () => {
      shipper.stop();
      await running?.catch(() => undefined);
    },
    // a forced exit (timeout, second signal) still says what was read, published and not delivered
    force: (reason) => {
      stopProgress?.();
      const what = files.length > 0 ? 'the next run ships them again from the checkpoints' : 'events of stdin not confirmed may be missing: send them again';
      logger.error({ reason }, `forced exit before every event was confirmed; ${what}`);
      process.stderr.write(`${formatSummary(shipper.session.summary)}\n`);
      process.exit(ExitCodes.FAILURE);
    },
  });
  try {
    running = shipper.run();
    await running;
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

/** Messages unconfirmed this long make /health degraded: the queue's cluster has no majority, or no node answers. */
export const UNCONFIRMED_DEGRADED_MS = 5000;

/**
 * down: publishing failed; degraded: no RabbitMQ node is connected, the broker
 * has confirmed nothing for UNCONFIRMED_DEGRADED_MS while messages wait (input
 * is paused once the window is full), the broker blocks us, an input cannot be
 * read, or checkpoints cannot be written (shipping goes on, writes are retried
 * every second; a crash meanwhile re-ships from the last written checkpoint).
 */
function shipHealth(shipper: Runner): Health {
  const s = shipper.session;
  const failure = s.failure;
  const unconfirmedForMs = s.unconfirmedForMs;
  const stalled = unconfirmedForMs >= UNCONFIRMED_DEGRADED_MS;
  let filesDegraded = false;
  let files = {};
  if (shipper instanceof FileShipper) {
    const checkpoints = shipper.checkpoints;
    filesDegraded = shipper.inputProblems.size > 0 || !checkpoints.ok;
    files = { filesActive: shipper.filesActive, bytesRead: shipper.bytesRead, inputProblems: Object.fromEntries(shipper.inputProblems), checkpoints };
  }
  return {
    status: failure ? 'down' : s.blocked || stalled || s.amqpNode === null || filesDegraded ? 'degraded' : 'ok',
    amqp: { node: s.amqpNode, blocked: s.blocked, unconfirmedForMs, error: failure?.message ?? null },
    inflight: { unconfirmedEvents: s.inflight },
    summary: s.summary,
    ...files,
  };
}
