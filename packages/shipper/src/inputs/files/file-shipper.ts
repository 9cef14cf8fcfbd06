/**
 * `logship ship FILE|GLOB ...`: every matching file is shipped with
 * checkpoints that never run ahead of the broker's confirms. Without
 * --follow it ends when every file was read and confirmed; with --follow it
 * tails them, picks up new files every --scan-interval, and runs until stop().
 */
import type { ProgressSource } from '../../progress.js';
import fs from 'node:fs';
import path from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import { ErrorCodes, LogshipError, errorMessage, type Config, type Logger, type Registry } from '@logship/common';
import { ShipSession, type ShipSummary } from '../../publish/ship-session.js';
import type { ConfirmedOffset } from './confirmed-offset.js';
import { FileInput, describeFileError, mergeFileMeta, type FileMeta } from './file-input.js';
import type { MultilineOptions } from '../../lines/multiline.js';
import { type CheckpointHealth, StateStore } from './state-store.js';

export interface FileShipperOptions {
  config: Config;
  logger: Logger;
  registry: Registry;
  patterns: string[];
  follow: boolean;
  startPosition: 'beginning' | 'end';
  scanIntervalMs: number;
  pollMs?: number;
  multiline: (MultilineOptions & { timeoutMs: number }) | null;
}

/** what the progress bar of a file run shows (progress.ts) */
export type FileProgress = ProgressSource;

export class FileShipper {
  readonly session: ShipSession<FileMeta>;
  readonly store: StateStore;
  private readonly trackers = new Map<string, ConfirmedOffset>();
  /** dev:ino of files being read */
  private readonly active = new Map<string, { input: FileInput; done: Promise<void> }>();
  private readonly problems = new Map<string, string>();
  private readonly warnedEmpty = new Set<string>();
  private stopRequested = false;
  private wakeStop: (() => void) | null = null;
  private checkedAt: string | null = null;
  bytesRead = 0;
  bytesTotal = 0;

  constructor(private readonly o: FileShipperOptions) {
    this.store = new StateStore(o.config.stateDir);
    this.session = new ShipSession<FileMeta>({
      config: o.config,
      logger: o.logger,
      registry: o.registry,
      onSettled: (meta, outcome) => {
        if (outcome !== 'confirmed') return;
        const tracker = this.trackers.get(meta.fileId);
        if (tracker?.confirm(meta.mark)) this.store.advance(meta.fileId, tracker.confirmed);
      },
      mergeMeta: mergeFileMeta(this.trackers),
    });
  }

  get summary(): ShipSummary {
    return this.session.summary;
  }

  get progress(): FileProgress {
    return { bytesRead: this.bytesRead, bytesTotal: this.bytesTotal, published: this.session.summary.published };
  }

  get filesActive(): number {
    return this.active.size;
  }

  /** Problems with inputs so far (path -> why). */
  get inputProblems(): ReadonlyMap<string, string> {
    return this.problems;
  }

  stop(): void {
    this.stopRequested = true;
    for (const { input } of this.active.values()) input.stop();
    this.wakeStop?.();
  }

  /** Checkpoint writes: failing (disk full) makes /health degraded; checkedAt is the saver's last look. */
  get checkpoints(): CheckpointHealth & { checkedAt: string | null } {
    return { ...this.store.health, checkedAt: this.checkedAt };
  }

  async run(): Promise<ShipSummary> {
    const { logger, follow } = this.o;
    await this.store.open();
    let saver: NodeJS.Timeout | null = null;
    let scanner: NodeJS.Timeout | null = null;
    let failed = true;
    try {
      await this.session.open();
      saver = setInterval(() => void this.saveQuietly(), 1000);
      await this.scan(true);
      // every matched file's entry is touched now: older ones are of files gone or no longer matched
      this.store.startForgetting();
      if (follow) {
        const tick = () => {
          scanner = setTimeout(() => {
            void this.scan(false).finally(() => !this.stopRequested && tick());
          }, this.o.scanIntervalMs);
        };
        tick();
        await new Promise<void>((resolve) => {
          this.wakeStop = resolve;
          if (this.stopRequested) resolve();
        });
      }
      await Promise.all([...this.active.values()].map((a) => a.done));
      await this.session.flush();
      failed = false;
    } finally {
      if (saver) clearInterval(saver);
      if (scanner) clearTimeout(scanner);
      for (const { input } of this.active.values()) input.stop();
      await this.session.close();
      // the last checkpoints: a failure here is the run's error only when there is no other
      await this.store.close().catch((err: unknown) => {
        if (!failed) throw err;
        logger.error({ err: errorMessage(err) }, 'cannot write the last checkpoints');
      });
    }
    this.session.assertDelivered(this.stopRequested);
    if (this.problems.size > 0) {
      const list = [...this.problems.values()];
      throw new LogshipError(ErrorCodes.INPUT, `${list.length} input(s) could not be read: ${list.join('; ')}`, {
        hint: 'everything else was shipped and confirmed',
      });
    }
    logger.debug({ files: this.store.all().length }, 'checkpoints saved');
    return this.session.summary;
  }

