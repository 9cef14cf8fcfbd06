/**
 * Options of `logship ship` that only apply in some modes. One that does not
 * apply is refused (exit 2) instead of being silently ignored: a user who
 * passes `--start-position end` without `--follow` expects something to happen.
 * An option counts as given when its value differs from its default.
 */
import { ErrorCodes, LogshipError, OPTIONS, flagName, parseDuration, type Config } from '@logship/common';
import type { MultilineOptions } from './lines/multiline.js';

export type ShipMultiline = MultilineOptions & { timeoutMs: number };

function given(
  config: Config,
  key: 'startPosition' | 'scanInterval' | 'multilineNegate' | 'multilineMatch' | 'multilineMaxLines' | 'multilineTimeout',
): boolean {
  const spec = OPTIONS[key];
  const def = spec.format === 'duration' ? parseDuration(spec.default) : spec.default;
  return config[key] !== def;
}

function refuse(message: string, hint: string): never {
  throw new LogshipError(ErrorCodes.USAGE, message, { hint });
}

/** Throws a usage error (exit 2) for an option that does not apply to this run. */
export function checkShipOptions(config: Config, input: { files: boolean }): void {
  if (!input.files && config.follow) refuse('--follow needs files to tail', 'logship ship --follow /var/log/app/*.log');
  if (!config.follow && given(config, 'startPosition')) {
    refuse(
      `--start-position ${config.startPosition} applies only with --follow`,
      'without --follow every file is read from its checkpoint, or from its start; add --follow to tail files from their end',
    );
  }
  if (!config.follow && given(config, 'scanInterval')) {
    refuse('--scan-interval applies only with --follow', 'without --follow the files are matched once, at startup');
  }
  if (!config.multilinePattern) {
    for (const key of ['multilineNegate', 'multilineMatch', 'multilineMaxLines', 'multilineTimeout'] as const) {
      if (given(config, key)) {
        refuse(`--${flagName(key)} applies only with --multiline-pattern`, "give the pattern of continuation lines, e.g. --multiline-pattern '^\\s'");
      }
    }
  }
}

/** The multiline options of the run, or null (one line, one event). */
export function shipMultiline(config: Config): ShipMultiline | null {
  if (!config.multilinePattern) return null;
  return {
    pattern: new RegExp(config.multilinePattern),
    negate: config.multilineNegate,
    match: config.multilineMatch,
    maxLines: config.multilineMaxLines,
    // one event is never longer than one line may be
    maxBytes: config.maxLineBytes,
    timeoutMs: config.multilineTimeout,
  };
}
