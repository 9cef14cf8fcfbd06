/**
 * Reads a file from an offset as a byte stream. Without follow it ends at
 * EOF; with follow it polls for growth and ends only when the file was
 * truncated (copytruncate), renamed away or deleted, after reading what was
 * left. Memory is one chunk at a time, whatever the file size.
 */
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

export type TailEnd = 'eof' | 'truncated' | 'rotated' | 'deleted' | 'stopped';

export interface TailOptions {
  follow: boolean;
  pollMs: number;
  chunkBytes?: number;
}

export class TailStream extends Readable {
  position: number;
  endReason: TailEnd | null = null;
  private reading = false;
  private finishing: TailEnd | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly handle: FileHandle,
    private readonly path: string,
    private readonly ino: number,
    start: number,
    private readonly o: TailOptions,
  ) {
    super({ highWaterMark: o.chunkBytes ?? 64 * 1024 });
    this.position = start;
  }

  override _read(): void {
    void this.readMore();
  }

  private async readMore(): Promise<void> {
    if (this.reading || this.destroyed) return;
    this.reading = true;
    try {
      for (;;) {
        const size = this.o.chunkBytes ?? 64 * 1024;
        const buf = Buffer.allocUnsafe(size);
        const { bytesRead } = await this.handle.read(buf, 0, size, this.position);
        if (this.destroyed) return;
        if (bytesRead > 0) {
          this.position += bytesRead;
          if (!this.push(buf.subarray(0, bytesRead))) return;
          continue;
        }
        if (!this.o.follow) return this.finish('eof');
        if (this.finishing) return this.finish(this.finishing);
        const why = await this.checkEnd();
        if (this.destroyed) return;
        if (why === 'truncated') return this.finish('truncated');
        if (why) {
          // renamed or deleted: read once more what a writer appended meanwhile
          this.finishing = why;
          continue;
        }
        this.timer = setTimeout(() => {
          this.timer = null;
          void this.readMore();
        }, this.o.pollMs);
        return;
      }
    } catch (err) {
      this.destroy(err as Error);
    } finally {
      this.reading = false;
    }
  }

  private async checkEnd(): Promise<TailEnd | null> {
    const st = await this.handle.stat();
    if (st.size < this.position) return 'truncated';
    try {
      const onDisk = await fs.promises.stat(this.path);
      if (onDisk.ino !== this.ino) return 'rotated';
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'deleted';
      throw err;
    }
    return null;
  }

  private finish(why: TailEnd): void {
    this.endReason = why;
    this.push(null);
  }

  /** Stops without ending the stream: a partial last line is not flushed. */
  stop(): void {
    this.endReason ??= 'stopped';
    if (this.timer) clearTimeout(this.timer);
    this.destroy();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    if (this.timer) clearTimeout(this.timer);
    cb(err);
  }
}
