/**
 * The byte-level fast path (EventWriter, LineSplitter, slab-backed MessageEncoder)
 * must produce exactly what the string path (EventFactory.make) produces.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { eventId } from '@logship/common';
import { EventFactory, EventWriter, LineClamp, LineSplitter, MessageEncoder } from '@logship/shipper';

const scope = { hostName: 'web-01 "eu"', inputType: 'stdin', scope: 'run-1' };
const factory = new EventFactory({ ...scope, codec: 'plain' });
const writer = new EventWriter(scope);

/** the event the writer makes of `line`, with the timestamp blanked */
function written(line: Buffer, n: number, truncated = false): string | null {
  const out = Buffer.alloc(writer.maxBytes(line.length) + 8, 0xff);
  // a line in the middle of a larger buffer, at an odd offset
  const src = Buffer.concat([Buffer.from('xyz'), line, Buffer.from('\n')]);
  const end = writer.write(out, 3, src, 3, 3 + line.length, n, truncated);
  if (end < 0) return null;
  assert.ok(end <= 3 + writer.maxBytes(line.length), 'stays within maxBytes');
  return blankTime(out.toString('utf8', 3, end));
}

function expected(text: string, n: number, truncated = false): string {
  return blankTime(factory.make(text, n, truncated).json);
}

const blankTime = (json: string) => json.replace(/"@timestamp":"[^"]+"/, '"@timestamp":"T"');

describe('event writer (plain events from bytes)', () => {
  it('writes byte for byte what the string path writes', () => {
    const lines = [
      'plain ascii line',
      'a "quoted" value and a back\\slash',
      'tabs\tand\rcarriage\fform\bback',
      'controls \u0000\u0001\u001b\u001f and DEL \u007f',
      'unicode: Grüße, 日本語, emoji 😀 and U+2028 \u2028 U+2029 \u2029',
      '',
      'x',
      'ab"',
      '"""""""""',
      '\\\\\\\\',
      'é',
      'exactly4',
      'exactly8',
    ];
    for (const [i, text] of lines.entries()) {
      assert.equal(written(Buffer.from(text), i), expected(text, i), JSON.stringify(text));
      assert.equal(written(Buffer.from(text), i, true), expected(text, i, true), `${JSON.stringify(text)} truncated`);
    }
  });

  it('matches the string path on random valid UTF-8 lines', () => {
    const alphabet = ['a', 'Z', ' ', '"', '\\', '\t', '\u0000', '\u001f', '/', 'é', '€', '😀', '\u2028', '{', '}', '\u007f'];
    for (let k = 0; k < 2000; k++) {
      const len = k % 67;
      let text = '';
      for (let j = 0; j < len; j++) text += alphabet[(k * 31 + j * 7 + ((k * j) % 5)) % alphabet.length];
      assert.equal(written(Buffer.from(text), k * 4099), expected(text, k * 4099), JSON.stringify(text));
    }
  });

  it('gives invalid UTF-8 back to the string path (-1), which replaces it with U+FFFD', () => {
    for (const bad of [Buffer.from([0x61, 0xff, 0x62]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('abcd\xe9fgh', 'latin1')]) {
      assert.equal(written(bad, 1), null, bad.toString('hex'));
    }
    let rejected = 0;
    for (let k = 0; k < 500; k++) {
      const buf = Buffer.from(randomBytes(1 + (k % 40)).map((b) => (b === 0x0a ? 0x20 : b)));
      const got = written(buf, k);
      if (got === null) rejected++;
      else assert.equal(got, expected(buf.toString('utf8'), k));
    }
    assert.ok(rejected > 0);
  });

  it('file events: log.file.path and log.offset like the string path, offsets up to 2^53', () => {
    const fileScope = { hostName: 'h', inputType: 'file', scope: 'file-1', filePath: '/var/log/"odd" dir/app.log' };
    const fileFactory = new EventFactory({ ...fileScope, codec: 'plain' });
    const fileWriter = new EventWriter(fileScope);
    for (const n of [0, 7, 10, 99, 100, 12345, 2 ** 32, 2 ** 53 - 1]) {
      for (const truncated of [false, true]) {
        const line = Buffer.from(`line at ${n} "q"`);
        const out = Buffer.alloc(fileWriter.maxBytes(line.length));
        const end = fileWriter.write(out, 0, line, 0, line.length, n, truncated);
        assert.equal(blankTime(out.toString('utf8', 0, end)), blankTime(fileFactory.make(line.toString(), n, truncated).json));
      }
    }
  });

  it('makes the same ids as the string path, sequence numbers up to 2^53', () => {
    for (const n of [0, 1, 15, 16, 255, 2 ** 32, 2 ** 53 - 1]) {
      assert.equal(writer.id(n), factory.id(n));
      assert.match(written(Buffer.from('m'), n)!, new RegExp(`"id":"${factory.id(n)}"`));
    }
  });
});

/** splits `input` cut into chunks of `size` through LineClamp + LineSplitter */
async function splitLines(input: Buffer, size: number, maxLineBytes = 1024, onLine?: () => Promise<void> | undefined): Promise<string[]> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += size) chunks.push(input.subarray(i, i + size));
  const got: string[] = [];
  const clamp = new LineClamp(maxLineBytes);
  const splitter = new LineSplitter((buf, start, end, index) => {
    assert.equal(index, got.length);
    got.push(buf.toString('utf8', start, end));
    return onLine?.();
  });
  await pipeline(Readable.from(chunks), clamp, splitter);
  return got;
}

