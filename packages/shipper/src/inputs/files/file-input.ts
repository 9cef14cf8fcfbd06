/**
 * One file being shipped: identity and checkpoint lookup, then lines (joined
 * by multiline when configured) turned into events with ids made of host,
 * file identity and byte offset, through the shared session.
 */
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { errorMessage, type Config, type Logger } from '@logship/common';
import { EventFactory } from '../../events/event-factory.js';
import { EventWriter } from '../../events/event-writer.js';
import { LineClamp } from '../../lines/line-clamp.js';
import { LineSplitter } from '../../lines/line-splitter.js';
import type { ShipSession } from '../../publish/ship-session.js';
import { ConfirmedOffset } from './confirmed-offset.js';
import { checkStart, fingerprint, newFileId } from './identity.js';
import { MultilineJoiner, type JoinedEvent, type MultilineOptions, type PhysicalLine } from '../../lines/multiline.js';
import type { FileState, StateStore } from './state-store.js';
import { TailStream, type TailEnd } from './tail-stream.js';

const NO_TAGS: readonly string[] = [];

export interface FileMeta {
  fileId: string;
  mark: ReturnType<ConfirmedOffset['track']>;
}

/**
 * The session's mergeMeta for file events: consecutive lines of one file in
 * one message keep one checkpoint mark, ending where the last of them ends.
 */
export function mergeFileMeta(trackers: Map<string, ConfirmedOffset>): (prev: FileMeta, next: FileMeta) => boolean {
  return (prev, next) => prev.fileId === next.fileId && (trackers.get(prev.fileId)?.absorb(prev.mark, next.mark) ?? false);
}

export interface FileInputContext {
  config: Config;
  logger: Logger;
  session: ShipSession<FileMeta>;
  store: StateStore;
  trackers: Map<string, ConfirmedOffset>;
  follow: boolean;
  pollMs: number;
  multiline: (MultilineOptions & { timeoutMs: number }) | null;
  /** bytes read (partial lines included), for the progress bar and /health */
  onBytes?: (n: number) => void;
  /** the file could be opened: a problem reported for it before is gone */
  onOpened?: (path: string) => void;
}

export class FileInput {
  private tail: TailStream | null = null;
  private lines: LineSplitter | null = null;
  private stopped = false;
  state: FileState | null = null;

  constructor(
    readonly path: string,
    private readonly ctx: FileInputContext,
    /** begin at the end of the file when it has no checkpoint */
    private readonly startAtEnd: boolean,
  ) {}

  stop(): void {
    this.stopped = true;
    this.tail?.stop();
    this.lines?.destroy();
  }

