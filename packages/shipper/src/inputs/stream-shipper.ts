/**
 * `logship ship` for a stream (stdin): read lines, turn them into events,
 * publish through the confirm window, and account for every line.
 */
import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCodes, LogshipError, errorMessage, type Config, type Logger, type Registry } from '@logship/common';
import { EventFactory } from '../events/event-factory.js';
import { EventWriter } from '../events/event-writer.js';
import { LineClamp } from '../lines/line-clamp.js';
import { LineSplitter } from '../lines/line-splitter.js';
import { MultilineJoiner, type JoinedEvent, type MultilineOptions, type PhysicalLine } from '../lines/multiline.js';
import { ShipSession, type ShipSummary } from '../publish/ship-session.js';

export interface StreamShipperOptions {
  config: Config;
  input: Readable;
  logger: Logger;
  registry: Registry;
  inputType?: string;
  /** join lines into events (Java stack traces); a pending group is sent after timeoutMs without a new line */
  multiline?: (MultilineOptions & { timeoutMs: number }) | null;
}

const NO_TAGS: readonly string[] = [];
const MULTILINE_TAGS: readonly string[] = ['multiline'];
const MULTILINE_SPLIT_TAGS: readonly string[] = ['multiline', '_multiline_max_lines'];

export class StreamShipper {
  readonly session: ShipSession<undefined>;
  private stopRequested = false;
  private readonly runId = randomUUID();
  private lines: Writable | null = null;
  /** an exception while turning a line into an event: a local failure, not the input's */
  private eventError: LogshipError | null = null;

  constructor(private readonly options: StreamShipperOptions) {
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
    const multiline = this.options.multiline ?? null;
    const joiner = multiline ? new MultilineJoiner(multiline) : null;
    // plain single-line events are written from the input bytes; json and multiline go through strings
    const writer = config.codec === 'plain' && !joiner ? new EventWriter(scope) : null;
    const clamp = new LineClamp(config.maxLineBytes);
    let timer: NodeJS.Timeout | null = null;
    // a joined event: its id is made of its first line's sequence number
    const emit = (ev: JoinedEvent): Promise<void> | undefined => {
      if (!session.countLine(ev.text === '', ev.truncated)) return undefined;
      const tags = ev.lines > 1 ? (ev.split ? MULTILINE_SPLIT_TAGS : MULTILINE_TAGS) : NO_TAGS;
      return session.submit(factory.make(ev.text, ev.offset, ev.truncated, tags), undefined);
    };
    const join = async (line: PhysicalLine, j: MultilineJoiner): Promise<void> => {
      if (timer) clearTimeout(timer);
      timer = null;
      for (const ev of j.push(line)) await emit(ev);
      if (j.pending && multiline) {
        // a live pipe may pause after the last line of a stack trace: send the group anyway
        timer = setTimeout(() => {
          timer = null;
          const ev = j.flush();
          if (ev) void this.guard(() => emit(ev), ev.offset)?.catch(() => undefined);
        }, multiline.timeoutMs);
      }
    };
    const onLine = (buf: Buffer, start: number, end: number, i: number): Promise<void> | undefined => {
      const truncated = clamp.takeMeta(i)?.truncated ?? false;
      if (joiner) return join({ text: buf.toString('utf8', start, end), offset: i, end: i + 1, truncated }, joiner);
      if (!session.countLine(start === end, truncated)) return undefined;
      return writer
        ? session.submitLine(writer, factory, buf, start, end, i, truncated, undefined)
        : session.submit(factory.make(buf.toString('utf8', start, end), i, truncated), undefined);
    };
    // backpressure from the confirm window pauses the input, and the common
    // path runs without a promise or a string per line
    const splitter = new LineSplitter((buf, start, end, i) => {
      // no closure per line: the catch handler is bound only when there is a promise to wait on
      let wait: Promise<void> | undefined;
      try {
        wait = onLine(buf, start, end, i);
      } catch (err) {
        this.fail(err, i);
      }
      if (wait) wait = wait.catch((err: unknown) => this.fail(err, i));
      if (this.stopRequested || session.failure) {
        // a wait cut short ends with the failure the session already reports
        wait?.catch(() => undefined);
        splitter.destroy();
        return undefined;
      }
      return wait;
    });
    this.lines = splitter;
    input.on('error', (err) => splitter.destroy(err));
    input.pipe(clamp);
    try {
      await pipeline(clamp, splitter);
    } catch (err) {
      if (timer) clearTimeout(timer);
      if (this.eventError) throw this.eventError;
      if (session.failure) throw session.failure;
      if (!this.stopRequested) throw new LogshipError(ErrorCodes.INPUT, `reading ${inputType} failed: ${(err as Error).message}`, { cause: err });
    }
    if (timer) clearTimeout(timer);
    // EOF or stop: the last group is complete (stdin has no checkpoint to read it again from)
    const last = joiner && !session.failure ? joiner.flush() : undefined;
    if (last) await this.guard(() => emit(last), last.offset);
    if (this.eventError) throw this.eventError;
  }

  /** Runs the event building of line n; an exception there is reported as such, never as an input error. */
  private guard(fn: () => Promise<void> | undefined, n: number): Promise<void> | undefined {
    try {
      return fn()?.catch((err: unknown) => this.fail(err, n));
    } catch (err) {
      return this.fail(err, n);
    }
  }

  /** An exception while building the event of line n: kept as the run's error and thrown. */
  private fail(err: unknown, n: number): never {
    // the session's own failures (broker refusals) are reported as they are
    if (this.session.failure || err instanceof LogshipError) throw err;
    this.eventError ??= new LogshipError(
      ErrorCodes.INPUT,
      `turning ${this.options.inputType ?? 'stdin'} line ${n + 1} into an event failed: ${errorMessage(err)}`,
      {
        hint: 'this is a bug in logship; the lines before it were shipped',
        cause: err,
      },
    );
    throw this.eventError;
  }
}
