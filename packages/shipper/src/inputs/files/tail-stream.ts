/**
 * Reads a file from an offset as a byte stream. Without follow it ends at
 * EOF; with follow it polls for growth and ends only when the file was
 * truncated (copytruncate), rewritten in place, renamed away or deleted,
 * after reading what was left. Memory is one chunk at a time, whatever the
 * file size.
 *
 * A rewrite in place (`cat new > app.log`) with more bytes than were read
 * does not shrink the file below the read position, so following also checks,
 * after every read that returned bytes, that the file still starts as it did
 * (`verify`): when it does not, the chunk (new content read from the old
 * offset) is dropped and the stream ends with 'rewritten'.
 */
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

export type TailEnd = 'eof' | 'truncated' | 'rewritten' | 'rotated' | 'deleted' | 'stopped';

export interface TailOptions {
  follow: boolean;
  pollMs: number;
  chunkBytes?: number;
  /** following: false when the file no longer starts with the bytes it had (rewritten in place) */
  verify?: () => Promise<boolean>;
  /** bytes handed on, partial lines included */
  onBytes?: (n: number) => void;
}

export class TailStream extends Readable {
  position: number;
  endReason: TailEnd | null = null;
  private reading = false;
  private finishing: TailEnd | null = null;
  private timer: NodeJS.Timeout | null = null;
  private mtimeMs = -1;

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
          // checked after the read: a rewrite before it shows in the start of the file now
          if (this.o.follow && this.o.verify && !(await this.o.verify())) return this.finish('rewritten');
          if (this.destroyed) return;
          this.position += bytesRead;
          this.o.onBytes?.(bytesRead);
          if (!this.push(buf.subarray(0, bytesRead))) return;
          continue;
        }
        if (!this.o.follow) return this.finish('eof');
        if (this.finishing) return this.finish(this.finishing);
        const why = await this.checkEnd();
        if (this.destroyed) return;
        if (why === 'truncated' || why === 'rewritten') return this.finish(why);
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
    // changed without growing past what was read: rewritten with as many bytes as before?
    if (st.mtimeMs !== this.mtimeMs) {
      this.mtimeMs = st.mtimeMs;
      if (st.size === this.position && this.o.verify && !(await this.o.verify())) return 'rewritten';
    }
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
