/**
 * `logship dlq list|replay`: inspect dead letters without removing them, and
 * re-publish them to the main exchange (confirmed, routed) before removing
 * each one from the dead-letter queue.
 */
import { ErrorCodes, LogshipError, errorMessage, requireQueue, type ChannelModel, type ConfirmChannel, type Message } from '@logship/common';
import { DLQ_HEADERS } from './dead-letter.js';

export interface DeadLetterView {
  eventId: string | null;
  type: string | null;
  status: number | null;
  reason: string | null;
  index: string | null;
  failedAt: string | null;
  bytes: number;
  preview: string;
}

function header(m: Message, name: string): unknown {
  return m.properties.headers?.[name];
}

function str(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  return Buffer.isBuffer(v) ? v.toString() : String(v);
}

export function viewDeadLetter(m: Message, previewBytes = 120): DeadLetterView {
  const status = header(m, DLQ_HEADERS.status);
  return {
    eventId: str(header(m, DLQ_HEADERS.eventId)) ?? str(m.properties.messageId),
    type: str(header(m, DLQ_HEADERS.type)),
    status: typeof status === 'number' ? status : status === undefined ? null : Number(status),
    reason: str(header(m, DLQ_HEADERS.reason)) ?? str(header(m, 'x-first-death-reason')),
    index: str(header(m, DLQ_HEADERS.index)),
    failedAt: str(header(m, DLQ_HEADERS.failedAt)),
    bytes: m.content.length,
    preview: m.content
      .subarray(0, previewBytes)
      .toString('utf8')
      .replace(/[\r\n\t]/g, ' '),
  };
}

export interface DlqSettings {
  exchange: string;
  routingKey: string;
  deadLetterQueue: string;
}

/** Reads up to `limit` dead letters and puts them back (nothing is removed). */
export async function listDeadLetters(conn: ChannelModel, s: DlqSettings, limit: number): Promise<{ total: number; letters: DeadLetterView[] }> {
  const { messageCount } = await requireQueue(conn, s.deadLetterQueue);
  const ch = await conn.createChannel();
  ch.on('error', () => undefined);
  const letters: DeadLetterView[] = [];
  try {
    for (let i = 0; i < Math.min(limit, messageCount); i++) {
      const m = await ch.get(s.deadLetterQueue, { noAck: false });
      if (!m) break;
      letters.push(viewDeadLetter(m));
    }
    ch.nackAll(true);
  } finally {
    await ch.close().catch(() => undefined);
  }
  return { total: messageCount, letters };
}

function publishConfirmed(ch: ConfirmChannel, s: DlqSettings, m: Message, returned: { flag: boolean }): Promise<void> {
  const headers: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m.properties.headers ?? {})) {
    if (
      !k.startsWith('x-logship-error') &&
      k !== DLQ_HEADERS.failedAt &&
      !k.startsWith('x-death') &&
      k !== 'x-first-death-exchange' &&
      k !== 'x-first-death-queue' &&
      k !== 'x-first-death-reason'
    )
      headers[k] = v;
  }
  headers['x-logship-replayed'] = Number(headers['x-logship-replayed'] ?? 0) + 1;
  returned.flag = false;
  return new Promise((resolve, reject) => {
    try {
      ch.publish(
        s.exchange,
        s.routingKey,
        m.content,
        {
          persistent: true,
          mandatory: true,
          contentType: m.properties.contentType ?? 'application/json',
          ...(m.properties.messageId ? { messageId: m.properties.messageId } : {}),
          ...(m.properties.timestamp ? { timestamp: m.properties.timestamp } : {}),
          appId: 'logship',
          headers,
        },
        (err) => (err ? reject(err) : returned.flag ? reject(new Error('returned: no queue bound')) : resolve()),
      );
    } catch (err) {
      reject(err);
    }
  });
}

/**
 * Re-publishes dead letters to the main exchange, each removed from the
 * dead-letter queue only after the broker confirmed and routed its copy.
 * Replays at most `limit` (0: the ones there when it starts).
 */
export async function replayDeadLetters(conn: ChannelModel, s: DlqSettings, limit: number): Promise<{ replayed: number; remaining: number }> {
  const { messageCount } = await requireQueue(conn, s.deadLetterQueue);
  const target = limit > 0 ? Math.min(limit, messageCount) : messageCount;
  const pub = await conn.createConfirmChannel();
  const get = await conn.createChannel();
  const returned = { flag: false };
  let channelError: Error | null = null;
  pub.on('return', () => (returned.flag = true));
  pub.on('error', (err: Error) => (channelError = err));
  get.on('error', (err: Error) => (channelError = err));
  let replayed = 0;
  try {
    while (replayed < target) {
      const m = await get.get(s.deadLetterQueue, { noAck: false });
      if (!m) break;
      try {
        await publishConfirmed(pub, s, m, returned);
      } catch (err) {
        get.nack(m, false, true);
        const why = channelError ? errorMessage(channelError) : errorMessage(err);
        throw new LogshipError(ErrorCodes.NOT_CONFIRMED, `replay stopped after ${replayed} message(s): ${why}`, {
          hint: /returned/.test(why)
            ? `no queue is bound to exchange "${s.exchange}" with routing key "${s.routingKey}": run logship bootstrap`
            : 'the message that failed is still in the dead-letter queue; run the replay again',
        });
      }
      get.ack(m);
      replayed++;
    }
  } finally {
    await pub.close().catch(() => undefined);
    await get.close().catch(() => undefined);
  }
  const { messageCount: remaining } = await requireQueue(conn, s.deadLetterQueue);
  return { replayed, remaining };
}
