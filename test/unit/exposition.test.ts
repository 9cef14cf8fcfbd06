import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { parseExposition, renderFamilies } from '../../packages/cli/src/monitor/exposition.js';
import { aggregate, type TargetScrape } from '../../packages/cli/src/monitor/scrape.js';

describe('Prometheus exposition parsing (monitor)', () => {
  it('reads families, labels with escapes, histograms and special values in any case', () => {
    const text = [
      '# HELP a_total A counter',
      '# TYPE a_total counter',
      'a_total{path="/x\\"y",k="line\\nbreak"} 3',
      '# TYPE lag gauge',
      'lag Nan',
      'lag2 NaN',
      '# TYPE h histogram',
      'h_bucket{le="0.1"} 1',
      'h_bucket{le="+Inf"} 2',
      'h_sum 0.3',
      'h_count 2',
      'big +Inf',
      'small -inf 1700000000000',
    ].join('\n');
    const fams = parseExposition(text);
    const a = fams.find((f) => f.name === 'a_total')!;
    assert.equal(a.type, 'counter');
    assert.deepEqual(a.samples[0]!.labels, { path: '/x"y', k: 'line\nbreak' });
    assert.ok(Number.isNaN(fams.find((f) => f.name === 'lag')!.samples[0]!.value), 'prom-client writes Nan');
    assert.equal(fams.find((f) => f.name === 'h')!.samples.length, 4);
    assert.equal(fams.find((f) => f.name === 'big')!.samples[0]!.value, Infinity);
    assert.equal(fams.find((f) => f.name === 'small')!.samples[0]!.value, -Infinity);
    assert.throws(() => parseExposition('x banana'), /bad sample/);
    const round = parseExposition(renderFamilies(fams));
    assert.deepEqual(round.find((f) => f.name === 'a_total')!.samples[0]!.labels, a.samples[0]!.labels);
  });
});

describe('monitor exposition of targets that export anything', () => {
  const promtool = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).status === 0;
  const target = (instance: string, text: string): TargetScrape => ({
    target: { instance, metricsUrl: `http://${instance}/metrics`, healthUrl: `http://${instance}/health` },
    up: true,
    error: null,
    durationMs: 3,
    families: parseExposition(text),
  });
  const a = target(
    'a:9198',
    [
      '# HELP up A target that exports up itself',
      '# TYPE up gauge',
      'up 1',
      '# HELP logship_queue_messages_ready Its own idea of the queue',
      '# TYPE logship_queue_messages_ready gauge',
      'logship_queue_messages_ready{queue="x"} 7',
      '# HELP logship_cluster_events_total A name the monitor keeps for its totals',
      '# TYPE logship_cluster_events_total counter',
      'logship_cluster_events_total 1',
      '# HELP req_duration_seconds Request duration',
      '# TYPE req_duration_seconds histogram',
      'req_duration_seconds_bucket{le="0.1"} 1',
      'req_duration_seconds_bucket{le="+Inf"} 2',
      'req_duration_seconds_sum 0.3',
      'req_duration_seconds_count 2',
      '# HELP mixed Counter here',
      '# TYPE mixed counter',
      'mixed 5',
      '# HELP shape A histogram here',
      '# TYPE shape histogram',
      'shape_bucket{le="+Inf"} 1',
      'shape_sum 1',
      'shape_count 1',
      '# HELP logship_indexer_events_in_total Events in',
      '# TYPE logship_indexer_events_in_total counter',
      'logship_indexer_events_in_total{instance="inner"} 10',
      'no_help_at_all 3',
      '# HELP fooBar camelCase name',
      '# TYPE fooBar gauge',
      'fooBar 1',
    ].join('\n'),
  );
  const b = target(
    'b:9198',
    [
      '# HELP mixed Gauge there',
      '# TYPE mixed gauge',
      'mixed 2',
      '# HELP shape A gauge there',
      '# TYPE shape gauge',
      'shape 4',
      '# HELP req_duration_seconds_count A gauge whose name a histogram owns',
      '# TYPE req_duration_seconds_count gauge',
      'req_duration_seconds_count 9',
      '# HELP logship_indexer_events_in_total Events in',
      '# TYPE logship_indexer_events_in_total counter',
      'logship_indexer_events_in_total 5',
    ].join('\n'),
  );
  const queue = { queue: 'q', deadLetterQueue: 'q.dead', ready: 3, consumers: 2, deadLetters: 1, error: null };
  const text = renderFamilies(aggregate([a, b], queue));

  it('monitor output has each family once whatever the targets export (up, logship_queue_*, conflicting types)', () => {
    const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]!);
    assert.deepEqual(
      types.filter((t, i) => types.indexOf(t) !== i),
      [],
      `duplicate TYPE lines in:\n${text}`,
    );
    const helps = [...text.matchAll(/^# HELP (\S+) /gm)].map((m) => m[1]!);
    assert.deepEqual(helps, types, 'one HELP per TYPE');
    const fams = new Map(parseExposition(text).map((f) => [f.name, f]));
    // the monitor's own families keep their meaning; the targets' are renamed
    assert.deepEqual(
      fams.get('up')!.samples.map((s) => s.labels.instance),
      ['a:9198', 'b:9198'],
    );
    assert.equal(fams.get('exported_up')!.samples[0]!.value, 1);
    assert.deepEqual(fams.get('logship_queue_messages_ready')!.samples, [{ name: 'logship_queue_messages_ready', labels: { queue: 'q' }, value: 3 }]);
    assert.equal(fams.get('exported_logship_queue_messages_ready')!.samples[0]!.value, 7);
    assert.ok(fams.has('exported_logship_cluster_events_total'));
    // counter on one target, gauge on the other: one untyped family with both
    assert.equal(fams.get('mixed')!.type, 'untyped');
    assert.equal(fams.get('mixed')!.samples.length, 2);
    // histogram on one, gauge on the other: the first stays, the other is left out and counted
    assert.equal(fams.get('shape')!.type, 'histogram');
    assert.equal(fams.get('req_duration_seconds')!.samples.length, 4);
    assert.ok(!fams.has('req_duration_seconds_count'), 'a family may not take a name a histogram owns');
    assert.ok(!fams.has('fooBar'), 'a name promtool rejects is left out');
    const dropped = fams.get('logship_monitor_dropped_families')!.samples.map((s) => `${s.labels.instance} ${s.labels.reason} ${s.value}`);
    assert.deepEqual(dropped.sort(), ['a:9198 lint 1', 'b:9198 name_conflict 1', 'b:9198 type_conflict 1']);
    assert.match(fams.get('no_help_at_all')!.help, /no HELP/);
    assert.deepEqual(
      fams.get('logship_indexer_events_in_total')!.samples.map((s) => s.labels),
      [{ instance: 'a:9198', exported_instance: 'inner' }, { instance: 'b:9198' }],
    );
    assert.equal(fams.get('logship_cluster_indexer_events_in_total')!.samples.length, 2, 'grouped by the other labels');
  });

  it('monitor output passes promtool check metrics whatever the targets export', { skip: !promtool && 'promtool is not installed' }, () => {
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}\n${text}`);
  });
});
