/**
 * `logship dlq replay`: re-publishes dead letters to the main exchange.
 *
 * The dead-letter queue is consumed (manual ack, prefetch = window) rather than
 * polled with basic.get, so the broker hands each letter to exactly one
 * replayer even when several run at once. Copies go out on a confirm channel
 * (mandatory, persistent) with up to `window` unconfirmed at a time; a letter
 * is acked only after its copy was confirmed and not returned. Whatever is not
 * acked when the run stops (error, lost connection) goes back to the queue.
 *
 * A run takes only letters dead-lettered before it started (x-logship-failed-at):
 * a copy that fails again while the replay runs comes back as a new letter,
 * and is left for the next replay instead of going round in a loop (two
 * replays at once would otherwise share each other's returning letters).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  ErrorCodes,
  LogshipError,
  MAX_PREFETCH,
  errorMessage,
  isBrokerAccessRefused,
  isBrokerNotFound,
  isLogshipError,
  requireQueue,
  type Channel,
  type ChannelModel,
  type ConfirmChannel,
  type Message,
} from '@logship/common';
import { DLQ_HEADERS } from '../outputs/dead-letter.js';
import type { DlqSettings } from './dlq-admin.js';

/** Unconfirmed copies at most (and letters held unacked) when no window is given: the default of --max-inflight. */
const REPLAY_WINDOW = 1000;
/** With nothing in flight and no delivery for this long, the queue is checked: empty means done. */
const IDLE_MS = 300;
/** Idle this long (letters ready but never delivered to us, e.g. a single-active-consumer queue): stop. */
const GIVE_UP_IDLE_MS = 5000;

export interface ReplayOptions {
  /** copies awaiting a confirm at most, and letters held unacked (dlq replay's --max-inflight) */
  window?: number;
}

/**
 * The replay's window: --max-inflight (default 1000), no more than the letters to replay, and no
 * more than a consumer's prefetch can hold (a 16-bit field: ship's --max-inflight has no such cap).
 */
export function replayWindow(window: number | undefined, target: number): number {
  return Math.max(1, Math.min(window ?? REPLAY_WINDOW, target, MAX_PREFETCH));
}

export interface ReplayResult {
  replayed: number;
  /** ready letters after the run; null if the broker could not be asked */
  remaining: number | null;
  seconds: number;
  perSecond: number;
  /** it stopped at letters dead-lettered after it started (left for the next replay) */
  leftNewer: boolean;
}

/** Any failure while talking to the broker, as a LogshipError (never an amqplib stack trace). */
export function translateAmqpFailure(err: unknown, doing: string, safe: string): LogshipError {
  if (isLogshipError(err)) return err;
  const msg = errorMessage(err);
  if (isBrokerNotFound(err)) {
    return new LogshipError(ErrorCodes.TOPOLOGY_MISSING, `${doing}: the broker says an exchange or queue does not exist (${msg})`, {
      hint: 'run "logship bootstrap" with the same --exchange/--queue/--dead-letter-queue settings',
      cause: err,
    });
  }
  if (isBrokerAccessRefused(err)) {
    return new LogshipError(ErrorCodes.ACCESS_REFUSED, `${doing}: the broker refused (${msg})`, {
      hint: 'grant the RabbitMQ user read on the dead-letter queue and write on the main exchange',
      cause: err,
    });
  }
  return new LogshipError(ErrorCodes.AMQP_CONNECT, `${doing}: the connection to RabbitMQ failed (${msg}); ${safe}`, {
    hint: 'run the command again once the broker answers (logship status shows it)',
    cause: err,
  });
}

const DROPPED_HEADERS = new Set([DLQ_HEADERS.failedAt, 'x-death', 'x-first-death-exchange', 'x-first-death-queue', 'x-first-death-reason']);

function copyHeaders(m: Message): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m.properties.headers ?? {})) {
    if (!k.startsWith('x-logship-error') && !k.startsWith('x-last-death') && !DROPPED_HEADERS.has(k)) headers[k] = v;
  }
  headers['x-logship-replayed'] = Number(headers['x-logship-replayed'] ?? 0) + 1;
  return headers;
}

class ReplayRun {
  private delivered = 0;
  private inflight = 0;
  replayed = 0;
  /** copies confirmed whose letter could not be acked (channel gone): the letter is back in the queue */
  ackLost = 0;
  failure: LogshipError | null = null;
  private stopping = false;
  private finished = false;
  private consumerTag: string | null = null;
  private lastActivity = performance.now();
  /** correlation ids of copies the broker returned (no queue bound), until their confirm arrives */
  private returned = new Set<string>();
  private readonly runId = randomBytes(6).toString('hex');
  private sequence = 0;
  /** a letter dead-lettered after the start was met: the older ones are all taken */
  reachedNewer = false;
  private ticker: NodeJS.Timeout | null = null;
  private checking = false;
  private resolve!: () => void;
  readonly done = new Promise<void>((r) => (this.resolve = r));

