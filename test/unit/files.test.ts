import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ErrorCodes, LogshipError } from '@logship/common';
import {
  ConfirmedOffset,
  FINGERPRINT_BYTES,
  MultilineJoiner,
  StateStore,
  TailStream,
  checkStart,
  fingerprint,
  renderProgress,
  type FileState,
  type PhysicalLine,
} from '@logship/shipper';
import { waitFor } from '../helpers/wait.js';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'logship-unit-files-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let tmpCount = 0;
function tmpPath(name: string): string {
  return path.join(tmpRoot, `${tmpCount++}-${name}`);
}

function feed(j: MultilineJoiner, texts: string[]): string[] {
  const out: string[] = [];
  let offset = 0;
  for (const text of texts) {
    const line: PhysicalLine = { text, offset, end: offset + text.length + 1, truncated: false };
    offset = line.end;
    out.push(...j.push(line).map((e) => e.text));
  }
  const last = j.flush();
  if (last) out.push(last.text);
  return out;
}

describe('multiline', () => {
  it('match after: Java stack traces become one event each, keeping the first line offset', () => {
    const j = new MultilineJoiner({ pattern: /^\s+(at|\.\.\.)|^Caused by:/, negate: false, match: 'after', maxLines: 500, maxBytes: 1 << 20 });
    const lines = [
      '2026-11-21 ERROR boom',
      'java.lang.IllegalStateException: x',
      '\tat a.b.C.m(C.java:1)',
      '\tat a.b.D.n(D.java:2)',
      'Caused by: java.io.IOException: y',
      '\t... 3 more',
      '2026-11-21 INFO fine',
    ];
    assert.deepEqual(feed(j, lines), [
      '2026-11-21 ERROR boom',
      'java.lang.IllegalStateException: x\n\tat a.b.C.m(C.java:1)\n\tat a.b.D.n(D.java:2)\nCaused by: java.io.IOException: y\n\t... 3 more',
      '2026-11-21 INFO fine',
    ]);
    const j2 = new MultilineJoiner({ pattern: /^\s/, negate: false, match: 'after', maxLines: 500, maxBytes: 1 << 20 });
    j2.push({ text: 'head', offset: 100, end: 105, truncated: false });
    j2.push({ text: ' cont', offset: 105, end: 111, truncated: false });
    const ev = j2.flush()!;
    assert.equal(ev.offset, 100);
    assert.equal(ev.end, 111);
    assert.equal(ev.lines, 2);
  });

  it('negate + after: lines not starting with a timestamp join the previous one', () => {
    const j = new MultilineJoiner({ pattern: /^\d{4}-/, negate: true, match: 'after', maxLines: 500, maxBytes: 1 << 20 });
    assert.deepEqual(feed(j, ['2026-01 a', 'more a', '2026-01 b', '2026-01 c', 'more c']), ['2026-01 a\nmore a', '2026-01 b', '2026-01 c\nmore c']);
  });

  it('match before: lines ending with a backslash join the next line', () => {
    const j = new MultilineJoiner({ pattern: /\\$/, negate: false, match: 'before', maxLines: 500, maxBytes: 1 << 20 });
    assert.deepEqual(feed(j, ['one \\', 'two', 'three']), ['one \\\ntwo', 'three']);
  });

  it('negate + before: lines not ending with ";" join the next line', () => {
    const j = new MultilineJoiner({ pattern: /;$/, negate: true, match: 'before', maxLines: 500, maxBytes: 1 << 20 });
    assert.deepEqual(feed(j, ['select *', 'from t;', 'x;']), ['select *\nfrom t;', 'x;']);
  });

  it('a group over --multiline-max-lines is cut into several events, nothing dropped', () => {
    const j = new MultilineJoiner({ pattern: /^\s/, negate: false, match: 'after', maxLines: 3, maxBytes: 1 << 20 });
    assert.deepEqual(feed(j, ['a', ' 1', ' 2', ' 3', ' 4', 'b']), ['a\n 1\n 2', ' 3\n 4', 'b']);
  });

  it('a group over --max-line-bytes keeps its first max bytes, is truncated, and still takes its lines up to the next event', () => {
    const j = new MultilineJoiner({ pattern: /^\s/, negate: false, match: 'after', maxLines: 500, maxBytes: 20 });
    const texts = ['head 123456', ' aaaaaaa', ' bbbbbbb', ' ccccccc', 'next'];
    let offset = 0;
    const events = [];
    for (const text of texts) {
      const line: PhysicalLine = { text, offset, end: offset + text.length + 1, truncated: false };
      offset = line.end;
      events.push(...j.push(line));
    }
    const last = j.flush();
    assert.equal(events.length, 1, 'the group ends only at the next first line');
    const [ev] = events;
    assert.ok(ev && last);
    assert.equal(ev.text, 'head 123456\n aaaaaaa', '20 bytes: the first line and what fits of the next');
    assert.equal(ev.truncated, true);
    assert.equal(ev.lines, 4, 'every line of the group consumed');
    assert.equal(ev.end, last.offset, 'the event spans the whole group: its checkpoint moves past the dropped lines');
    assert.deepEqual([last.text, last.truncated], ['next', false]);
    // a cut never splits a character
    const u = new MultilineJoiner({ pattern: /^\s/, negate: false, match: 'after', maxLines: 500, maxBytes: 6 });
    u.push({ text: 'ab', offset: 0, end: 3, truncated: false });
    u.push({ text: ' é€', offset: 3, end: 10, truncated: false });
    const cut = u.flush();
    assert.deepEqual([cut?.text, cut?.truncated], ['ab\n é', true]);
  });
});