describe('line splitter (lines from bytes)', () => {
  it('splits like the string path whatever the chunking: CR stripped, empty lines kept, last line without newline', async () => {
    const input = Buffer.from('a\r\nbb\n\nccc\r\n\u00e9t\u00e9 \u{1F600}\nlast');
    for (const size of [1, 2, 3, 5, 64]) {
      assert.deepEqual(await splitLines(input, size), ['a', 'bb', '', 'ccc', 'été 😀', 'last'], `chunks of ${size}`);
    }
    assert.deepEqual(await splitLines(Buffer.from('one\ntwo\n'), 3), ['one', 'two'], 'no empty line after a final newline');
  });

  it('waits for the promise onLine returns before the next line (backpressure)', async () => {
    let pending = 0;
    const got = await splitLines(Buffer.from('1\n2\n3\n4\n5'), 4, 1024, () => {
      assert.equal(pending, 0, 'the previous wait finished');
      pending++;
      return new Promise<void>((r) =>
        setTimeout(() => {
          pending--;
          r();
        }, 2),
      );
    });
    assert.deepEqual(got, ['1', '2', '3', '4', '5']);
  });

  it('stops at once when destroyed from onLine', async () => {
    const got: string[] = [];
    const splitter = new LineSplitter((buf, s, e) => {
      got.push(buf.toString('utf8', s, e));
      if (got.length === 2) splitter.destroy();
      return undefined;
    });
    // how the pipeline settles after a destroy without error is up to node; no line may follow
    await pipeline(Readable.from([Buffer.from('a\nb\nc\nd\n')]), splitter).catch(() => undefined);
    assert.deepEqual(got, ['a', 'b']);
  });
});