  constructor(
    private readonly s: DlqSettings,
    private readonly pub: ConfirmChannel,
    private readonly sub: Channel,
    private readonly target: number,
    private readonly startedAt: number,
  ) {
    pub.on('return', (m: Message) => {
      const id = m.properties.correlationId as string | undefined;
      if (id) this.returned.add(id);
    });
    for (const ch of [pub, sub]) {
      ch.on('error', (err: Error) => this.fail(this.lost(err)));
      ch.on('close', () => this.fail(this.lost(new Error('channel closed'))));
    }
  }

  async start(window: number): Promise<void> {
    await this.sub.prefetch(window);
    const { consumerTag } = await this.sub.consume(this.s.deadLetterQueue, (m) => this.onLetter(m), { noAck: false });
    this.consumerTag = consumerTag;
    if (this.stopping) this.cancel();
    this.ticker = setInterval(() => void this.idleCheck(), IDLE_MS / 2);
  }

  private lost(err: Error): LogshipError {
    return new LogshipError(ErrorCodes.AMQP_CONNECT, `the channel to RabbitMQ closed (${errorMessage(err)})`, { cause: err });
  }

  private onLetter(m: Message | null): void {
    if (m === null) {
      this.fail(new LogshipError(ErrorCodes.TOPOLOGY_MISSING, `the broker cancelled the consumer of "${this.s.deadLetterQueue}" (queue deleted?)`));
      return;
    }
    if (this.stopping || this.delivered >= this.target) {
      this.giveBack(m);
      return;
    }
    if (this.newerThanRun(m)) {
      this.reachedNewer = true;
      this.giveBack(m);
      this.stop();
      this.maybeFinish();
      return;
    }
    this.delivered++;
    this.inflight++;
    this.lastActivity = performance.now();
    if (this.delivered >= this.target) this.stop();
    const correlationId = `replay-${this.runId}-${++this.sequence}`;
    try {
      this.pub.publish(
        this.s.exchange,
        this.s.routingKey,
        m.content,
        {
          persistent: true,
          mandatory: true,
          contentType: m.properties.contentType ?? 'application/json',
          // poison dead-lettered as received (gzip, deflate): without it the copy would be indexed as text
          ...(m.properties.contentEncoding ? { contentEncoding: m.properties.contentEncoding } : {}),
          ...(m.properties.messageId ? { messageId: m.properties.messageId } : {}),
          ...(m.properties.timestamp ? { timestamp: m.properties.timestamp } : {}),
          appId: 'logship',
          correlationId,
          headers: copyHeaders(m),
        },
        (err) => this.settle(m, correlationId, err),
      );
    } catch (err) {
      // amqplib throws IllegalOperationError when the channel is already closed
      this.settle(m, correlationId, err);
    }
  }

  /** Dead-lettered (by logship) after this run started: a copy that failed again, or a new failure. */
  private newerThanRun(m: Message): boolean {
    const raw = m.properties.headers?.[DLQ_HEADERS.failedAt];
    const at = typeof raw === 'string' || Buffer.isBuffer(raw) ? Date.parse(raw.toString()) : Number.NaN;
    return !Number.isNaN(at) && at >= this.startedAt;
  }

  private settle(m: Message, correlationId: string, err: unknown): void {
    this.inflight--;
    this.lastActivity = performance.now();
    // a return arrives before the confirm of the same publish (frames are in order)
    const returned = this.returned.delete(correlationId);
    if (!err && returned) {
      this.giveBack(m);
      this.fail(
        new LogshipError(ErrorCodes.UNROUTABLE, `exchange "${this.s.exchange}" routed a copy to no queue (routing key "${this.s.routingKey}")`, {
          hint: `no queue is bound to exchange "${this.s.exchange}" with routing key "${this.s.routingKey}": run logship bootstrap, then replay again`,
        }),
      );
    } else if (err) {
      this.giveBack(m);
      const msg = errorMessage(err);
      // amqplib fails every pending confirm with "channel closed" before it reports why the connection went
      this.fail(
        /closed/i.test(msg)
          ? this.lost(err instanceof Error ? err : new Error(msg))
          : new LogshipError(ErrorCodes.NOT_CONFIRMED, `the broker did not confirm a copy (${msg})`, {
              hint: 'the letter stays in the dead-letter queue; run the replay again',
            }),
      );
    } else {
      try {
        this.sub.ack(m);
      } catch {
        this.ackLost++;
      }
      this.replayed++;
    }
    this.maybeFinish();
  }

  /** Nack with requeue; if the channel is gone the broker requeues it anyway. */
  private giveBack(m: Message): void {
    try {
      this.sub.nack(m, false, true);
    } catch {
      /* channel closed: unacked letters go back to the queue */
    }
  }

