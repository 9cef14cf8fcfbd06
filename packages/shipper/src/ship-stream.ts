/**
 * `logship ship` for a stream (stdin): read lines, turn them into events,
 * publish through the confirm window, and account for every line.
 */
import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCodes, LogshipError, type Config, type Logger, type Registry } from '@logship/common';
import { EventFactory } from './event-factory.js';
import { EventWriter } from './event-writer.js';
import { LineClamp } from './line-clamp.js';
import { LineSink } from './line-sink.js';
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
  private lines: Writable | null = null;

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
    const scope = { hostName: config.hostName, inputType, scope: this.runId };
    const factory = new EventFactory({ ...scope, codec: config.codec });
    // plain events are written from the input bytes; json lines are decoded and parsed
    const writer = config.codec === 'plain' ? new EventWriter(scope) : null;
    const clamp = new LineClamp(config.maxLineBytes);
    // backpressure from the confirm window pauses the input, and the common
    // path runs without a promise or a string per line
    const sink = new LineSink((buf, start, end, i) => {
      session.countRead();
      if (start === end) {
        session.countSkipped();
        return undefined;
      }
      const truncated = clamp.takeMeta(i)?.truncated ?? false;
      if (truncated) session.countTruncated();
      const wait = writer
        ? session.submitLine(writer, factory, buf, start, end, i, truncated, undefined)
        : session.submit(factory.make(buf.toString('utf8', start, end), i, truncated), undefined);
      if (this.stopRequested || session.failure) {
        // a wait cut short ends with the failure the session already reports
        wait?.catch(() => undefined);
        sink.destroy();
        return undefined;
      }
      return wait;
    });
    this.lines = sink;
    input.on('error', (err) => sink.destroy(err));
    input.pipe(clamp);
    try {
      await pipeline(clamp, sink);
    } catch (err) {
      if (this.stopRequested) return;
      if (session.failure) throw session.failure;
      throw new LogshipError(ErrorCodes.INPUT, `reading ${inputType} failed: ${(err as Error).message}`, { cause: err });
    }
  }
}