  /** Ships the file until EOF (or, following, until it is rotated away or deleted). */
  async run(): Promise<TailEnd> {
    const handle = await fs.promises.open(this.path, 'r');
    this.ctx.onOpened?.(this.path);
    try {
      for (;;) {
        const st = await handle.stat();
        const state = await this.resolveState(handle, st);
        this.state = state;
        const end = await this.ship(handle, st.ino, state);
        if ((end !== 'truncated' && end !== 'rewritten') || this.stopped) return end;
        this.ctx.logger.info(
          { path: this.path },
          end === 'truncated'
            ? 'file truncated (copytruncate): reading it again from the start'
            : 'file rewritten in place (it no longer starts as it did): reading it again from the start',
        );
        await this.newGeneration(handle, state);
      }
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  private async resolveState(handle: FileHandle, st: fs.Stats): Promise<FileState> {
    const { store, config } = this.ctx;
    for (const candidate of store.findByInode(st.dev, st.ino)) {
      const fp = await checkStart(handle, candidate.fingerprint);
      if (!fp) continue;
      if (candidate.offset > st.size) {
        await this.newGeneration(handle, candidate);
        return candidate;
      }
      candidate.fingerprint = fp; // longer while the file was small: same fileId
      candidate.path = this.path;
      store.upsert(candidate);
      store.touch(candidate.fileId);
      return candidate;
    }
    // a file never seen, an inode reused by a different file, or a file rewritten while we were stopped
    const fp = await fingerprint(handle);
    const state: FileState = {
      fileId: newFileId(config.hostName, st.dev, st.ino, fp, 0),
      path: this.path,
      dev: st.dev,
      ino: st.ino,
      fingerprint: fp,
      offset: this.startAtEnd ? st.size : 0,
      generation: 0,
      updatedAt: new Date().toISOString(),
    };
    for (const stale of store.findByInode(st.dev, st.ino)) store.remove(stale.fileId);
    store.upsert(state);
    await this.persistIdentity();
    return state;
  }

  /** copytruncate or a rewrite: the same inode starts over; new ids so new lines never collide with old ones */
  private async newGeneration(handle: FileHandle, state: FileState): Promise<void> {
    const { store, config, trackers } = this.ctx;
    trackers.delete(state.fileId);
    store.remove(state.fileId);
    state.generation += 1;
    state.fingerprint = await fingerprint(handle);
    state.fileId = newFileId(config.hostName, state.dev, state.ino, state.fingerprint, state.generation);
    state.offset = 0;
    state.updatedAt = new Date().toISOString();
    store.upsert(state);
    await this.persistIdentity();
  }

  /**
   * A new fileId is on disk before its first event is published, so a crash
   * right after cannot make the next run ship the file again under another id.
   * When the state directory cannot be written (disk full), shipping goes on:
   * /health reports it, and the saver keeps retrying.
   */
  private async persistIdentity(): Promise<void> {
    try {
      await this.ctx.store.persist();
    } catch (err) {
      this.ctx.logger.error(
        { path: this.path, err: errorMessage(err) },
        'cannot write the identity of a new file to the state directory; shipping it anyway (a crash before the next successful write would ship its lines again under another id)',
      );
    }
  }

  /** Following: does the file still start as fingerprinted? Lengthens a short fingerprint as the file grows. */
  private async verifyStart(handle: FileHandle, state: FileState): Promise<boolean> {
    const fp = await checkStart(handle, state.fingerprint);
    if (!fp) return false;
    if (fp !== state.fingerprint) {
      state.fingerprint = fp;
      this.ctx.store.upsert(state);
    }
    return true;
  }

  private async ship(handle: FileHandle, ino: number, state: FileState): Promise<TailEnd> {
    const { config, session, trackers, follow, pollMs } = this.ctx;
    let tracker = trackers.get(state.fileId);
    if (!tracker) {
      tracker = new ConfirmedOffset(state.offset);
      trackers.set(state.fileId, tracker);
    }
    // resume after what this process already read of the file (a rotated file seen again)
    const start = Math.max(state.offset, tracker.readTo);
    if (this.stopped) return 'stopped';
    const tail = new TailStream(handle, this.path, ino, start, {
      follow,
      pollMs,
      verify: () => this.verifyStart(handle, state),
      ...(this.ctx.onBytes ? { onBytes: this.ctx.onBytes } : {}),
    });
    this.tail = tail;
    const clamp = new LineClamp(config.maxLineBytes, true);
    const joiner = this.ctx.multiline ? new MultilineJoiner(this.ctx.multiline) : null;
    const fileScope = { hostName: config.hostName, inputType: 'file', scope: state.fileId, filePath: this.path };
    const factory = new EventFactory({ ...fileScope, codec: config.codec });
    // single plain lines are written from their bytes; multiline and json go through strings
    const writer = config.codec === 'plain' && !joiner ? new EventWriter(fileScope) : null;
    let timer: NodeJS.Timeout | null = null;
    let pos = start;
    const emit = async (ev: JoinedEvent) => {
      if (!session.countLine(ev.text === '', ev.truncated)) {
        tracker.skip(ev.end);
        return;
      }
      const tags = ev.lines > 1 ? (ev.split ? ['multiline', '_multiline_max_lines'] : ['multiline']) : NO_TAGS;
      const event = factory.make(ev.text, ev.offset, ev.truncated, tags);
      await session.submit(event, { fileId: state.fileId, mark: tracker.track(ev.end) });
    };
    const join = async (line: PhysicalLine, j: MultilineJoiner) => {
      if (timer) clearTimeout(timer);
      for (const ev of j.push(line)) await emit(ev);
      if (j.pending && follow) {
        timer = setTimeout(() => {
          timer = null;
          const ev = j.flush();
          if (ev) void emit(ev).catch(() => undefined);
        }, this.ctx.multiline!.timeoutMs);
      }
    };
    const splitter = new LineSplitter((buf, from, to, i) => {
      // every line has its metadata (recordAll): its length in the file and whether it ended
      const meta = clamp.takeMeta(i)!;
      const offset = pos;
      const end = pos + meta.bytes + (meta.terminated ? 1 : 0);
      pos = end;
      tracker.readTo = end;
      let wait: Promise<void> | undefined;
      if (writer) {
        if (!session.countLine(from === to, meta.truncated)) {
          tracker.skip(end);
        } else {
          wait = session.submitLine(writer, factory, buf, from, to, offset, meta.truncated, { fileId: state.fileId, mark: tracker.track(end) });
        }
      } else {
        const line = { text: buf.toString('utf8', from, to), offset, end, truncated: meta.truncated };
        wait = joiner ? join(line, joiner) : emit({ ...line, lines: 1, split: false });
      }
      if (this.stopped || session.failure) {
        // a wait cut short ends with the failure the session already reports
        wait?.catch(() => undefined);
        splitter.destroy();
        return undefined;
      }
      return wait;
    });
    this.lines = splitter;
    try {
      await pipeline(tail, clamp, splitter);
    } catch (err) {
      if (!this.stopped && !session.failure) {
        if (timer) clearTimeout(timer);
        throw err;
      }
    }
    if (timer) clearTimeout(timer);
    // end of this file (EOF, rotation, deletion): the last group is complete
    const last = joiner && !this.stopped && !session.failure ? joiner.flush() : undefined;
    if (last) await emit(last);
    return this.stopped ? 'stopped' : (tail.endReason ?? 'eof');
  }
}

export function describeFileError(path: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : errorMessage(err);
  return `cannot read ${path}: ${why}`;
}
