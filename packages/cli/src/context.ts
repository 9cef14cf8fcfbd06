/** What every command is given: the validated options, the positional arguments and a logger. */
import type { Config, Logger } from '@logship/common';

export interface CommandContext {
  config: Config;
  positionals: string[];
  logger: Logger;
}

/** A command: resolves with the process exit code, throws LogshipError for failures. */
export type CommandRunner = (ctx: CommandContext) => Promise<number>;