  private cancel(): void {
    if (this.consumerTag === null) return;
    const tag = this.consumerTag;
    this.consumerTag = null;
    this.sub.cancel(tag).catch(() => undefined);
  }

  private stop(): void {
    this.stopping = true;
    this.cancel();
  }

  fail(err: LogshipError): void {
    if (this.finished) return;
    if (!this.failure) this.failure = err;
    this.stop();
    this.maybeFinish();
  }

  private maybeFinish(): void {
    if (this.finished || this.inflight > 0) return;
    if (this.failure || this.stopping) this.finish();
  }

  private finish(): void {
    this.finished = true;
    if (this.ticker) clearInterval(this.ticker);
    this.resolve();
  }

  private async idleCheck(): Promise<void> {
    const idle = performance.now() - this.lastActivity;
    if (this.finished || this.checking || this.inflight > 0 || idle < IDLE_MS) return;
    if (idle >= GIVE_UP_IDLE_MS) {
      this.stop();
      this.maybeFinish();
      return;
    }
    this.checking = true;
    try {
      const { messageCount } = await this.sub.checkQueue(this.s.deadLetterQueue);
      // nothing ready and nothing arrived meanwhile: the queue is drained (or another replayer holds the rest)
      if (messageCount === 0 && this.inflight === 0) {
        this.stop();
        this.maybeFinish();
      }
    } catch {
      /* the close handler reports it */
    } finally {
      this.checking = false;
    }
  }
}

async function readyCount(conn: ChannelModel, queue: string): Promise<number | null> {
  try {
    return (await requireQueue(conn, queue)).messageCount;
  } catch {
    return null;
  }
}

/**
 * Replays at most `limit` letters (0: as many as were there at the start),
 * stopping earlier when the queue is empty. Throws a LogshipError with the
 * counts if it stops on an error; nothing is lost either way.
 */
export async function replayDeadLetters(conn: ChannelModel, s: DlqSettings, limit: number, options: ReplayOptions = {}): Promise<ReplayResult> {
  const started = performance.now();
  const startedAt = Date.now();
  const { messageCount } = await requireQueue(conn, s.deadLetterQueue);
  const target = limit > 0 ? limit : messageCount;
  const result = (replayed: number, remaining: number | null, leftNewer = false): ReplayResult => {
    const seconds = (performance.now() - started) / 1000;
    return { replayed, remaining, seconds, perSecond: seconds > 0 ? replayed / seconds : 0, leftNewer };
  };
  if (target === 0) return result(0, messageCount);
  const safe = 'nothing was removed that was not replayed first';
  let pub: ConfirmChannel;
  let sub: Channel;
  try {
    pub = await conn.createConfirmChannel();
    sub = await conn.createChannel();
  } catch (err) {
    throw translateAmqpFailure(err, 'dlq replay could not open its channels', safe);
  }
  // a server-initiated close (broker restart) comes as 'close' with the reason, after the channels closed
  let connectionError: Error | null = null;
  const onConnectionClose = (err?: Error) => (connectionError = err ?? new Error('connection closed'));
  conn.on('close', onConnectionClose);
  const run = new ReplayRun(s, pub, sub, target, startedAt);
  try {
    await run.start(replayWindow(options.window, target));
  } catch (err) {
    run.fail(translateAmqpFailure(err, `dlq replay could not consume "${s.deadLetterQueue}"`, safe));
  }
  await run.done;
  await sub.close().catch(() => undefined);
  await pub.close().catch(() => undefined);
  const remaining = connectionError ? null : await readyCount(conn, s.deadLetterQueue);
  conn.off('close', onConnectionClose);
  const failure: LogshipError | null = connectionError
    ? new LogshipError(ErrorCodes.AMQP_CONNECT, `the connection to RabbitMQ was lost (${errorMessage(connectionError)})`)
    : run.failure;
  if (!failure) return result(run.replayed, remaining, run.reachedNewer);
  const left =
    remaining !== null
      ? `${remaining} letter(s) are left in "${s.deadLetterQueue}"`
      : `of the ${messageCount} letter(s) in "${s.deadLetterQueue}" at the start, those not replayed stay there`;
  const twice =
    run.ackLost > 0
      ? `; ${run.ackLost} of the replayed letter(s) are also still in the queue (their removal was lost with the channel): replaying them again makes duplicates the indexer drops by event id`
      : '';
  throw new LogshipError(
    failure.code,
    `dlq replay stopped: ${failure.message}. Replayed ${run.replayed} letter(s) to exchange "${s.exchange}" (each copy confirmed before its letter was removed); ` +
      `${left}; letters not yet confirmed went back to the queue unacknowledged: nothing is lost${twice}`,
    {
      hint:
        failure.hint ??
        'run "logship dlq replay" again once the broker answers; a letter whose removal was lost with the connection may be replayed twice, and the indexer drops the duplicate by event id',
      cause: failure,
    },
  );
}
