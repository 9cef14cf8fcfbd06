import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { LineClamp, LineSplitter, utf8Boundary } from '@logship/shipper';

interface Line {
  index: number;
  text: string;
  truncated: boolean;
  bytes: number;
  terminated: boolean;
}

/** lines as the inputs see them: LineClamp (recording every line) in front of LineSplitter */
async function lines(input: Buffer | Buffer[], maxLineBytes = 64): Promise<Line[]> {
  const chunks = Array.isArray(input) ? input : [input];
  const out: Line[] = [];
  const clamp = new LineClamp(maxLineBytes, true);
  const splitter = new LineSplitter((buf, start, end, index) => {
    const meta = clamp.takeMeta(index)!;
    out.push({ index, text: buf.toString('utf8', start, end), truncated: meta.truncated, bytes: meta.bytes, terminated: meta.terminated });
    return undefined;
  });
  await pipeline(Readable.from(chunks), clamp, splitter);
  return out;
}

/** the same bytes, cut into chunks of `size` */
function chunked(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

describe('line source', () => {
  it('splits lines, strips a trailing CR and keeps empty lines for counting', async () => {
    const got = await lines(Buffer.from('a\r\nb\n\nc'));
    assert.deepEqual(
      got.map((l) => l.text),
      ['a', 'b', '', 'c'],
    );
    assert.deepEqual(
      got.map((l) => l.index),
      [0, 1, 2, 3],
    );
    assert.deepEqual(
      got.map((l) => l.bytes),
      [2, 1, 0, 1],
    );
  });

  it('truncates an over-long line to maxLineBytes and tags it, whatever the chunking', async () => {
    const input = Buffer.concat([Buffer.from('short\n'), Buffer.alloc(1000, 'x'), Buffer.from('\nafter\n')]);
    for (const size of [1, 7, 64, 4096]) {
      const got = await lines(chunked(input, size), 64);
      assert.equal(got.length, 3, `chunk size ${size}`);
      assert.equal(got[1]!.text, 'x'.repeat(64));
      assert.equal(got[1]!.truncated, true);
      assert.equal(got[1]!.bytes, 1000);
      assert.equal(got[0]!.truncated, false);
      assert.equal(got[2]!.text, 'after');
    }
  });

  it('never splits a UTF-8 character when truncating', async () => {
    const line = Buffer.from('é'.repeat(40)); // 80 bytes, 2 per char
    const got = await lines(Buffer.concat([line, Buffer.from('\n')]), 63);
    assert.equal(got[0]!.text, 'é'.repeat(31));
    assert.equal(got[0]!.truncated, true);
    assert.equal(utf8Boundary(Buffer.from('aé'), 2), 1);
  });

  it('never splits a UTF-8 character that arrives split across two chunks', async () => {
    // "a€": the euro sign's 3 bytes arrive in two chunks; the limit of 3 falls inside it
    const got = await lines([Buffer.from([0x61, 0xe2]), Buffer.from([0x82, 0xac, 0x0a])], 3);
    assert.deepEqual(got[0]!.text, 'a');
    assert.equal(got[0]!.truncated, true);
    assert.equal(got[0]!.bytes, 4);
    const whole = await lines([Buffer.from([0x61, 0xe2]), Buffer.from([0x82]), Buffer.from([0xac, 0x0a])], 64);
    assert.equal(whole[0]!.text, 'a€');
  });

  it('a limit smaller than the first character still ships a non-empty line (never an empty, skipped one)', async () => {
    const got = await lines(Buffer.from('€uro\n€'), 1);
    assert.equal(got.length, 2);
    for (const l of got) {
      assert.equal(l.truncated, true);
      assert.notEqual(l.text, '');
    }
  });

  it('keeps NUL bytes and invalid UTF-8 as they are (the event writer decides)', async () => {
    const got = await lines(Buffer.from([0x61, 0x00, 0x62, 0x0a, 0xff, 0xfe, 0x63, 0x0a]));
    assert.equal(got[0]!.text, 'a\u0000b');
    assert.equal(got[1]!.bytes, 3);
  });

  it('emits a last line without newline, marked as not terminated', async () => {
    const got = await lines(Buffer.from('one\ntwo'));
    assert.deepEqual(
      got.map((l) => [l.text, l.terminated]),
      [
        ['one', true],
        ['two', false],
      ],
    );
  });

  it('bounds memory on a 5 MB line with the default chunking', async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 'y');
    const got = await lines([...chunked(big, 65536), Buffer.from('\nz\n')], 1024 * 1024);
    assert.equal(got.length, 2);
    assert.equal(got[0]!.text.length, 1024 * 1024);
    assert.equal(got[0]!.truncated, true);
    assert.equal(got[1]!.text, 'z');
  });
});