  /** Every second: write what changed; a failure is logged once, kept for /health, and retried on the next tick. */
  private async saveQuietly(): Promise<void> {
    this.checkedAt = new Date().toISOString();
    if (!this.store.changed) return;
    const before = this.store.health;
    try {
      await this.store.persist();
      if (!before.ok) this.o.logger.warn({ dir: this.store.dir, since: before.since }, 'checkpoints written again');
    } catch (err) {
      if (before.error !== this.store.health.error)
        this.o.logger.error({ err: errorMessage(err) }, 'cannot write checkpoints; shipping goes on, retrying every second');
    }
  }

  private problem(key: string, message: string): void {
    if (this.problems.get(key) === message) return;
    this.problems.set(key, message);
    this.o.logger.error({ input: key }, message);
  }

  private async expand(): Promise<string[]> {
    const out = new Set<string>();
    for (const pattern of this.o.patterns) {
      if (!isDynamicPattern(pattern)) {
        const abs = path.resolve(pattern);
        try {
          const st = await fs.promises.stat(abs);
          if (st.isDirectory()) this.problem(pattern, `cannot read ${abs}: is a directory (use a glob such as ${path.join(pattern, '*.log')})`);
          else {
            this.problems.delete(pattern);
            out.add(abs);
          }
        } catch (err) {
          if (this.o.follow && (err as NodeJS.ErrnoException).code === 'ENOENT') {
            if (!this.warnedEmpty.has(pattern)) this.o.logger.warn({ path: abs }, 'file does not exist yet; waiting for it');
            this.warnedEmpty.add(pattern);
          } else this.problem(pattern, describeFileError(abs, err));
        }
        continue;
      }
      const found = await glob(pattern, { absolute: true, onlyFiles: true, dot: true, followSymbolicLinks: true });
      if (found.length === 0) {
        if (this.o.follow) {
          if (!this.warnedEmpty.has(pattern)) this.o.logger.warn({ glob: pattern }, 'glob matches no file yet; waiting for files');
          this.warnedEmpty.add(pattern);
        } else this.problem(pattern, `glob ${pattern} matches no file`);
      } else this.problems.delete(pattern);
      for (const f of found) out.add(f);
    }
    return [...out].sort();
  }

  private async scan(initial: boolean): Promise<void> {
    if (this.stopRequested) return;
    let paths: string[];
    try {
      paths = await this.expand();
    } catch (err) {
      this.o.logger.error({ err: errorMessage(err) }, 'scanning for files failed');
      return;
    }
    // files still being read after they stopped matching (rotated away) are seen too
    for (const { input } of this.active.values()) if (input.state) this.store.touch(input.state.fileId);
    for (const p of paths) {
      if (this.stopRequested || this.session.failure) return;
      let st: fs.Stats;
      try {
        st = await fs.promises.stat(p);
      } catch {
        continue; // gone since the glob
      }
      const key = `${st.dev}:${st.ino}`;
      const entries = this.store.findByInode(st.dev, st.ino);
      // a matched file's entry is kept however long its checkpoint has not moved
      for (const e of entries) this.store.touch(e.fileId);
      if (this.active.has(key)) continue;
      const known = entries[0];
      const startAtEnd = initial && this.o.follow && this.o.startPosition === 'end';
      if (!this.o.follow) this.bytesTotal += Math.max(0, st.size - (known && known.offset <= st.size ? known.offset : 0));
      const input = new FileInput(p, this.fileContext(), startAtEnd);
      const done = input
        .run()
        .then((end) => {
          this.problems.delete(p);
          if (end === 'rotated' || end === 'deleted') this.o.logger.info({ path: p, end }, 'file finished and released');
        })
        .catch((err: unknown) => {
          // following, a file removed between the scan and the open is simply gone
          if (this.o.follow && (err as NodeJS.ErrnoException).code === 'ENOENT') return;
          this.problem(p, describeFileError(p, err));
        })
        .finally(() => {
          if (this.active.get(key)?.input === input) this.active.delete(key);
        });
      this.active.set(key, { input, done });
    }
  }

  private fileContext() {
    return {
      config: this.o.config,
      logger: this.o.logger,
      session: this.session,
      store: this.store,
      trackers: this.trackers,
      follow: this.o.follow,
      pollMs: this.o.pollMs ?? 250,
      multiline: this.o.multiline,
      onBytes: (n: number) => {
        this.bytesRead += n;
      },
      onOpened: (p: string) => {
        if (this.problems.delete(p)) this.o.logger.info({ input: p }, 'input readable again');
      },
    };
  }
}