describe('confirmed offsets', () => {
  it('only move past an event when everything before it is confirmed', () => {
    const c = new ConfirmedOffset(0);
    const a = c.track(10);
    const b = c.track(20);
    c.skip(21);
    const d = c.track(30);
    assert.equal(c.confirm(b), false);
    assert.equal(c.confirmed, 0, 'b confirmed before a: no move');
    assert.equal(c.confirm(a), true);
    assert.equal(c.confirmed, 21, 'a, b and the skipped line');
    c.confirm(d);
    assert.equal(c.confirmed, 30);
    c.skip(31);
    assert.equal(c.confirmed, 31);
  });

  it('absorb folds a mark into the one tracked just before it while both wait, and refuses anything else', () => {
    const c = new ConfirmedOffset(0);
    const a = c.track(10);
    const b = c.track(20);
    assert.equal(c.absorb(a, b), true);
    assert.equal(c.pending, 1);
    c.skip(21);
    const d = c.track(30);
    assert.equal(c.absorb(a, d), false, 'a skipped line between them');
    const e = c.track(40);
    assert.equal(c.absorb(a, e), false, 'not the mark right before');
    c.confirm(d);
    const f = c.track(50);
    assert.equal(c.absorb(e, f), true);
    assert.equal(c.confirm(a), true);
    assert.equal(c.confirmed, 30, 'a now ends where b ended; the skipped line and d follow');
    assert.equal(c.confirm(e), true);
    assert.equal(c.confirmed, 50, 'e ends where f ended');
    const g = c.track(60);
    c.confirm(g);
    const h = c.track(70);
    assert.equal(c.absorb(g, h), false, 'g is confirmed already');
  });
});

describe('progress bar', () => {
  it('shows bytes read of total and events per second', () => {
    const s = renderProgress({ bytesRead: 512 * 1024, bytesTotal: 1024 * 1024, published: 10 }, 1234.4, 10);
    assert.equal(s, '[#####-----]  50% 512.0 KiB/1.0 MiB 1234 events/s');
  });
});

