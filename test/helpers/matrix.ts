/**
 * The fault matrix harness: one corpus, one run per scenario, and a table of
 * sent, indexed, duplicates avoided (409), dead-lettered, lost and duplicated.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { queueDepth, withChannel, type Names } from './amqp.js';
import { startCli, type RunningCli } from './cli.js';
import type { EsTarget } from './es.js';
import { bootstrap, metricValue, startIndexer, type IndexerProcess } from './pipeline.js';
import type { Pipeline } from './use-pipeline.js';
import { waitFor } from './wait.js';

export interface MatrixRow {
  scenario: string;
  sent: number;
  indexed: number;
  duplicatesAvoided: number;
  deadLettered: number;
  lost: number;
  duplicated: number;
}

export const rows: MatrixRow[] = [];

/** `count` unique lines; marker(i) may add a word to some of them */
export function corpus(count: number, marker?: (i: number) => string): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(`evt ${i} user=u${i % 97} path=/api/v1/items/${i % 1013} status=200 took=${i % 250}ms${marker ? marker(i) : ''}`);
  return out;
}

export function formatTable(list: MatrixRow[]): string {
  const head = ['scenario', 'sent', 'indexed', 'duplicates avoided (409)', 'dead-lettered', 'lost', 'duplicated'];
  const cells = list.map((r) => [r.scenario, r.sent, r.indexed, r.duplicatesAvoided, r.deadLettered, r.lost, r.duplicated].map(String));
  const widths = head.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c]!.length)));
  const line = (row: string[]) => `| ${row.map((v, c) => v.padEnd(widths[c]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

/**
 * One run of the matrix, in test t of the fixture `pipe`: after the test its
 * indexers are killed, the double's faults cleared, its topology deleted and
 * its documents dropped from the double.
 */
export class Scenario {
  readonly n: Names;
  readonly env: Record<string, string>;
  readonly es: EsTarget;
  readonly indexers: IndexerProcess[] = [];

  constructor(
    readonly name: string,
    private readonly pipe: Pipeline,
    private readonly t: TestContext,
    amqpUrl?: string,
    extraEnv: Record<string, string> = {},
  ) {
    this.es = pipe.es;
    pipe.defer(t, () => this.es.double?.drop(this.n.indexWildcard));
    ({ n: this.n, env: this.env } = pipe.topology(t, 'matrix', extraEnv, amqpUrl));
    pipe.defer(t, () => this.es.double?.clearFaults());
  }

  async bootstrap(): Promise<void> {
    await bootstrap(this.env);
  }

  async startIndexer(extra: string[] = []): Promise<IndexerProcess> {
    const p = this.pipe.track(this.t, await startIndexer(this.env, ['--retry-backoff', '50ms', '--retry-max-backoff', '1s', ...extra]), 'SIGKILL');
    this.indexers.push(p);
    return p;
  }

  /** `logship ship ARGS` (lines on its stdin, if given), killed after the test if it still runs */
  startShipper(args: string[], lines?: string[]): RunningCli {
    const input = lines ? `${lines.join('\n')}\n` : undefined;
    return this.pipe.track(this.t, startCli(['ship', ...args], { env: this.env, input, timeoutMs: 300_000 }), 'SIGKILL');
  }

  async queueReady(url = this.n.env.LOGSHIP_AMQP_URL): Promise<number> {
    return (await queueDepth(this.n.queue, url)).messageCount;
  }

  async deadLetters(): Promise<number> {
    return (await queueDepth(this.n.deadLetterQueue, this.n.env.LOGSHIP_AMQP_URL)).messageCount;
  }

  async indexed(): Promise<number> {
    return this.es.count(this.n.indexWildcard);
  }

  async waitIndexed(n: number, timeoutMs = 120_000): Promise<void> {
    await waitFor(`${this.name}: ${n} documents`, async () => (await this.indexed()) >= n, timeoutMs, 250);
  }

  /**
   * Waits until nothing is in flight: the queue is empty and every running
   * indexer holds no unsettled delivery (so no write or dead letter can still
   * land after the check).
   */
  async waitSettled(timeoutMs = 60_000): Promise<void> {
    await waitFor(
      `${this.name}: queue empty and every indexer settled`,
      async () => {
        if ((await this.queueReady()) !== 0) return false;
        for (const p of this.indexers) {
          if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
          if ((await metricValue(p.url, 'logship_indexer_unacked_deliveries')) !== 0) return false;
        }
        return true;
      },
      timeoutMs,
      100,
    );
  }

  /** every dead letter's x-logship-event-id and message, read without removing them */
  async deadLetterEvents(): Promise<Array<{ eventId: string; message: string }>> {
    return withChannel(async (ch) => {
      const out: Array<{ eventId: string; message: string }> = [];
      for (;;) {
        const m = await ch.get(this.n.deadLetterQueue, { noAck: false });
        if (!m) break;
        const eventId = String(m.properties.headers?.['x-logship-event-id'] ?? m.properties.messageId ?? '');
        out.push({ eventId, message: String((JSON.parse(m.content.toString()) as { message?: unknown }).message) });
      }
      ch.nackAll(true);
      return out;
    }, this.n.env.LOGSHIP_AMQP_URL);
  }

  /** Compares Elasticsearch (and the dead-letter queue) with the corpus; records and checks the row. */
  async verify(sent: string[], expectDeadLettered = 0, deadLetteredDuringRun?: number): Promise<MatrixRow> {
    const docs = await this.es.all(this.n.indexWildcard);
    const counts = new Map<string, number>();
    for (const d of docs) {
      const m = String(d.source.message);
      counts.set(m, (counts.get(m) ?? 0) + 1);
    }
    const deadLettered = (await queueDepth(this.n.deadLetterQueue, this.n.env.LOGSHIP_AMQP_URL)).messageCount;
    let lost = 0;
    for (const m of sent) if (!counts.has(m)) lost++;
    lost -= deadLettered; // dead letters are kept, with their reason, not lost
    let duplicated = 0;
    for (const c of counts.values()) if (c > 1) duplicated += c - 1;
    const row: MatrixRow = {
      scenario: this.name,
      sent: sent.length,
      indexed: docs.length,
      duplicatesAvoided: this.es.double?.itemsWithStatus(this.n.indexWildcard, 409) ?? 0,
      deadLettered: deadLetteredDuringRun ?? deadLettered,
      lost,
      duplicated,
    };
    rows.push(row);
    process.stdout.write(`\n${formatTable([row])}\n`);
    assert.equal(row.lost, 0, `${this.name}: lost events`);
    assert.equal(row.duplicated, 0, `${this.name}: duplicated events`);
    assert.equal(deadLettered, expectDeadLettered, `${this.name}: dead letters left in the queue`);
    assert.equal(new Set(docs.map((d) => d.id)).size, docs.length, `${this.name}: one document per _id`);
    return row;
  }
}
