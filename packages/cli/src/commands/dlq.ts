/** `logship dlq list|replay`: inspect dead letters; re-publish them after a fix. */
import { ErrorCodes, ExitCodes, LogshipError, connectOnce } from '@logship/common';
import { listDeadLetters, replayDeadLetters, type DeadLetterView } from '@logship/indexer';
import type { CommandContext } from '../main.js';

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
  const widths = head.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c]!.length)));
  const fmt = (row: string[]) =>
    row
      .map((v, c) => v.padEnd(widths[c]!))
      .join('  ')
      .trimEnd();
  return [fmt(head), ...cells.map(fmt)].join('\n');
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
      const { total, letters } = await listDeadLetters(conn, config, config.limit || 20);
      if (config.json) process.stdout.write(`${JSON.stringify({ queue: config.deadLetterQueue, total, letters }, null, 2)}\n`);
      else {
        process.stdout.write(
          `dead-letter queue "${config.deadLetterQueue}": ${total} message(s)${letters.length < total ? `, showing ${letters.length}` : ''}\n`,
        );
        if (letters.length > 0) process.stdout.write(`${table(letters)}\n`);
      }
      return ExitCodes.OK;
    }
    const { replayed, remaining } = await replayDeadLetters(conn, config, config.limit);
    process.stdout.write(`replayed ${replayed} message(s) to exchange "${config.exchange}"; ${remaining} left in "${config.deadLetterQueue}"\n`);
    return ExitCodes.OK;
  } finally {
    await conn.close().catch(() => undefined);
  }
}
