/**
 * Properties of the line splitter (LineClamp in front of LineSplitter, as every
 * input uses it) on random bytes cut at random chunk boundaries: CR, LF, NUL,
 * invalid UTF-8, lines of any size.
 *
 *   - on valid UTF-8 it agrees with split2 (the design card's line splitter):
 *     the same lines, empty ones included, a trailing \r removed, a last line
 *     without newline handed over when it is not empty (LineSplitter also removes
 *     a \r at the very end, which split2 keeps);
 *   - on any bytes and chunking, with any --max-line-bytes: one line per
 *     newline (plus the last one), each with its length in the input;
 *     truncated exactly when longer than the limit; a kept part of at most
 *     the limit that is a prefix of the line and never splits a character
 *     (unless the limit is smaller than the first character).
 *
 * A failure prints fast-check's seed and path; LOGSHIP_TEST_SEED=<seed> replays it.
 */
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { LineClamp, LineSplitter } from '@logship/shipper';
import fc from 'fast-check';
import split2 from 'split2';

const SEED = process.env.LOGSHIP_TEST_SEED ? Number(process.env.LOGSHIP_TEST_SEED) : undefined;

interface Line {
  bytes: Buffer;
  inputBytes: number;
  truncated: boolean;
  terminated: boolean;
}

/** cuts `buf` at the given fractions into chunks (empty ones too) */
function chunk(buf: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * (buf.length + 1))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of at) {
    const q = Math.min(p, buf.length);
    out.push(buf.subarray(prev, Math.max(prev, q)));
    prev = Math.max(prev, q);
  }
  out.push(buf.subarray(prev));
  return out;
}

async function viaSplitter(chunks: Buffer[], maxLineBytes: number): Promise<Line[]> {
  const out: Line[] = [];
  const clamp = new LineClamp(maxLineBytes, true);
  const splitter = new LineSplitter((buf, start, end, index) => {
    const meta = clamp.takeMeta(index);
    assert.ok(meta, `metadata of line ${index}`);
    out.push({ bytes: Buffer.from(buf.subarray(start, end)), inputBytes: meta.bytes, truncated: meta.truncated, terminated: meta.terminated });
    return undefined;
  });
  await pipeline(Readable.from(chunks, { objectMode: false }), clamp, splitter);
  return out;
}

async function viaSplit2(chunks: Buffer[]): Promise<string[]> {
  const out: string[] = [];
  const s = split2();
  s.on('data', (l: string) => out.push(l));
  await pipeline(Readable.from(chunks, { objectMode: false }), s);
  return out;
}

const CR = 0x0d;
const firstCharBytes = (b: Buffer) => (b[0]! < 0x80 ? 1 : b[0]! < 0xe0 ? 2 : b[0]! < 0xf0 ? 3 : 4);
const stripCr = (b: Buffer) => (b.length > 0 && b[b.length - 1] === CR ? b.subarray(0, b.length - 1) : b);

/** bytes rich in what matters: LF, CR, NUL, multi-byte characters and broken ones */
const anyBytes = fc
  .array(
    fc.oneof(
      { weight: 6, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 8 }).map((a) => Buffer.from(a)) },
      { weight: 3, arbitrary: fc.constantFrom('\n', '\r\n', '\r', '\n\n', '\0').map((s) => Buffer.from(s)) },
      { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }).map((s) => Buffer.from(s)) },
      { weight: 1, arbitrary: fc.constantFrom([0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0x80], [0xff]).map((a) => Buffer.from(a)) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }).map((n) => Buffer.alloc(n, 'x')) },
    ),
    { maxLength: 40 },
  )
  .map((parts) => Buffer.concat(parts));
const validUtf8 = fc
  .array(
    fc.oneof(
      { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 10 }) },
      { weight: 2, arbitrary: fc.constantFrom('\n', '\r\n', '\r', '\n\n', '', 'é', '€', '😀', '\u2028') },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 2000 }).map((n) => 'y'.repeat(n)) },
    ),
    { maxLength: 40 },
  )
  .map((parts) => Buffer.from(parts.join('')));
const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });

describe('line splitter (property)', () => {
  it('agrees with split2 on valid UTF-8, whatever the chunk boundaries', async () => {
    await fc.assert(
      fc.asyncProperty(validUtf8, cuts, async (input, at) => {
        const chunks = chunk(input, at);
        assert.equal(Buffer.concat(chunks).length, input.length);
        const got = (await viaSplitter(chunks, 1024 * 1024)).map((l) => l.bytes.toString('utf8'));
        const want = await viaSplit2(chunks);
        // LineSplitter removes a \r at the very end too (a last line without newline); split2 keeps it
        if (input.length > 0 && input[input.length - 1] !== 0x0a && want.length > 0) want[want.length - 1] = want[want.length - 1]!.replace(/\r$/, '');
        assert.deepEqual(got, want);
      }),
      { seed: SEED, numRuns: 400 },
    );
  });

  it('any bytes, any chunking, any limit: one line per newline, truncated exactly when longer, never a split character', async () => {
    await fc.assert(
      fc.asyncProperty(anyBytes, cuts, fc.integer({ min: 1, max: 64 }), async (input, at, max) => {
        const got = await viaSplitter(chunk(input, at), max);
        const raw: Buffer[] = [];
        let start = 0;
        for (let nl = input.indexOf(0x0a); nl !== -1; nl = input.indexOf(0x0a, start)) {
          raw.push(input.subarray(start, nl));
          start = nl + 1;
        }
        const last = input.subarray(start);
        if (last.length > 0) raw.push(last);
        assert.equal(got.length, raw.length, 'one line per newline, plus a non-empty last one');
        for (const [i, line] of got.entries()) {
          const orig = raw[i]!;
          assert.equal(line.inputBytes, orig.length, `line ${i}: length in the input`);
          assert.equal(line.terminated, i < raw.length - 1 || last.length === 0, `line ${i}: terminated`);
          assert.equal(line.truncated, orig.length > max, `line ${i}: truncated exactly when longer than ${max}`);
          assert.ok(line.bytes.length <= max, `line ${i}: at most ${max} bytes`);
          if (!line.truncated) {
            assert.deepEqual(line.bytes, stripCr(orig), `line ${i}: whole`);
            continue;
          }
          // a prefix of the line, cut back at most 3 bytes so as not to split a character
          const kept = line.bytes;
          const cut = orig.subarray(0, max);
          assert.ok(cut.subarray(0, kept.length).equals(kept), `line ${i}: a prefix`);
          assert.ok(max - kept.length <= 4, `line ${i}: cut close to the limit`);
          // (only a limit smaller than the first character cuts into it: a non-empty line never becomes empty)
          if (isUtf8(orig) && firstCharBytes(orig) <= max) assert.ok(isUtf8(kept), `line ${i}: no split character`);
        }
      }),
      { seed: SEED, numRuns: 600 },
    );
  });
});
