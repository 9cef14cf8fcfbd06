/**
 * Publishes events that can never be indexed to the dead-letter exchange,
 * with the reason in headers, and waits for the broker's confirm. The publish
 * is `mandatory`: a dead letter that no queue takes (the dead-letter queue was
 * deleted, or never declared) comes back as a basic.return before its confirm,
 * and counts as a failure, never as dead-lettered; so do a nack and a channel
 * that closes first. The caller keeps the delivery unacked and retries.
 */
import { randomBytes } from 'node:crypto';
import {
  ChannelKeeper,
  ErrorCodes,
  LogshipError,
  errorMessage,
  isBrokerNotFound,
  type ConfirmChannel,
  type Logger,
  type Message,
  type RecoveringChannelModel,
} from '@logship/common';

export interface DeadLetterReason {
  type: string;
  reason: string;
  status?: number | undefined;
  index?: string | undefined;
  eventId?: string | undefined;
}

export const DLQ_HEADERS = {
  type: 'x-logship-error-type',
  reason: 'x-logship-error-reason',
  status: 'x-logship-error-status',
  index: 'x-logship-index',
  eventId: 'x-logship-event-id',
  failedAt: 'x-logship-failed-at',
  routingKey: 'x-logship-routing-key',
  /** set on a dead letter whose body was cut short: the original body's size in bytes */
  truncated: 'x-logship-truncated',
} as const;

/**
 * The largest body a dead letter carries: 16 MiB. RabbitMQ refuses messages
 * over max_message_size (128 MB by default on 3.x, often set lower) by closing
 * the channel, so a letter that large could never be published and its
 * delivery would be retried forever. A longer body is cut to this size, with
 * its original size in x-logship-truncated; 16 MiB keeps enough to see what
 * the event was.
 */
export const MAX_DEAD_LETTER_BYTES = 16 * 1024 * 1024;

/**
 * What a dead letter is cut to when the broker refused it for its size even
 * under MAX_DEAD_LETTER_BYTES (a max_message_size set lower): 64 KiB.
 */
export const REFUSED_DEAD_LETTER_BYTES = 64 * 1024;

/** AMQP properties of a dead letter, from the delivery it comes from. */
export interface DeadLetterProperties {
  /** the body's content type (the delivery's, for poison; application/json for a rejected document) */
  contentType?: string | undefined;
  /** the body's content encoding, when it is the body as received (gzip, deflate, unknown) */
  contentEncoding?: string | undefined;
  /** the body was cut short: the original size in bytes */
  truncatedFrom?: number | undefined;
}

/**
 * Whether a publish failed because the broker refuses a message that large
 * (max_message_size: "PRECONDITION_FAILED - message size N is larger than
 * configured max size M"): publishing it again can never succeed.
 */
export function isSizeRefusal(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (/message size \d+ is larger than|larger than configured max size/i.test(errorMessage(e))) return true;
  }
  return false;
}

const MAX_REASON = 2000;

/**
 * A reason as a dead letter's header and the log line carry it: at most 2000
 * characters. Elasticsearch's parse errors quote the value they refused, and
 * a reason may be as long as the event.
 */
