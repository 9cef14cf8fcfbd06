/**
 * `--output stdout` and `--output file:PATH`: NDJSON instead of Elasticsearch,
 * with the same ack rule: a batch is acknowledged after it was written (and,
 * for a file, synced to disk).
 */
import fs from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { errorMessage } from '@logship/common';
import type { Document } from '../decode/decode.js';
import type { ItemOutcome, Output } from './output.js';

function render(docs: readonly Document[]): string {
  let out = '';
  for (const d of docs) out += `${d.source}\n`;
  return out;
}

export class StreamOutput implements Output {
  readonly name = 'stdout';
  readonly reachable = true;
  constructor(private readonly stream: Writable) {}

  write(docs: readonly Document[]): Promise<ItemOutcome[]> {
    return new Promise((resolve) => {
      this.stream.write(render(docs), (err) => {
        const outcome: ItemOutcome = err ? { kind: 'retry', status: undefined, reason: `stdout: ${errorMessage(err)}` } : { kind: 'ok' };
        resolve(docs.map(() => outcome));
      });
    });
  }

  async close(): Promise<void> {}
}

export class FileOutput implements Output {
  readonly name: string;
  private ok = true;
  private handle: fs.FileHandle | null = null;

  constructor(private readonly path: string) {
    this.name = `file:${path}`;
  }

  get reachable(): boolean {
    return this.ok;
  }

  async open(): Promise<void> {
    this.handle = await fs.open(this.path, 'a');
  }

  /** one append (and sync) at a time, whatever --bulk-concurrency: appends in flight together could interleave */
  private tail: Promise<unknown> = Promise.resolve();

  write(docs: readonly Document[]): Promise<ItemOutcome[]> {
    const written = this.tail.then(() => this.append(docs));
    this.tail = written;
    return written;
  }

  private async append(docs: readonly Document[]): Promise<ItemOutcome[]> {
    try {
      if (!this.handle) await this.open();
      await this.handle!.appendFile(render(docs));
      await this.handle!.datasync();
      this.ok = true;
      return docs.map(() => ({ kind: 'ok' }));
    } catch (err) {
      this.ok = false;
      const reason = `cannot write ${this.path}: ${errorMessage(err)}`;
      return docs.map(() => ({ kind: 'retry', status: undefined, reason }));
    }
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = null;
  }
}
