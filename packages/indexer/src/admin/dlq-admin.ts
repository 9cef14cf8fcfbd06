/**
 * `logship dlq list`: inspect dead letters without removing them (every
 * letter read goes back to the queue), with the number of distinct events
 * they hold. `dlq replay` lives in dlq-replay.ts.
 */
import { createHash } from 'node:crypto';
import { MAX_PREFETCH, requireQueue, type ChannelModel, type Message } from '@logship/common';
import { DLQ_HEADERS } from '../outputs/dead-letter.js';
import { translateAmqpFailure } from './dlq-replay.js';

export { replayDeadLetters, replayWindow, translateAmqpFailure, type ReplayOptions, type ReplayResult } from './dlq-replay.js';

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

export interface DlqSettings {
  exchange: string;
  routingKey: string;
  deadLetterQueue: string;
}

function header(m: Message, name: string): unknown {
  return m.properties.headers?.[name];
}

function str(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  return Buffer.isBuffer(v) ? v.toString() : String(v);
}

/**
 * Why the broker itself dead-lettered a message (no logship header): the
 * newest x-death entry (reason, queue, count), else x-first-death-reason.
 */
function brokerReason(m: Message): string | null {
  const deaths = header(m, 'x-death');
  if (Array.isArray(deaths) && deaths.length > 0 && typeof deaths[0] === 'object' && deaths[0] !== null) {
    const d = deaths[0] as Record<string, unknown>;
    const reason = str(d.reason);
    if (reason) {
      const queue = str(d.queue);
      const count = typeof d.count === 'number' && d.count > 1 ? ` (${d.count} times)` : '';
      return `dead-lettered by the broker: ${reason}${queue ? ` in queue "${queue}"` : ''}${count}`;
    }
  }
  const first = str(header(m, 'x-first-death-reason'));
  return first ? `dead-lettered by the broker: ${first}` : null;
}

export function viewDeadLetter(m: Message, previewBytes = 120): DeadLetterView {
  const status = header(m, DLQ_HEADERS.status);
  return {
    eventId: str(header(m, DLQ_HEADERS.eventId)) ?? str(m.properties.messageId),
    type: str(header(m, DLQ_HEADERS.type)),
    status: typeof status === 'number' ? status : status === undefined ? null : Number(status),
    reason: str(header(m, DLQ_HEADERS.reason)) ?? brokerReason(m),
    index: str(header(m, DLQ_HEADERS.index)),
    failedAt: str(header(m, DLQ_HEADERS.failedAt)),
    bytes: m.content.length,
    preview: m.content
      .subarray(0, previewBytes)
      .toString('utf8')
      .replace(/[\r\n\t]/g, ' '),
  };
}

/**
 * The identity of the event a letter holds: the event id header, else the
 * AMQP message id, else a hash of the body (the same line dead-lettered twice
 * counts once).
 */
function letterKey(m: Message): string {
  const id = str(header(m, DLQ_HEADERS.eventId)) ?? str(m.properties.messageId);
  return id !== null && id !== '' ? `id:${id}` : `sha1:${createHash('sha1').update(m.content).digest('hex')}`;
}

/** At most this many letters are read to count distinct events (all held unacked at once). */
const DISTINCT_SCAN_LIMIT = 10_000;
/** A read stops when no letter arrived for this long (another client holds the rest). */
const LIST_IDLE_MS = 500;

export interface DeadLetterListing {
  /** messages ready in the queue when the listing started */
  total: number;
  /** letters read (they all went back to the queue) */
  scanned: number;
  /** distinct events among the letters read */
  distinctEvents: number;
  /** the first `limit` letters read */
  letters: DeadLetterView[];
}

/**
 * Reads up to max(limit, DISTINCT_SCAN_LIMIT) dead letters (at most
 * MAX_PREFETCH) with a consumer that never acks, then gives them all back by
 * closing the channel: the broker requeues what a closed channel held
 * unacked. Nothing is removed.
 *
 * Closing rather than nack-with-requeue: on a quorum queue every return
 * counts against x-delivery-limit (the letter is dropped or dead-lettered
 * past it). Measured on RabbitMQ 3.10 with a quorum queue: a close raises
 * x-delivery-count by 1 per listing, nack(requeue) then close by 2, so a
 * listing costs each letter it read one count and no more. No way to read a
 * quorum queue message without counting was found on 3.10 (classic queues
 * count nothing; they only set redelivered).
 */
export async function listDeadLetters(conn: ChannelModel, s: DlqSettings, limit: number): Promise<DeadLetterListing> {
  const { messageCount } = await requireQueue(conn, s.deadLetterQueue);
  const scan = Math.min(messageCount, Math.max(limit, DISTINCT_SCAN_LIMIT), MAX_PREFETCH);
  const letters: DeadLetterView[] = [];
  const keys = new Set<string>();
  if (scan === 0) return { total: messageCount, scanned: 0, distinctEvents: 0, letters };
  let scanned = 0;
  try {
    const ch = await conn.createChannel();
    let closed: Error | null = null;
    ch.on('error', (err: Error) => (closed = err));
    try {
      await new Promise<void>((resolve, reject) => {
        let idle: NodeJS.Timeout | undefined;
        const arm = () => {
          clearTimeout(idle);
          idle = setTimeout(resolve, LIST_IDLE_MS);
        };
        ch.on('close', () => {
          clearTimeout(idle);
          reject(closed ?? new Error('channel closed'));
        });
        // prefetch bounds what the broker pushes: exactly the letters to read
        ch.prefetch(scan)
          .then(() =>
            ch.consume(s.deadLetterQueue, (m) => {
              if (!m || scanned >= scan) return;
              scanned++;
              keys.add(letterKey(m));
              if (letters.length < limit) letters.push(viewDeadLetter(m));
              if (scanned >= scan) {
                clearTimeout(idle);
                resolve();
              } else arm();
            }),
          )
          .then(arm, reject);
      });
    } finally {
      // gives every letter read back (see above): no nack, no ack
      await ch.close().catch(() => undefined);
    }
  } catch (err) {
    throw translateAmqpFailure(err, `reading dead letters from "${s.deadLetterQueue}"`, 'nothing was removed: every letter read goes back to the queue');
  }
  return { total: messageCount, scanned, distinctEvents: keys.size, letters };
}
