/**
 * Typed errors with stable codes. Every error that reaches a user goes through
 * one of these, so the CLI can map it to an exit code and a plain message.
 */

export const ErrorCodes = {
  /** A flag, environment variable or config file key is unknown or invalid. */
  CONFIG_INVALID: 'LOGSHIP_CONFIG_INVALID',
  /** The command line itself is wrong (unknown command, missing argument). */
  USAGE: 'LOGSHIP_USAGE',
  /** The broker could not be reached or refused the login. */
  AMQP_CONNECT: 'LOGSHIP_AMQP_CONNECT',
  /** A declaration conflicts with an existing object (PRECONDITION_FAILED). */
  TOPOLOGY_MISMATCH: 'LOGSHIP_TOPOLOGY_MISMATCH',
  /** An exchange or queue that must exist does not. */
  TOPOLOGY_MISSING: 'LOGSHIP_TOPOLOGY_MISSING',
  /** The broker refused an operation for lack of permission. */
  ACCESS_REFUSED: 'LOGSHIP_ACCESS_REFUSED',
  /** A published message was returned: no queue is bound for its routing key. */
  UNROUTABLE: 'LOGSHIP_UNROUTABLE',
  /** The broker negatively acknowledged a publish, or the channel closed before it confirmed. */
  NOT_CONFIRMED: 'LOGSHIP_NOT_CONFIRMED',
  /** Elasticsearch could not be reached or answered with an error. */
  ES_UNAVAILABLE: 'LOGSHIP_ES_UNAVAILABLE',
  /** Elasticsearch refused the index template. */
  ES_TEMPLATE: 'LOGSHIP_ES_TEMPLATE',
  /** Kibana could not be reached, refused the login, or refused the data view. */
  KIBANA: 'LOGSHIP_KIBANA',
  /** An input could not be opened or read. */
  INPUT: 'LOGSHIP_INPUT',
  /** An output (file, stdout) could not be written. */
  OUTPUT: 'LOGSHIP_OUTPUT',
  /** The process was asked to stop before it could settle everything. */
  SHUTDOWN_TIMEOUT: 'LOGSHIP_SHUTDOWN_TIMEOUT',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Exit codes of the `logship` command (docs/DESIGN.md). */
export const ExitCodes = { OK: 0, FAILURE: 1, USAGE: 2 } as const;

export class LogshipError extends Error {
  readonly code: ErrorCode;
  /** What the user can do about it, printed after the message. */
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LogshipError';
    this.code = code;
    this.hint = options.hint;
  }

  get exitCode(): number {
    return this.code === ErrorCodes.CONFIG_INVALID || this.code === ErrorCodes.USAGE ? ExitCodes.USAGE : ExitCodes.FAILURE;
  }
}

export function isLogshipError(err: unknown, code?: ErrorCode): err is LogshipError {
  return err instanceof LogshipError && (code === undefined || err.code === code);
}

/** A message for any thrown value, without a stack. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