describe('file identity', () => {
  it('checkStart: the same start gives a longer fingerprint as the file grows; another start gives null', async () => {
    const file = tmpPath('grow.log');
    fs.writeFileSync(file, 'first line\n');
    const h = await fs.promises.open(file, 'r');
    try {
      const short = await fingerprint(h);
      assert.equal(short.length, 11);
      fs.appendFileSync(file, 'x'.repeat(2000));
      const longer = await checkStart(h, short);
      assert.ok(longer);
      assert.equal(longer.length, FINGERPRINT_BYTES);
      assert.equal(await checkStart(h, longer), longer, 'unchanged: the same object');
      fs.writeFileSync(file, 'other line\n'.repeat(300)); // rewritten in place, longer than before
      assert.equal(await checkStart(h, short), null);
      assert.equal(await checkStart(h, longer), null);
    } finally {
      await h.close();
    }
  });
});

describe('tail stream', () => {
  async function follow(file: string, verify: () => Promise<boolean>) {
    const handle = await fs.promises.open(file, 'r');
    const tail = new TailStream(handle, file, fs.statSync(file).ino, 0, { follow: true, pollMs: 20, verify });
    const chunks: Buffer[] = [];
    tail.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise<void>((resolve, reject) => {
      tail.on('end', resolve);
      tail.on('error', reject);
    });
    return { tail, handle, text: () => Buffer.concat(chunks).toString(), ended };
  }

  it('a file rewritten in place with more bytes than were read ends the tail as rewritten, with none of the new bytes', { timeout: 10_000 }, async () => {
    const file = tmpPath('rewrite.log');
    const old = 'old line 1\nold line 2\n';
    fs.writeFileSync(file, old);
    const start = await fs.promises.open(file, 'r');
    let fp = await fingerprint(start);
    const verify = async () => {
      const now = await checkStart(start, fp);
      if (now) fp = now;
      return now !== null;
    };
    const t = await follow(file, verify);
    try {
      await waitFor('the old content read', () => t.text() === old, 5000, 10);
      fs.writeFileSync(file, 'a new file, longer than what was read before\n'.repeat(4));
      await t.ended;
      assert.equal(t.tail.endReason, 'rewritten');
      assert.equal(t.text(), old, 'no byte of the new content read from the old offset');
    } finally {
      t.tail.stop();
      await t.handle.close();
      await start.close();
    }
  });

  it('a file rewritten in place with exactly as many bytes as were read ends the tail as rewritten', { timeout: 10_000 }, async () => {
    const file = tmpPath('same-size.log');
    fs.writeFileSync(file, 'aaaa\n');
    const start = await fs.promises.open(file, 'r');
    const fp = await fingerprint(start);
    const t = await follow(file, async () => (await checkStart(start, fp)) !== null);
    try {
      await waitFor('the old content read', () => t.text() === 'aaaa\n', 5000, 10);
      fs.writeFileSync(file, 'bbbb\n');
      await t.ended;
      assert.equal(t.tail.endReason, 'rewritten');
    } finally {
      t.tail.stop();
      await t.handle.close();
      await start.close();
    }
  });
});

