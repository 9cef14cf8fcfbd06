/**
 * `logship ship` for a stream (stdin): read lines, turn them into events,
 * publish through the confirm window, and account for every line.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ErrorCodes, LogshipError, eventId, type Config, type Logger, type Registry } from '@logship/common';
import { decodeLine } from './codec.js';
import { lineStream, type Line } from './line-source.js';
import { ShipSession, type ShipSummary } from './session.js';

export interface ShipStreamOptions {
  config: Config;
  input: Readable;
  logger: Logger;
  registry: Registry;
  inputType?: string;
}

export class StreamShipper {
  readonly session: ShipSession<undefined>;
  private stopRequested = false;
  private readonly runId = randomUUID();
  private lines: Readable | null = null;

  constructor(private readonly options: ShipStreamOptions) {
    this.session = new ShipSession({ config: options.config, logger: options.logger, registry: options.registry });
  }

  get summary(): ShipSummary {
    return this.session.summary;
  }

  /** Stop reading input; what was read is still confirmed before run() returns. */
  stop(): void {
    this.stopRequested = true;
    // the read loop may wait on input that never comes: end it
    this.lines?.destroy();
  }

  /** Runs until EOF (or stop()); resolves with the summary, throws when something was not delivered. */
  async run(): Promise<ShipSummary> {
    const session = this.session;
    await session.open();
    try {
      await this.pump();
      await session.flush();
    } finally {
      await session.close();
    }
    session.assertDelivered(this.stopRequested);
    return session.summary;
  }

  private async pump(): Promise<void> {
    const { config, input } = this.options;
    const session = this.session;
    const inputType = this.options.inputType ?? 'stdin';
    const lines = lineStream(input, { maxLineBytes: config.maxLineBytes });
    this.lines = lines;
    try {
      for await (const line of lines as AsyncIterable<Line>) {
        session.countRead();
        if (line.text === '') session.countSkipped();
        else {
          if (line.truncated) session.countTruncated();
          const event = decodeLine(line.text, config.codec, {
            id: eventId(config.hostName, this.runId, line.index),
            hostName: config.hostName,
            inputType,
            truncated: line.truncated,
          });
          await session.submit(event, undefined);
        }
        if (this.stopRequested || session.failure) break;
      }
    } catch (err) {
      if (this.stopRequested) return;
      if (session.failure) throw session.failure;
      throw new LogshipError(ErrorCodes.INPUT, `reading ${inputType} failed: ${(err as Error).message}`, { cause: err });
    }
  }
}
