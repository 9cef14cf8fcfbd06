/**
 * Checkpoints on disk: per file, its identity and the offset up to which
 * every event is broker-confirmed. Written atomically (write, fsync, rename,
 * fsync of the directory), one write at a time; a lock file keeps two
 * shippers off one state directory.
 *
 * Any problem with the directory at start (create, lock, read, a first
 * write) stops the run with a configuration error (exit 2). Later write
 * failures (disk full) are kept in `health` and retried by the caller; the
 * next successful write clears them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ErrorCodes, IsoClock, LogshipError, errorMessage } from '@logship/common';
import type { Fingerprint } from './identity.js';

export interface FileState {
  fileId: string;
  path: string;
  dev: number;
  ino: number;
  fingerprint: Fingerprint;
  /** bytes before this offset are confirmed by the broker */
  offset: number;
  /** bumped on copytruncate or a rewrite: the same inode started over */
  generation: number;
  updatedAt: string;
}

interface StateFile {
  version: 1;
  files: FileState[];
}

export interface CheckpointHealth {
  ok: boolean;
  /** why the last write failed, while writes fail */
  error: string | null;
  /** when writes started failing */
  since: string | null;
  /** last successful write */
  savedAt: string | null;
}

const STATE_NAME = 'checkpoints.json';
const LOCK_NAME = 'ship.lock';
/**
 * Entries of files not seen for this long are forgotten. "Seen" is when a
 * scan matched the file or an input resolved its entry (touch()), not when
 * its checkpoint last moved: a quiet log keeps its entry however long it is
 * quiet, and so does a file whose shipper was stopped for weeks.
 */
