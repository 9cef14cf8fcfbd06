/**
 * Checkpoints on disk: per file, the offset up to which every event is
 * broker-confirmed. Written atomically (write, fsync, rename) and only from
 * confirmed offsets. A lock file keeps two shippers off one state directory.
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
  /** bumped on copytruncate: the same inode started over */
  generation: number;
  updatedAt: string;
}

interface StateFile {
  version: 1;
  files: FileState[];
}

const STATE_NAME = 'checkpoints.json';
const LOCK_NAME = 'ship.lock';
/** entries of files not seen for this long are forgotten */
const FORGET_AFTER_MS = 7 * 24 * 3600_000;

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
  private readonly lock: string;
  private locked = false;
  /** advance() runs per confirmed event */
  private readonly clock = new IsoClock();

  constructor(readonly dir: string) {
    this.file = path.join(dir, STATE_NAME);
    this.lock = path.join(dir, LOCK_NAME);
  }

  /** Creates the directory, takes the lock and loads the checkpoints. */
  open(): void {
    try {
      fs.mkdirSync(this.dir, { recursive: true });
      fs.accessSync(this.dir, fs.constants.W_OK);
    } catch (err) {
      throw new LogshipError(ErrorCodes.CONFIG_INVALID, `state directory ${this.dir} is not writable: ${errorMessage(err)}`, {
        hint: 'file offsets are kept there; pass a writable --state-dir (LOGSHIP_STATE_DIR)',
      });
    }
    this.takeLock();
    let text: string | undefined;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw this.ioError('read', err);
    }
    if (text === undefined) return;
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

  private takeLock(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(this.lock, String(process.pid), { flag: 'wx' });
        this.locked = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw this.ioError('lock', err);
        const pid = Number(fs.readFileSync(this.lock, 'utf8'));
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
          throw new LogshipError(ErrorCodes.CONFIG_INVALID, `state directory ${this.dir} is in use by another logship ship (pid ${pid})`, {
            hint: 'give each shipper its own --state-dir',
          });
        }
        fs.rmSync(this.lock, { force: true }); // stale lock of a dead process
      }
    }
  }

  private ioError(what: string, err: unknown): LogshipError {
    return new LogshipError(ErrorCodes.INPUT, `cannot ${what} checkpoints in ${this.dir}: ${errorMessage(err)}`, { cause: err });
  }

  all(): FileState[] {
    return [...this.byId.values()];
  }

  findByInode(dev: number, ino: number): FileState[] {
    return this.all().filter((f) => f.dev === dev && f.ino === ino);
  }

  upsert(state: FileState): void {
    this.byId.set(state.fileId, state);
    this.dirty = true;
  }

  remove(fileId: string): void {
    if (this.byId.delete(fileId)) this.dirty = true;
  }

  /** Advances a checkpoint (never backwards). */
  advance(fileId: string, offset: number): void {
    const f = this.byId.get(fileId);
    if (!f || offset <= f.offset) return;
    f.offset = offset;
    f.updatedAt = this.clock.now();
    this.dirty = true;
  }

  /** Writes the checkpoints atomically if they changed. */
  save(): void {
    if (!this.dirty) return;
    const cutoff = Date.now() - FORGET_AFTER_MS;
    for (const f of this.byId.values()) if (Date.parse(f.updatedAt) < cutoff) this.byId.delete(f.fileId);
    const body: StateFile = { version: 1, files: this.all() };
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      const fd = fs.openSync(tmp, 'w');
      try {
        fs.writeSync(fd, JSON.stringify(body));
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, this.file);
      this.dirty = false;
    } catch (err) {
      throw this.ioError('write', err);
    }
  }

  close(): void {
    try {
      this.save();
    } finally {
      if (this.locked) fs.rmSync(this.lock, { force: true });
      this.locked = false;
    }
  }
}
