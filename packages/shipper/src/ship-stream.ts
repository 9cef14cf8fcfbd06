/**
 * `logship ship` for a stream (stdin): read lines, turn them into events,
 * publish through the confirm window, and account for every line.
 */
import { randomUUID } from 'node:crypto';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCodes, LogshipError, type Config, type Logger, type Registry } from '@logship/common';
import { EventFactory } from './event-factory.js';
import { textLineStream } from './line-source.js';
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
    const factory = new EventFactory({ hostName: config.hostName, inputType, codec: config.codec, scope: this.runId });
    const { lines, meta } = textLineStream(input, { maxLineBytes: config.maxLineBytes });
    this.lines = lines;
    let index = 0;
    // a Writable sink: backpressure from the confirm window pauses the input,
    // and the common path runs without a promise per line
    const sink = new Writable({
      objectMode: true,
      highWaterMark: 1024,
      write: (text: string, _enc, cb) => {
        const i = index++;
        session.countRead();
        let wait: Promise<void> | undefined;
        if (text === '') session.countSkipped();
        else {
          const truncated = meta(i)?.truncated ?? false;
          if (truncated) session.countTruncated();
          wait = session.submit(factory.make(text, i, truncated), undefined);
        }
        if (this.stopRequested || session.failure) {
          lines.destroy();
          return cb();
        }
        if (wait) wait.then(() => cb(), cb);
        else cb();
      },
    });
    try {
      await pipeline(lines, sink);
    } catch (err) {
      if (this.stopRequested) return;
      if (session.failure) throw session.failure;
      throw new LogshipError(ErrorCodes.INPUT, `reading ${inputType} failed: ${(err as Error).message}`, { cause: err });
    }
  }
}
