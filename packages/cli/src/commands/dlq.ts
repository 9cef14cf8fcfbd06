/** `logship dlq list|replay`: inspect dead letters; re-publish them after a fix. */
import { ErrorCodes, ExitCodes, LogshipError, connectOnce } from '@logship/common';
import { listDeadLetters, replayDeadLetters, translateAmqpFailure, type DeadLetterListing, type DeadLetterView } from '@logship/indexer';
import type { CommandContext } from '../context.js';

function table(rows: DeadLetterView[]): string {
  const head = ['#', 'event.id', 'type', 'status', 'reason', 'first bytes'];
  const cells = rows.map((r, i) => [
    String(i + 1),
    r.eventId ?? '-',
    r.type ?? '-',
    r.status === null ? '-' : String(r.status),
    (r.reason ?? '-').slice(0, 80),
    r.preview.slice(0, 60),
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...cells.map((row) => (row[c] ?? '').length)));
  const fmt = (row: string[]) =>
    row
      .map((v, c) => v.padEnd(widths[c] ?? 0))
      .join('  ')
      .trimEnd();
  return [fmt(head), ...cells.map(fmt)].join('\n');
}

function summary(queue: string, l: DeadLetterListing): string {
  let line = `dead-letter queue "${queue}": ${l.total} message(s)`;
  if (l.scanned > 0) {
    line += `, ${l.distinctEvents} distinct event(s)`;
    if (l.scanned < l.total) line += ` among the first ${l.scanned} read`;
  }
  if (l.letters.length < l.total) line += `, showing ${l.letters.length}`;
  return `${line}\n`;
}

export async function runDlq({ config, positionals }: CommandContext): Promise<number> {
  const [action, ...rest] = positionals;
  if ((action !== 'list' && action !== 'replay') || rest.length > 0) {
    throw new LogshipError(ErrorCodes.USAGE, action ? `unknown dlq action "${positionals.join(' ')}"` : 'dlq needs an action', {
      hint: 'logship dlq list [--limit N] [--json]  or  logship dlq replay [--limit N]',
    });
  }
  const conn = await connectOnce(config, 'dlq');
  try {
    if (action === 'list') {
      const listing = await listDeadLetters(conn, config, config.limit || 20);
      if (config.json) process.stdout.write(`${JSON.stringify({ queue: config.deadLetterQueue, ...listing }, null, 2)}\n`);
      else {
        process.stdout.write(summary(config.deadLetterQueue, listing));
        if (listing.letters.length > 0) process.stdout.write(`${table(listing.letters)}\n`);
      }
      return ExitCodes.OK;
    }
    const r = await replayDeadLetters(conn, config, config.limit, { window: config.maxInflight });
    const left = r.remaining === null ? '' : `; ${r.remaining} left in "${config.deadLetterQueue}"`;
    const newer = r.leftNewer ? ' (letters dead-lettered after the replay started are left for the next replay)' : '';
    process.stdout.write(
      `replayed ${r.replayed} message(s) to exchange "${config.exchange}" in ${r.seconds.toFixed(1)} s (${Math.round(r.perSecond)}/s)${left}${newer}\n`,
    );
    return ExitCodes.OK;
  } catch (err) {
    // amqplib errors (a broker restart mid-run) become a plain message, never a stack trace
    throw translateAmqpFailure(err, `dlq ${action}`, 'nothing was removed that was not replayed first');
  } finally {
    await conn.close().catch(() => undefined);
  }
}
