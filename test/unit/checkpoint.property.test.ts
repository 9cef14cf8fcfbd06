/**
 * File checkpoints with several events per message (ShipSession's mergeMeta
 * as file inputs use it: consecutive lines of one file in one message keep one
 * mark). On random files — lines of two files interleaved, some lines skipped
 * (empty), some not valid UTF-8 (the string path, as file inputs fall back to
 * it) — packed N per message and settled by the broker in any order, a
 * file's confirmed offset is always the end of the longest run of its lines,
 * from the start, that are all skipped or in settled messages: never past a
 * line still waiting, never behind one that is settled with all before it.
 *
 * A failure prints fast-check's seed and path; LOGSHIP_TEST_SEED=<seed> replays it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfirmedOffset, EventFactory, EventWriter, MessageEncoder, mergeFileMeta, type FileMeta } from '@logship/shipper';
import fc from 'fast-check';

const SEED = process.env.LOGSHIP_TEST_SEED ? Number(process.env.LOGSHIP_TEST_SEED) : undefined;

interface Line {
  file: 'a' | 'b';
  end: number;
  skipped: boolean;
  /** the message that carries it (index into messages), once flushed */
  message?: number;
}

describe('file checkpoints (property)', () => {
  it('with N events per message and merged marks, settled in any order, the confirmed offset is the end of the settled prefix', () => {
    const scope = { hostName: 'h', inputType: 'file', scope: 'run' };
    const writer = new EventWriter(scope);
    const factory = new EventFactory({ ...scope, codec: 'plain' });
    let merged = false;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            file: fc.constantFrom<'a' | 'b'>('a', 'b'),
            len: fc.integer({ min: 0, max: 40 }),
            skipped: fc.boolean(),
            invalidUtf8: fc.boolean(),
          }),
          {
            minLength: 1,
            maxLength: 60,
          },
        ),
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.nat(), { minLength: 60, maxLength: 60 }),
        (input, perMessage, order) => {
          const trackers = new Map([
            ['a', new ConfirmedOffset(0)],
            ['b', new ConfirmedOffset(0)],
          ]);
          const enc = new MessageEncoder<FileMeta>(perMessage, mergeFileMeta(trackers));
          const pos = { a: 0, b: 0 };
          const lines: Line[] = [];
          const messages: FileMeta[][] = [];
          const pending: number[] = [];
          const take = (msg: ReturnType<MessageEncoder<FileMeta>['add']>) => {
            if (!msg) return;
            for (const l of lines) if (!l.skipped && l.message === undefined) l.message = messages.length;
            if (msg.meta!.length < msg.events) merged = true;
            pending.push(messages.length);
            messages.push(msg.meta!);
          };
          for (const [i, x] of input.entries()) {
            const tracker = trackers.get(x.file)!;
            pos[x.file] += x.len + 1;
            const end = pos[x.file];
            lines.push({ file: x.file, end, skipped: x.skipped });
            if (x.skipped) {
              tracker.skip(end);
              continue;
            }
            const line = Buffer.alloc(x.len + 1, 0x61);
            if (x.invalidUtf8) line[x.len] = 0xff;
            const meta = { fileId: x.file, mark: tracker.track(end) };
            const msg = enc.addLine(writer, line, 0, line.length, i, false, meta);
            assert.equal(msg === null, x.invalidUtf8, 'only a line that is not valid UTF-8 goes to the string path');
            take(msg === null ? enc.add(factory.make(line.toString('utf8'), i, false), meta) : msg);
          }
          take(enc.flush());
          const settled = new Set<number>();
          const expected = (file: 'a' | 'b') => {
            let end = 0;
            for (const l of lines) {
              if (l.file !== file) continue;
              if (!l.skipped && !settled.has(l.message!)) break;
              end = l.end;
            }
            return end;
          };
          for (const [k, pick] of order.entries()) {
            if (pending.length === 0) break;
            const m = pending.splice(pick % pending.length, 1)[0]!;
            settled.add(m);
            for (const meta of messages[m]!) trackers.get(meta.fileId)!.confirm(meta.mark);
            for (const file of ['a', 'b'] as const) assert.equal(trackers.get(file)!.confirmed, expected(file), `${file} after ${k + 1} settles`);
          }
          assert.equal(pending.length, 0);
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
    assert.ok(merged, 'some message carried fewer marks than events');
  });
});
