/**
 * The bench's ratio rows (bench/report.ts): the baseline and logship take
 * turns going first, each round's ratio is logship's over the baseline of
 * the same round, and the median round stands for the row.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Row } from '../../bench/lib.js';
import { alternatingRounds, medianRun, roundsNote, roundsWanted } from '../../bench/report.js';

function rowOf(variant: string, eventsPerSecond: number): Row {
  return { benchmark: 'b', variant, events: 1000, seconds: 1000 / eventsPerSecond, eventsPerSecond, ratio: null, peakRssMb: 1 };
}

/** a run per call, from a list of events/s, remembering the order of the calls */
function runs(order: string[], name: string, rates: number[]): () => Promise<Row> {
  let i = 0;
  return async () => {
    order.push(name);
    return rowOf(name, rates[i++]!);
  };
}

describe('the bench runs a ratio row in alternating rounds', () => {
  it('alternates who goes first, takes each ratio within its round, and the median round stands for the row', async () => {
    const order: string[] = [];
    const lines: string[] = [];
    const { median, rounds } = await alternatingRounds(3, runs(order, 'baseline', [100, 200, 120]), runs(order, 'logship', [120, 180, 114]), (line) =>
      lines.push(line),
    );
    assert.deepEqual(order, ['baseline', 'logship', 'logship', 'baseline', 'baseline', 'logship']);
    assert.deepEqual(
      rounds.map((r) => [r.base.eventsPerSecond, r.logship.eventsPerSecond, r.logship.ratio]),
      [
        [100, 120, 1.2],
        [200, 180, 0.9],
        [120, 114, 0.95],
      ],
    );
    // the median of 1.2, 0.9 and 0.95 is the third round's, with the baseline of that round
    assert.equal(median.logship.ratio, 0.95);
    assert.equal(median.logship.eventsPerSecond, 114);
    assert.equal(median.base.eventsPerSecond, 120);
    assert.equal(lines.length, 3);
    assert.match(lines[1]!, /round 2 of 3, logship first: baseline 200, logship 180 events\/s, ratio 0\.90/);
  });

  it("a row against an absolute target takes each side's median rate (the lower middle of an even count) and its highest peak RSS", () => {
    const peaks = [150, 190, 120, 160];
    const m = medianRun([95, 130, 105, 110].map((rate, i) => ({ ...rowOf('logship', rate), peakRssMb: peaks[i]! })));
    assert.equal(m.eventsPerSecond, 105);
    assert.equal(m.peakRssMb, 190);
    assert.equal(medianRun([rowOf('x', 3), rowOf('x', 1), rowOf('x', 2)]).eventsPerSecond, 2);
  });

  it('takes the lower middle round of an even count (the figure that favours logship less)', async () => {
    const { median, rounds } = await alternatingRounds(
      4,
      runs([], 'baseline', [100, 100, 100, 100]),
      runs([], 'logship', [95, 110, 105, 130]),
      () => undefined,
    );
    assert.deepEqual(
      rounds.map((r) => r.logship.ratio),
      [0.95, 1.1, 1.05, 1.3],
    );
    assert.equal(median.logship.ratio, 1.05);
  });

  it('says in the note every round it chose from; BENCH_ROUNDS must be a whole number of 1 or more', async () => {
    const { rounds } = await alternatingRounds(2, runs([], 'baseline', [100, 200]), runs([], 'logship', [94, 218]), () => undefined);
    assert.equal(roundsNote(rounds), 'median of 2 alternating rounds, baseline / logship events/s (ratio): 100 / 94 (0.94), 200 / 218 (1.09)');
    assert.equal(roundsNote(rounds.slice(0, 1)), 'one round, baseline / logship events/s (ratio): 100 / 94 (0.94)');
    const saved = process.env.BENCH_ROUNDS;
    try {
      delete process.env.BENCH_ROUNDS;
      assert.equal(roundsWanted(), 5);
      assert.equal(roundsWanted(2), 2);
      process.env.BENCH_ROUNDS = '3';
      assert.equal(roundsWanted(), 3);
      for (const bad of ['0', '2.5', 'three']) {
        process.env.BENCH_ROUNDS = bad;
        assert.throws(() => roundsWanted(), /BENCH_ROUNDS must be a whole number of 1 or more/);
      }
    } finally {
      if (saved === undefined) delete process.env.BENCH_ROUNDS;
      else process.env.BENCH_ROUNDS = saved;
    }
  });
});
