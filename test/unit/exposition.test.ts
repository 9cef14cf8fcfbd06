import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseExposition, renderFamilies } from '../../packages/cli/src/monitor/exposition.js';

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
