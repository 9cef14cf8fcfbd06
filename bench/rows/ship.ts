/** The ship rows: 1 event/message against the bare publish, 100 events/message, and what each message property costs. */
import path from 'node:path';
import { row, writeCorpus } from '../lib.js';
import { alternatingRounds, record, roundsNote, roundsWanted, scaled } from '../report.js';
import { TMP, baselinePublish, cappedTopology, drop, shipRun } from '../steps.js';

/**
 * The ratio is taken against raw amqplib doing the bare confirmed publish of
 * the same events (persistent, mandatory, content_type, message_id): what the
 * wire format v1 asks of the broker, and nothing logship could leave out;
 * in alternating rounds (BENCH_ROUNDS, default 3), the median round standing
 * for the row.
 */
export async function benchShipSingle(): Promise<void> {
  const events = scaled(200_000);
  const file = path.join(TMP, 'ship1.log');
  writeCorpus(file, events);
  const n = await cappedTopology('ship1');
  try {
    const { median, rounds } = await alternatingRounds(
      roundsWanted(),
      async () => {
        await cappedTopology('ship1', n);
        return baselinePublish(n, file, events, 'bare');
      },
      async () => {
        await cappedTopology('ship1', n);
        const s = await shipRun(n, file, events, []);
        return row('1 ship, 1 event/message', 'logship ship', events, s.seconds, s.peakRss);
      },
    );
    record(median.base);
    const r = median.logship;
    record(r, { text: 'ratio >= 0.95', pass: (r.ratio ?? 0) >= 0.95 }, roundsNote(rounds));
  } finally {
    await drop(n);
  }
}

/**
 * What each message property costs the broker: the raw publisher with one
 * property added at a time, in alternating rounds (BENCH_ROUNDS, default 2),
 * so that the noise of a shared machine spreads over all of them.
 */
export async function benchShipProperties(): Promise<void> {
  const events = scaled(100_000);
  const rounds = roundsWanted(2);
  const file = path.join(TMP, 'props.log');
  writeCorpus(file, events);
  const sets = ['--no-mandatory', 'bare', '--with=content_encoding', '--with=timestamp', '--with=app_id', 'previous'];
  const n = await cappedTopology('props');
  const rates = new Map<string, number[]>(sets.map((x) => [x, []]));
  try {
    for (let i = 0; i < rounds; i++) {
      for (const props of sets) {
        await cappedTopology('props', n);
        const r = await baselinePublish(n, file, events, props, `0 properties, round ${i + 1}`);
        rates.get(props)!.push(r.eventsPerSecond);
        record(r);
      }
    }
  } finally {
    await drop(n);
  }
  for (const [props, list] of rates) process.stdout.write(`    ${props}: ${list.join(' / ')} msg/s\n`);
}

export async function benchShipBatched(): Promise<void> {
  const events = scaled(1_000_000);
  const file = path.join(TMP, 'ship100.log');
  writeCorpus(file, events);
  const n = await cappedTopology('ship100');
  try {
    const s = await shipRun(n, file, events, ['--events-per-message', '100']);
    const r = row('2 ship, 100 events/message', 'logship ship', events, s.seconds, s.peakRss);
    record(r, { text: '>= 400k events/s', pass: r.eventsPerSecond >= 400_000 });
    // the target is checked at the defaults; a larger confirm window trades memory for speed (docs/performance.md)
    await cappedTopology('ship100', n);
    const wide = await shipRun(n, file, events, ['--events-per-message', '100', '--max-inflight-bytes', '16mb']);
    record(row('2 ship, 100 events/message', 'logship ship --max-inflight-bytes 16mb', events, wide.seconds, wide.peakRss));
  } finally {
    await drop(n);
  }
}
