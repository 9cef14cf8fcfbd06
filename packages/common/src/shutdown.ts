/**
 * Ordered shutdown on SIGTERM/SIGINT: the first signal starts a graceful drain;
 * a second signal, or the drain outliving its timeout, forces the exit. A forced
 * exit never settles anything it did not finish: the broker redelivers it.
 */
import type { Logger } from './logger.js';

export interface ShutdownOptions {
  logger: Logger;
  timeoutMs: number;
  /** graceful drain; resolves when everything is settled */
  drain: (signal: string) => Promise<void>;
  /** called when forced; must end the process soon (default: exit 1) */
  force?: (reason: string) => void;
}

export interface ShutdownHandle {
  /** true once a signal arrived */
  readonly requested: boolean;
  /** resolves when the drain finished (after a signal) */
  readonly done: Promise<void>;
  dispose(): void;
}

export function handleShutdownSignals(options: ShutdownOptions): ShutdownHandle {
  let requested = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const force =
    options.force ??
    ((reason: string) => {
      options.logger.error({ reason }, 'forced exit: unsettled work is left to the broker');
      process.exit(1);
    });

  const onSignal = (signal: NodeJS.Signals) => {
    if (requested) {
      force(`second ${signal}`);
      return;
    }
    requested = true;
    options.logger.info({ signal, timeoutMs: options.timeoutMs }, 'shutting down: draining');
    const timer = setTimeout(() => force(`drain exceeded --shutdown-timeout (${options.timeoutMs} ms)`), options.timeoutMs);
    timer.unref();
    options
      .drain(signal)
      .catch((err: unknown) => options.logger.error({ err }, 'drain failed'))
      .finally(() => {
        clearTimeout(timer);
        resolveDone();
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    get requested() {
      return requested;
    },
    done,
    dispose() {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}