describe('message encoder (slabs)', () => {
  it('packs bytes and strings into NDJSON bodies that stay intact after the slab moves on', () => {
    const enc = new MessageEncoder<number>(3);
    const bodies: Buffer[] = [];
    const copies: string[] = [];
    const line = Buffer.from('x'.repeat(3000));
    for (let n = 0; n < 3000; n++) {
      const msg = n % 2 === 0 ? enc.addLine(writer, line, 0, line.length, n, false, n) : enc.add(factory.make('s"tr', n, false), n);
      assert.notEqual(msg, null);
      if (msg) {
        bodies.push(msg.body);
        copies.push(msg.body.toString());
        assert.deepEqual(msg.meta, [n - 2, n - 1, n]);
        assert.equal(msg.properties.contentType, 'application/x-ndjson');
        assert.equal(msg.messageId, eventId('batch', factory.id(n - 2), factory.id(n), 3));
      }
    }
    assert.equal(bodies.length, 1000);
    // more than a slab's worth was written: earlier bodies were not overwritten
    bodies.forEach((b, i) => {
      assert.equal(b.toString(), copies[i]);
    });
    for (const b of bodies) {
      const events = b
        .toString()
        .split('\n')
        .map((l) => JSON.parse(l) as { message: string });
      assert.equal(events.length, 3);
    }
  });

  it('a slab is reused only once every message in it is released, never while one still waits for its confirm', () => {
    const enc = new MessageEncoder<undefined>(1);
    const line = Buffer.from('y'.repeat(20_000));
    let n = 0;
    const add = () => enc.addLine(writer, line, 0, line.length, n++, false)!;
    const msgs = Array.from({ length: 150 }, add);
    const first = msgs[0]!.body.buffer;
    const inFirst = msgs.filter((m) => m.body.buffer === first);
    assert.ok(inFirst.length > 1 && inFirst.length < msgs.length, 'the messages fill more than one slab');
    const waiting = inFirst[0]!;
    const copy = Buffer.from(waiting.body);
    for (const m of inFirst.slice(1)) m.release!();
    assert.equal(enc.pooledSlabs, 0, 'one message still reads the first slab');
    for (let i = 0; i < 150; i++) assert.notEqual(add().body.buffer, first, 'a slab a waiting message reads is never written again');
    assert.ok(waiting.body.equals(copy));
    waiting.release!();
    waiting.release!(); // a second call changes nothing
    assert.equal(enc.pooledSlabs, 1);
    let reused = false;
    for (let i = 0; i < 150 && !reused; i++) reused = add().body.buffer === first;
    assert.ok(reused, 'the released slab holds the next bodies');
    assert.equal(enc.pooledSlabs, 0);
  });

  it("mergeMeta folds an event's meta into the previous one of the same message, never across messages", () => {
    const merges: Array<[number, number]> = [];
    // folds only an odd meta: 1 into 0, 5 into 4 (3 starts the second message, 2 and 4 are kept)
    const enc = new MessageEncoder<number>(3, (prev, next) => {
      merges.push([prev, next]);
      return next % 2 === 1;
    });
    const line = Buffer.from('z');
    const metas: number[][] = [];
    for (let n = 0; n < 6; n++) {
      const msg = enc.addLine(writer, line, 0, 1, n, false, n);
      if (msg) metas.push(msg.meta!);
    }
    assert.deepEqual(metas, [
      [0, 2],
      [3, 4],
    ]);
    assert.deepEqual(merges, [
      [0, 1],
      [0, 2],
      [3, 4],
      [4, 5],
    ]);
  });

  it('one event per message: the message id is the event id, content type JSON', () => {
    const enc = new MessageEncoder<undefined>(1);
    const line = Buffer.from('hello');
    const msg = enc.addLine(writer, line, 0, line.length, 42, false);
    assert.ok(msg);
    assert.equal(msg.messageId, factory.id(42));
    assert.equal(msg.properties.contentType, 'application/json');
    assert.equal(blankTime(msg.body.toString()), expected('hello', 42));
  });

  it('a line with invalid UTF-8 adds nothing and returns null', () => {
    const enc = new MessageEncoder<undefined>(2);
    const first = Buffer.from('ok');
    assert.equal(enc.addLine(writer, first, 0, 2, 0, false), undefined);
    const bad = Buffer.from([0x61, 0xff]);
    assert.equal(enc.addLine(writer, bad, 0, 2, 1, false), null);
    assert.equal(enc.size, 1);
    const msg = enc.add(factory.make(bad.toString(), 1, false));
    assert.ok(msg);
    const [a, b] = msg.body
      .toString()
      .split('\n')
      .map((l) => JSON.parse(l) as { message: string });
    assert.equal(a!.message, 'ok');
    assert.equal(b!.message, 'a\ufffd');
  });

  it('grows past the slab for one huge event and keeps working', () => {
    const enc = new MessageEncoder<undefined>(2);
    const huge = Buffer.alloc(3 * 1024 * 1024, '"');
    assert.equal(enc.addLine(writer, huge, 0, huge.length, 0, false), undefined);
    const msg = enc.addLine(writer, Buffer.from('small'), 0, 5, 1, false);
    assert.ok(msg);
    const [a, b] = msg.body
      .toString()
      .split('\n')
      .map((l) => JSON.parse(l) as { message: string });
    assert.equal(a!.message.length, huge.length);
    assert.equal(b!.message, 'small');
  });
});
