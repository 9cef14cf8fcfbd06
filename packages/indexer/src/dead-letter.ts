/**
 * Publishes events that can never be indexed to the dead-letter exchange,
 * with the reason in headers, and waits for the broker's confirm.
 */
import { errorMessage, type ConfirmChannel, type Logger, type RecoveringChannelModel } from '@logship/common';

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
} as const;

const MAX_REASON = 2000;

export class DeadLetterPublisher {
  private channel: Promise<ConfirmChannel> | null = null;

  constructor(
    private readonly conn: RecoveringChannelModel,
    private readonly exchange: string,
    private readonly routingKey: string,
    private readonly logger: Logger,
  ) {}

  private getChannel(): Promise<ConfirmChannel> {
    if (!this.channel) {
      const p = this.conn.createConfirmChannel().then((ch) => {
        ch.on('error', (err: Error) => this.logger.warn({ err: errorMessage(err) }, 'dead-letter channel error'));
        ch.on('close', () => {
          if (this.channel === p) this.channel = null;
        });
        return ch;
      });
      p.catch(() => {
        if (this.channel === p) this.channel = null;
      });
      this.channel = p;
    }
    return this.channel;
  }

  /** Resolves once the broker confirmed the dead letter; rejects otherwise (the caller retries). */
  async publish(body: Buffer, why: DeadLetterReason, contentType = 'application/json'): Promise<void> {
    const ch = await this.getChannel();
    const headers: Record<string, unknown> = {
      [DLQ_HEADERS.type]: why.type,
      [DLQ_HEADERS.reason]: why.reason.length > MAX_REASON ? `${why.reason.slice(0, MAX_REASON)}...` : why.reason,
      [DLQ_HEADERS.failedAt]: new Date().toISOString(),
      [DLQ_HEADERS.routingKey]: this.routingKey,
    };
    if (why.status !== undefined) headers[DLQ_HEADERS.status] = why.status;
    if (why.index !== undefined) headers[DLQ_HEADERS.index] = why.index;
    if (why.eventId !== undefined) headers[DLQ_HEADERS.eventId] = why.eventId;
    await new Promise<void>((resolve, reject) => {
      try {
        ch.publish(
          this.exchange,
          this.routingKey,
          body,
          { persistent: true, contentType, headers, ...(why.eventId ? { messageId: why.eventId } : {}), appId: 'logship' },
          (err) => (err ? reject(err) : resolve()),
        );
      } catch (err) {
        reject(err);
      }
    });
  }

  async close(): Promise<void> {
    const p = this.channel;
    this.channel = null;
    if (p) await p.then((ch) => ch.close()).catch(() => undefined);
  }
}
