import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfirmedOffset, MultilineJoiner, renderProgress, type PhysicalLine } from '@logship/shipper';

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
    const j = new MultilineJoiner({ pattern: /^\s+(at|\.\.\.)|^Caused by:/, negate: false, match: 'after', maxLines: 500 });
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
    const j2 = new MultilineJoiner({ pattern: /^\s/, negate: false, match: 'after', maxLines: 500 });
    j2.push({ text: 'head', offset: 100, end: 105, truncated: false });
    j2.push({ text: ' cont', offset: 105, end: 111, truncated: false });
    const ev = j2.flush()!;
    assert.equal(ev.offset, 100);
    assert.equal(ev.end, 111);
    assert.equal(ev.lines, 2);
  });

  it('negate + after: lines not starting with a timestamp join the previous one', () => {
    const j = new MultilineJoiner({ pattern: /^\d{4}-/, negate: true, match: 'after', maxLines: 500 });
    assert.deepEqual(feed(j, ['2026-01 a', 'more a', '2026-01 b', '2026-01 c', 'more c']), ['2026-01 a\nmore a', '2026-01 b', '2026-01 c\nmore c']);
  });

  it('match before: lines ending with a backslash join the next line', () => {
    const j = new MultilineJoiner({ pattern: /\\$/, negate: false, match: 'before', maxLines: 500 });
    assert.deepEqual(feed(j, ['one \\', 'two', 'three']), ['one \\\ntwo', 'three']);
  });

  it('negate + before: lines not ending with ";" join the next line', () => {
    const j = new MultilineJoiner({ pattern: /;$/, negate: true, match: 'before', maxLines: 500 });
    assert.deepEqual(feed(j, ['select *', 'from t;', 'x;']), ['select *\nfrom t;', 'x;']);
  });

  it('a group over --multiline-max-lines is cut into several events, nothing dropped', () => {
    const j = new MultilineJoiner({ pattern: /^\s/, negate: false, match: 'after', maxLines: 3 });
    assert.deepEqual(feed(j, ['a', ' 1', ' 2', ' 3', ' 4', 'b']), ['a\n 1\n 2', ' 3\n 4', 'b']);
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
});

describe('progress bar', () => {
  it('shows bytes read of total and events per second', () => {
    const s = renderProgress({ bytesRead: 512 * 1024, bytesTotal: 1024 * 1024, published: 10 }, 1234.4, 10);
    assert.equal(s, '[#####-----]  50% 512.0 KiB/1.0 MiB 1234 events/s');
  });
});
