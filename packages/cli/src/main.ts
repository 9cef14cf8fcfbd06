/** Dispatch of `logship <command>`: configuration, errors, exit codes. */
import { createRequire } from 'node:module';
import { ErrorCodes, ExitCodes, LogshipError, createLogger, errorMessage, isLogshipError, loadCommandLine, type CommandName } from '@logship/common';
import type { CommandRunner } from './context.js';
import { COMMAND_INFO, commandHelp, globalHelp } from './help.js';

// loaded on use: `ship` does not pay for the Elasticsearch client, nor `index` for the monitor
const COMMANDS: Partial<Record<CommandName, () => Promise<CommandRunner>>> = {
  bootstrap: async () => (await import('./commands/bootstrap.js')).runBootstrap,
  ship: async () => (await import('./commands/ship.js')).runShip,
  index: async () => (await import('./commands/index-command.js')).runIndex,
  status: async () => (await import('./commands/status.js')).runStatus,
  monitor: async () => (await import('./commands/monitor.js')).runMonitor,
  generate: async () => (await import('./commands/generate.js')).runGenerate,
  dlq: async () => (await import('./commands/dlq.js')).runDlq,
};

/** the version of the logship package (packages/cli/package.json), from src/ and dist/ alike */
export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

function printError(command: string | undefined, err: unknown): number {
  const prefix = command ? `logship ${command}` : 'logship';
  if (isLogshipError(err)) {
    process.stderr.write(`${prefix}: error: ${err.message}\n`);
    if (err.hint) process.stderr.write(`${prefix}: hint: ${err.hint}\n`);
    return err.exitCode;
  }
  process.stderr.write(`${prefix}: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : errorMessage(err)}\n`);
  return ExitCodes.FAILURE;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    const topic = command === 'help' ? rest[0] : undefined;
    if (topic && topic in COMMAND_INFO) process.stdout.write(commandHelp(topic as CommandName));
    else process.stdout.write(globalHelp());
    return command === undefined ? ExitCodes.USAGE : ExitCodes.OK;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`logship ${VERSION}\n`);
    return ExitCodes.OK;
  }
  const load = COMMANDS[command as CommandName];
  if (!load) {
    return printError(
      undefined,
      new LogshipError(ErrorCodes.USAGE, `unknown command "${command}"`, {
        hint: `commands: ${Object.keys(COMMANDS).join(', ')}; see logship --help`,
      }),
    );
  }
  try {
    const loaded = loadCommandLine(command as CommandName, rest);
    if (loaded.help) {
      process.stdout.write(commandHelp(command as CommandName));
      return ExitCodes.OK;
    }
    const logger = createLogger({ level: loaded.config.logLevel, name: `logship-${command}` });
    const runner = await load();
    return await runner({ config: loaded.config, positionals: loaded.positionals, logger });
  } catch (err) {
    return printError(command, err);
  }
}

/** Entry point of bin/logship.js: exit once stdout is flushed. */
export function run(argv: string[]): void {
  main(argv).then(
    (code) => exitWhenFlushed(code),
    (err: unknown) => exitWhenFlushed(printError(argv[0], err)),
  );
}

function exitWhenFlushed(code: number): void {
  if (process.stdout.writableLength === 0) process.exit(code);
  process.stdout.once('drain', () => process.exit(code));
  process.stdout.once('error', () => process.exit(code));
}