describe('state store', () => {
  function entry(fileId: string, offset = 0): FileState {
    return { fileId, path: '/x.log', dev: 1, ino: 2, fingerprint: { length: 0, hash: 'h' }, offset, generation: 0, updatedAt: new Date().toISOString() };
  }
  const onDisk = (dir: string) => (JSON.parse(fs.readFileSync(path.join(dir, 'checkpoints.json'), 'utf8')) as { files: FileState[] }).files;

  it('persist(): a new entry is on disk when it resolves; writes asked for meanwhile share one queued write', async () => {
    const dir = tmpPath('state');
    const store = new StateStore(dir);
    await store.open();
    try {
      store.upsert(entry('a'));
      await store.persist();
      assert.deepEqual(
        onDisk(dir).map((f) => f.fileId),
        ['a'],
      );
      const writes: Array<Promise<void>> = [];
      for (let i = 0; i < 20; i++) {
        store.upsert(entry(`n${i}`));
        writes.push(store.persist());
      }
      await Promise.all(writes);
      assert.equal(onDisk(dir).length, 21, 'every entry asked for before the promises resolved is on disk');
      assert.ok(new Set(writes).size <= 2, `${new Set(writes).size} distinct writes for 20 callers`);
    } finally {
      await store.close();
    }
  });

  it('a failed checkpoint write is kept in health with its time and cleared by the next successful write', async () => {
    const dir = tmpPath('state');
    const store = new StateStore(dir);
    await store.open();
    try {
      assert.equal(store.health.ok, true);
      // the temp file's name taken by a directory: every write fails as a full disk would
      const tmp = path.join(dir, `checkpoints.json.${process.pid}.tmp`);
      fs.mkdirSync(tmp);
      store.upsert(entry('a', 10));
      await assert.rejects(store.persist(), /cannot write checkpoints in .*: .*EISDIR/);
      const failed = store.health;
      assert.equal(failed.ok, false);
      assert.match(failed.error ?? '', /EISDIR/);
      assert.ok(failed.since);
      assert.equal(store.changed, true, 'the change is still to be written');
      await assert.rejects(store.persist());
      assert.equal(store.health.since, failed.since, 'since: when writes started failing');
      fs.rmdirSync(tmp);
      await store.persist();
      assert.deepEqual(store.health.ok, true);
      assert.equal(store.health.error, null);
      assert.equal(onDisk(dir)[0]?.offset, 10);
    } finally {
      await store.close();
    }
  });

  it('an entry whose checkpoint has not moved for a week is kept by open() and while touched; only unseen ones are forgotten', async () => {
    const dir = tmpPath('state');
    fs.mkdirSync(dir);
    const weekAgo = new Date(Date.now() - 8 * 24 * 3600_000).toISOString();
    const old = (fileId: string) => ({ ...entry(fileId, 100), updatedAt: weekAgo });
    fs.writeFileSync(path.join(dir, 'checkpoints.json'), JSON.stringify({ version: 1, files: [old('quiet'), old('gone')] }));
    const store = new StateStore(dir);
    await store.open();
    try {
      assert.deepEqual(
        onDisk(dir)
          .map((f) => f.fileId)
          .sort(),
        ['gone', 'quiet'],
        'open() writes before any file is matched: it forgets nothing',
      );
      store.touch('quiet');
      store.startForgetting();
      store.upsert(entry('new'));
      await store.persist();
      assert.deepEqual(
        onDisk(dir)
          .map((f) => f.fileId)
          .sort(),
        ['new', 'quiet'],
        'only the entry not seen for a week is forgotten',
      );
      assert.equal(onDisk(dir).find((f) => f.fileId === 'quiet')?.offset, 100);
    } finally {
      await store.close();
    }
  });

  it('a state directory that cannot be created, locked or written stops the run with exit 2', async () => {
    const blocker = tmpPath('a-file');
    fs.writeFileSync(blocker, '');
    const underFile = new StateStore(path.join(blocker, 'state'));
    const err1 = await underFile.open().then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err1 instanceof LogshipError);
    assert.equal(err1.code, ErrorCodes.CONFIG_INVALID);
    assert.equal(err1.exitCode, 2);
    assert.match(err1.message, /state directory .*a-file\/state is not writable/);

    const locked = tmpPath('locked');
    fs.mkdirSync(locked);
    fs.writeFileSync(path.join(locked, 'ship.lock'), String(process.ppid)); // a live process
    const err2 = await new StateStore(locked).open().then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err2 instanceof LogshipError);
    assert.equal(err2.exitCode, 2);
    assert.match(err2.message, /in use by another logship ship/);

    const unwritable = tmpPath('unwritable');
    fs.mkdirSync(unwritable);
    fs.mkdirSync(path.join(unwritable, `checkpoints.json.${process.pid}.tmp`)); // the first write fails
    const err3 = await new StateStore(unwritable).open().then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err3 instanceof LogshipError);
    assert.equal(err3.exitCode, 2);
    assert.match(err3.message, /state directory .*unwritable cannot be written: .*EISDIR/);
    assert.equal(fs.existsSync(path.join(unwritable, 'ship.lock')), false, 'the lock is released');
  });
});