export function shortReason(reason: string): string {
  return reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON)}...` : reason;
}

export class DeadLetterPublisher {
  /** opened on the first dead letter and again on the next one after it closed */
  private readonly channels: ChannelKeeper<ConfirmChannel>;
  /** correlation ids of dead letters the broker returned (a return arrives before the confirm of the same publish) */
  private readonly returned = new Set<string>();
  /** each publish gets its own correlation id: dead letters of one event may repeat, a return must match one publish */
  private readonly idPrefix = randomBytes(6).toString('hex');
  private sequence = 0;

  constructor(
    private readonly conn: RecoveringChannelModel,
    private readonly exchange: string,
    private readonly routingKey: string,
    private readonly logger: Logger,
    /** named in the error when a dead letter is returned */
    private readonly queue: string,
  ) {
    this.channels = new ChannelKeeper<ConfirmChannel>({
      open: () => this.conn.createConfirmChannel(),
      errored: (err) => this.logger.debug({ err: errorMessage(err) }, 'dead-letter channel closed by the broker'),
      ready: (ch) => {
        ch.on('return', (m: Message) => {
          const id = m.properties.correlationId as string | undefined;
          if (id) this.returned.add(id);
        });
      },
      reopenAfterCloseMs: null,
      retryAfterFailureMs: null,
    });
  }

  /** the error for a dead letter the broker returned: no queue is bound */
  private unroutable(): LogshipError {
    return new LogshipError(
      ErrorCodes.UNROUTABLE,
      `the broker returned a dead letter: no queue is bound to dead-letter exchange "${this.exchange}" with routing key "${this.routingKey}" (is dead-letter queue "${this.queue}" deleted?)`,
      { hint: 'run logship bootstrap to declare the dead-letter queue and its binding; the delivery stays unacked and is retried' },
    );
  }

  private notConfirmed(err: unknown, channelError: Error | null): LogshipError {
    const cause = channelError ?? err;
    const msg = errorMessage(cause);
    if (isBrokerNotFound(cause)) {
      return new LogshipError(ErrorCodes.TOPOLOGY_MISSING, `dead-letter exchange "${this.exchange}" does not exist (${msg})`, {
        hint: 'run logship bootstrap to declare the dead-letter exchange and queue; the delivery stays unacked and is retried',
        cause,
      });
    }
    return new LogshipError(ErrorCodes.NOT_CONFIRMED, `the broker did not confirm a dead letter to exchange "${this.exchange}": ${msg}`, {
      hint: 'the delivery stays unacked and is retried',
      cause,
    });
  }

  /**
   * Resolves once the broker confirmed the dead letter and routed it to a
   * queue; rejects with a LogshipError otherwise (the caller retries).
   */
  async publish(body: Buffer, why: DeadLetterReason, props: DeadLetterProperties = {}): Promise<void> {
    let ch: ConfirmChannel;
    try {
      ch = await this.channels.acquire();
    } catch (err) {
      throw this.notConfirmed(err, null);
    }
    const headers: Record<string, unknown> = {
      [DLQ_HEADERS.type]: why.type,
      [DLQ_HEADERS.reason]: shortReason(why.reason),
      [DLQ_HEADERS.failedAt]: new Date().toISOString(),
      [DLQ_HEADERS.routingKey]: this.routingKey,
    };
    if (why.status !== undefined) headers[DLQ_HEADERS.status] = why.status;
    if (why.index !== undefined) headers[DLQ_HEADERS.index] = why.index;
    if (why.eventId !== undefined) headers[DLQ_HEADERS.eventId] = why.eventId;
    if (props.truncatedFrom !== undefined) headers[DLQ_HEADERS.truncated] = props.truncatedFrom;
    const id = `${this.idPrefix}-${++this.sequence}`;
    await new Promise<void>((resolve, reject) => {
      try {
        ch.publish(
          this.exchange,
          this.routingKey,
          body,
          {
            persistent: true,
            mandatory: true,
            contentType: props.contentType ?? 'application/json',
            ...(props.contentEncoding ? { contentEncoding: props.contentEncoding } : {}),
            headers,
            correlationId: id,
            ...(why.eventId ? { messageId: why.eventId } : {}),
            appId: 'logship',
          },
          (err) => {
            const returned = this.returned.delete(id);
            if (err) reject(this.notConfirmed(err, this.channels.errorOf(ch)));
            else if (returned) reject(this.unroutable());
            else resolve();
          },
        );
      } catch (err) {
        reject(this.notConfirmed(err, this.channels.errorOf(ch)));
      }
    });
  }

  async close(): Promise<void> {
    await this.channels.close();
  }
}