const FORGET_AFTER_MS = 7 * 24 * 3600_000;
/** a touch older than this is written to disk, so seen files keep a recent date there too */
const TOUCH_WRITE_AFTER_MS = 3600_000;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class StateStore {
  private readonly byId = new Map<string, FileState>();
  private dirty = false;
  private readonly file: string;
  private readonly tmp: string;
  private readonly lock: string;
  private locked = false;
  /** advance() runs per confirmed event */
  private readonly clock = new IsoClock();
  /** the write under way, and the one queued after it (shared by every caller meanwhile) */
  private writing: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  private failure: { error: string; since: string } | null = null;
  private savedAt: string | null = null;
  /** off until the files were matched once: before that every entry looks unseen */
  private forgetting = false;

  constructor(readonly dir: string) {
    this.file = path.join(dir, STATE_NAME);
    this.tmp = path.join(dir, `${STATE_NAME}.${process.pid}.tmp`);
    this.lock = path.join(dir, LOCK_NAME);
  }

  get health(): CheckpointHealth {
    return { ok: this.failure === null, error: this.failure?.error ?? null, since: this.failure?.since ?? null, savedAt: this.savedAt };
  }

  /** Creates the directory, takes the lock, loads the checkpoints and proves they can be written. */
  async open(): Promise<void> {
    try {
      fs.mkdirSync(this.dir, { recursive: true });
      fs.accessSync(this.dir, fs.constants.W_OK);
    } catch (err) {
      throw this.unusable('is not writable', err);
    }
    this.takeLock();
    try {
      let text: string | undefined;
      try {
        text = fs.readFileSync(this.file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw this.unusable('cannot be read', err);
      }
      if (text !== undefined) this.load(text);
      // a directory that takes a lock file may still have no room for the checkpoints
      this.dirty = true;
      await this.persist().catch((err: unknown) => {
        throw this.unusable('cannot be written', err);
      });
    } catch (err) {
      this.releaseLock();
      throw err;
    }
  }

  private load(text: string): void {
    try {
      const parsed = JSON.parse(text) as StateFile;
      for (const f of parsed.files ?? []) this.byId.set(f.fileId, f);
    } catch (err) {
      const aside = `${this.file}.corrupt-${Date.now()}`;
      fs.renameSync(this.file, aside);
      throw new LogshipError(ErrorCodes.INPUT, `checkpoint file ${this.file} is not valid JSON (${errorMessage(err)}); moved it to ${aside}`, {
        hint: 'run again to start the files from their beginning (events already indexed are skipped as duplicates by their event.id)',
      });
    }
  }

  private unusable(what: string, err: unknown): LogshipError {
    const reason = err instanceof LogshipError && err.cause ? errorMessage(err.cause) : errorMessage(err);
    return new LogshipError(ErrorCodes.CONFIG_INVALID, `state directory ${this.dir} ${what}: ${reason}`, {
      hint: 'file offsets are kept there; free space or pass a writable --state-dir (LOGSHIP_STATE_DIR)',
      cause: err,
    });
  }

  private takeLock(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(this.lock, String(process.pid), { flag: 'wx' });
        this.locked = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          fs.rmSync(this.lock, { force: true }); // an empty lock left by a failed write
          throw this.unusable('cannot be locked', err);
        }
        let pid = Number.NaN;
        try {
          pid = Number(fs.readFileSync(this.lock, 'utf8'));
        } catch (readErr) {
          throw this.unusable('cannot be locked', readErr);
        }
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
          throw new LogshipError(ErrorCodes.CONFIG_INVALID, `state directory ${this.dir} is in use by another logship ship (pid ${pid})`, {
            hint: 'give each shipper its own --state-dir',
          });
        }
        fs.rmSync(this.lock, { force: true }); // stale lock of a dead process
      }
    }
    throw this.unusable('cannot be locked', new Error(`${this.lock} keeps coming back`));
  }

  private releaseLock(): void {
    if (this.locked) fs.rmSync(this.lock, { force: true });
    this.locked = false;
  }

  all(): FileState[] {
    return [...this.byId.values()];
  }

  findByInode(dev: number, ino: number): FileState[] {
    return this.all().filter((f) => f.dev === dev && f.ino === ino);
  }

  /** Adds or changes an entry (in memory; written by the next persist()). */
  upsert(state: FileState): void {
    this.byId.set(state.fileId, state);
    this.dirty = true;
  }

  remove(fileId: string): void {
    if (this.byId.delete(fileId)) this.dirty = true;
  }

  /** The file of these entries is being read or was just matched: it is not forgotten. */
  touch(fileId: string): void {
    const f = this.byId.get(fileId);
    if (!f) return;
    const now = Date.now();
    if (now - Date.parse(f.updatedAt) > TOUCH_WRITE_AFTER_MS) this.dirty = true;
    f.updatedAt = this.clock.now();
  }

  /**
   * From now on writes forget entries not seen for FORGET_AFTER_MS. Called
   * once the files were matched (and their entries touched), never before:
   * after a long stop every entry is old.
   */
  startForgetting(): void {
    this.forgetting = true;
  }

  /** Advances a checkpoint (never backwards). */
  advance(fileId: string, offset: number): void {
    const f = this.byId.get(fileId);
    if (!f || offset <= f.offset) return;
    f.offset = offset;
    f.updatedAt = this.clock.now();
    this.dirty = true;
  }

  get changed(): boolean {
    return this.dirty;
  }

  /**
   * Writes every change made before this call, durably; resolves when it is
   * on disk. Callers meanwhile share one queued write, so many new files
   * found at once cost one or two writes.
   */
  persist(): Promise<void> {
    if (this.queued) return this.queued;
    const after = this.writing ?? Promise.resolve();
    const next = after
      .catch(() => undefined)
      .then(() => {
        this.queued = null;
        return this.writeNow();
      });
    this.queued = next;
    const current = next.finally(() => {
      if (this.writing === current) this.writing = null;
    });
    current.catch(() => undefined);
    this.writing = current;
    return next;
  }

  private async writeNow(): Promise<void> {
    if (!this.dirty) return;
    if (this.forgetting) {
      const cutoff = Date.now() - FORGET_AFTER_MS;
      for (const f of this.byId.values()) if (Date.parse(f.updatedAt) < cutoff) this.byId.delete(f.fileId);
    }
    const body = JSON.stringify({ version: 1, files: this.all() } satisfies StateFile);
    this.dirty = false; // changes from now on go into the next write
    try {
      const fh = await fs.promises.open(this.tmp, 'w');
      try {
        await fh.writeFile(body);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.promises.rename(this.tmp, this.file);
      await this.syncDir();
    } catch (err) {
      this.dirty = true;
      await fs.promises.rm(this.tmp, { force: true }).catch(() => undefined); // give back what a full disk had
      const error = `cannot write checkpoints in ${this.dir}: ${errorMessage(err)}`;
      this.failure = { error, since: this.failure?.since ?? new Date().toISOString() };
      throw new LogshipError(ErrorCodes.INPUT, error, { cause: err });
    }
    this.failure = null;
    this.savedAt = new Date().toISOString();
  }

  /** the rename itself survives a power loss only once the directory is synced */
  private async syncDir(): Promise<void> {
    const dh = await fs.promises.open(this.dir, 'r');
    try {
      await dh.sync();
    } catch (err) {
      // some filesystems refuse fsync on a directory; the rename is still atomic
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL' && (err as NodeJS.ErrnoException).code !== 'EISDIR') throw err;
    } finally {
      await dh.close();
    }
  }

  /** Writes what changed and releases the lock. */
  async close(): Promise<void> {
    try {
      if (this.dirty || this.writing) await this.persist();
    } finally {
      this.releaseLock();
    }
  }
}
