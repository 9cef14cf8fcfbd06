/** What a test of file shipping can observe: checkpoints on disk, a drained pipeline, a shipper's /health. */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AMQP_URL, queueDepth } from './amqp.js';
import { metricValue } from './pipeline.js';
import { waitFor } from './wait.js';

export interface CheckpointEntry {
  fileId: string;
  path: string;
  dev: number;
  ino: number;
  offset: number;
  generation: number;
  fingerprint: { length: number; hash: string };
}

/** numbered lines of about 55 bytes: "<tag> <i> the quick brown fox ..." */
export function lines(from: number, to: number, tag = 'line'): string {
  let out = '';
  for (let i = from; i < to; i++) out += `${tag} ${i} the quick brown fox jumps over the lazy dog\n`;
  return out;
}

export function lineList(from: number, to: number, tag = 'line'): string[] {
  return lines(from, to, tag).trimEnd().split('\n');
}

/** The entries of checkpoints.json (none while it does not exist). */
export function checkpoints(stateDir: string): CheckpointEntry[] {
  try {
    return (JSON.parse(fs.readFileSync(path.join(stateDir, 'checkpoints.json'), 'utf8')) as { files: CheckpointEntry[] }).files;
  } catch {
    return [];
  }
}

/** Does the file start with the bytes this entry fingerprinted (the shipper's own hash)? */
function startsAs(content: Buffer, e: CheckpointEntry): boolean {
  const start = content.subarray(0, e.fingerprint.length);
  return start.length === e.fingerprint.length && createHash('sha256').update(start).digest('hex').slice(0, 32) === e.fingerprint.hash;
}

/**
 * Every file has a checkpoint on disk at its end: all it holds was read,
 * confirmed and saved. The entry must be of this content (inode and
 * fingerprint): a stale entry of a copytruncated file may have the same size.
 */
export function checkpointedToEnd(stateDir: string, files: string[]): boolean {
  const entries = checkpoints(stateDir);
  return files.every((f) => {
    const st = fs.statSync(f);
    const content = fs.readFileSync(f);
    return entries.some((e) => e.ino === st.ino && e.dev === st.dev && e.offset === st.size && startsAs(content, e));
  });
}

/** No message waits in the queue and the indexer holds no delivery: what reached ES is final. */
export async function drained(queue: string, indexerUrl: string, amqpUrl = AMQP_URL): Promise<boolean> {
  const depth = await queueDepth(queue, amqpUrl);
  return depth.messageCount === 0 && (await metricValue(indexerUrl, 'logship_indexer_unacked_deliveries')) === 0;
}

export interface ShipHealth {
  status: string;
  filesActive: number;
  bytesRead: number;
  inputProblems: Record<string, string>;
  checkpoints: { ok: boolean; error: string | null; since: string | null; savedAt: string | null; checkedAt: string | null };
  summary: { read: number; published: number };
}

export async function shipHealth(url: string): Promise<ShipHealth> {
  return (await (await fetch(`${url}/health`)).json()) as ShipHealth;
}

/** Waits until the shipper's /health satisfies `ok` (named `what` in the timeout error) and returns it. */
export function shipHealthWhen(url: string, what: string, ok: (h: ShipHealth) => boolean, timeoutMs = 10_000): Promise<ShipHealth> {
  return waitFor(
    what,
    async () => {
      const h = await shipHealth(url);
      return ok(h) ? h : undefined;
    },
    timeoutMs,
    50,
  );
}

/** The URL a `ship --follow --metrics-port 0` serves, from its log (LOGSHIP_LOG_LEVEL=info). */
export function servedUrl(stderr: string): string | undefined {
  return /"url":"(http:\/\/[^"]+)","metrics"/.exec(stderr)?.[1];
}
